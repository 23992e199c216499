"""The chat triage model: intent and sentiment classifiers in ONNX, plus redaction, slots, replies and
escalation rules. `ChatModel.load(model_dir)` reads a version directory written by the training job.

Version directory layout (see training/chat):
    manifest.json                 {"version", "format_version", "intent": {...}, "sentiment": {...}}
    intent.onnx, intent_vectorizer.json
    sentiment.onnx, sentiment_vectorizer.json
    labels.json                   {"intent": [...], "sentiment": [...]}
    reply_templates.json          optional, laid over the default templates
    metrics.json, model_card.md   for people and for /v1/models
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import onnxruntime as ort

from shelfwise.chat.escalation import (
    NEGATIVE,
    EscalationPolicy,
    SessionState,
    advance_session,
    decide,
)
from shelfwise.chat.redact import redact
from shelfwise.chat.slots import extract_slots
from shelfwise.chat.templates import ReplyTemplates
from shelfwise.chat.text import Vectorizer
from shelfwise.chat.validation import validate_message

MANIFEST = "manifest.json"
TEMPLATES_FILE = "reply_templates.json"
TOP_INTENTS = 3
Terms = tuple[Counter[str], Counter[str]]


def _session_options() -> ort.SessionOptions:
    options = ort.SessionOptions()
    # One thread: a Lambda has little CPU per request and inter-op threads only add latency for tiny graphs.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


class TextClassifier:
    """One tf-idf → ONNX linear head → softmax classifier."""

    def __init__(self, vectorizer: Vectorizer, session: ort.InferenceSession, labels: list[str]) -> None:
        self.vectorizer = vectorizer
        self.session = session
        self.labels = labels
        self._uniform = np.full(len(labels), 1.0 / len(labels), dtype=np.float32)

    @classmethod
    def load(cls, model_dir: Path, entry: dict[str, str], labels: list[str]) -> TextClassifier:
        vectorizer = Vectorizer.load(model_dir / entry["vectorizer"])
        session = ort.InferenceSession(
            str(model_dir / entry["onnx"]), _session_options(), providers=["CPUExecutionProvider"]
        )
        return cls(vectorizer, session, labels)

    def probabilities(self, text: str, terms: Terms | None = None) -> np.ndarray:
        """`terms`, when given, must be `self.vectorizer.config.terms(text)` (shared between two models)."""
        if terms is None:
            ids, weights = self.vectorizer.transform(text)
        else:
            ids, weights = self.vectorizer.transform_terms(terms)
        if ids.size == 0:
            # Nothing the model knows (emoji only, an unseen script): the head would return the class
            # prior, which looks like a confident guess; a flat distribution says "no idea" honestly.
            return self._uniform
        (probabilities,) = self.session.run(None, {"ids": ids, "weights": weights})
        return probabilities

    def predict(self, text: str, terms: Terms | None = None) -> tuple[str, float, np.ndarray]:
        probabilities = self.probabilities(text, terms)
        best = int(np.argmax(probabilities))
        return self.labels[best], float(probabilities[best]), probabilities


@dataclass(frozen=True)
class TriageResult:
    intent: str
    confidence: float
    top_intents: list[tuple[str, float]]
    sentiment: dict[str, object]
    escalate: bool
    priority: str | None
    reasons: list[str]
    reply: str | None
    redacted_text: str
    model_version: str
    slots: dict[str, object] = field(default_factory=dict)
    session: SessionState = field(default_factory=SessionState)

    def as_dict(self) -> dict[str, object]:
        return {
            "intent": self.intent,
            "confidence": round(self.confidence, 4),
            "top_intents": [[intent, round(p, 4)] for intent, p in self.top_intents],
            "sentiment": self.sentiment,
            "escalate": self.escalate,
            "priority": self.priority,
            "reasons": self.reasons,
            "reply": self.reply,
            "redacted_text": self.redacted_text,
            "slots": self.slots,
            "model_version": self.model_version,
        }


class ChatModel:
    def __init__(
        self,
        *,
        version: str,
        intent: TextClassifier,
        sentiment: TextClassifier,
        templates: ReplyTemplates,
        policy: EscalationPolicy,
    ) -> None:
        self.version = version
        self.intent = intent
        self.sentiment = sentiment
        self.templates = templates
        self.policy = policy

    @classmethod
    def load(cls, model_dir: str | Path, *, policy: EscalationPolicy | None = None) -> ChatModel:
        directory = Path(model_dir)
        manifest = json.loads((directory / MANIFEST).read_text("utf-8"))
        labels = json.loads((directory / manifest.get("labels", "labels.json")).read_text("utf-8"))
        templates_path = directory / TEMPLATES_FILE
        templates = (
            ReplyTemplates.load(templates_path) if templates_path.exists() else ReplyTemplates.default()
        )
        return cls(
            version=str(manifest["version"]),
            intent=TextClassifier.load(directory, manifest["intent"], labels["intent"]),
            sentiment=TextClassifier.load(directory, manifest["sentiment"], labels["sentiment"]),
            templates=templates,
            policy=policy or EscalationPolicy(),
        )

    def triage(self, text: str, session_state: SessionState | None = None) -> TriageResult:
        validate_message(text)
        session = session_state or SessionState()
        redaction = redact(text)
        # The classifiers only ever see redacted text, so no PII reaches a model input or a log line.
        # Counting n-grams is most of the cost of a long message; both models usually share one config.
        config = self.intent.vectorizer.config
        shared = config == self.sentiment.vectorizer.config
        terms = config.terms(redaction.text) if shared else None
        intent, confidence, intent_probabilities = self.intent.predict(redaction.text, terms)
        sentiment = self.sentiment.predict(redaction.text, terms)
        sentiment_label, sentiment_score, sentiment_probabilities = sentiment
        negative_probability = (
            float(sentiment_probabilities[self.sentiment.labels.index(NEGATIVE)])
            if NEGATIVE in self.sentiment.labels
            else 0.0
        )
        order = np.argsort(-intent_probabilities)[:TOP_INTENTS]
        top = [(self.intent.labels[int(index)], float(intent_probabilities[index])) for index in order]
        session = advance_session(session, intent=intent, sentiment_label=sentiment_label, policy=self.policy)
        decision = decide(
            intent=intent,
            confidence=confidence,
            negative_probability=negative_probability,
            session=session,
            policy=self.policy,
        )
        slots = extract_slots(text, redaction).as_dict()
        if decision.escalate:
            session = replace(session, escalated=True)
            reply = self.templates.escalation_reply(slots)
        else:
            reply = self.templates.reply(intent, slots)
        return TriageResult(
            intent=intent,
            confidence=confidence,
            top_intents=top,
            sentiment={"label": sentiment_label, "score": round(sentiment_score, 4)},
            escalate=decision.escalate,
            priority=decision.priority,
            reasons=list(decision.reasons),
            reply=reply,
            redacted_text=redaction.text,
            model_version=self.version,
            slots=slots,
            session=session,
        )
