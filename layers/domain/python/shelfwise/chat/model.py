"""The chat triage model: intent and sentiment classifiers in ONNX, plus redaction, slots, replies and
escalation rules. `ChatModel.load(model_dir)` reads a version directory written by the training job.

Version directory layout (see training/chat):
    manifest.json                 {"version", "format_version", "intent": {...}, "sentiment": {...}}
    intent.onnx, intent_vectorizer.json
    sentiment.onnx, sentiment_vectorizer.json
    intent_embedding_head.onnx    optional, with "embedding_head" and "ngram_weight" in the manifest entry
    sentiment_embedding_head.onnx
    encoder/                      the sentence encoder the heads were trained on (see shelfwise.chat.encoder)
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

from shelfwise.chat.encoder import EmbeddingHead, SentenceEncoder, reads_as_english
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


class BlendedClassifier(TextClassifier):
    """The n-gram classifier averaged with a linear head on the sentence embedding:
    p = w * p_ngram + (1 - w) * p_head, w chosen by the training job on a validation split."""

    def __init__(
        self,
        vectorizer: Vectorizer,
        session: ort.InferenceSession,
        labels: list[str],
        head: EmbeddingHead,
        ngram_weight: float,
    ) -> None:
        super().__init__(vectorizer, session, labels)
        self.head = head
        self.ngram_weight = ngram_weight

    def blended(self, ngram: np.ndarray, embedding: np.ndarray) -> np.ndarray:
        return self.ngram_weight * ngram + (1.0 - self.ngram_weight) * self.head.probabilities(embedding)

    def predict_blended(
        self, text: str, embedding: np.ndarray, terms: Terms | None = None
    ) -> tuple[str, float, np.ndarray]:
        probabilities = self.blended(self.probabilities(text, terms), embedding)
        best = int(np.argmax(probabilities))
        return self.labels[best], float(probabilities[best]), probabilities


def _load_classifier(model_dir: Path, entry: dict[str, object], labels: list[str]) -> TextClassifier:
    plain = TextClassifier.load(model_dir, {key: str(value) for key, value in entry.items()}, labels)
    if not entry.get("embedding_head"):
        return plain
    head = EmbeddingHead(model_dir / str(entry["embedding_head"]))
    weight = float(entry["ngram_weight"])  # type: ignore[arg-type]
    return BlendedClassifier(plain.vectorizer, plain.session, labels, head, weight)


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
        encoder: SentenceEncoder | None = None,
    ) -> None:
        self.version = version
        self.intent = intent
        self.sentiment = sentiment
        self.templates = templates
        self.policy = policy
        self.encoder = encoder

    @classmethod
    def load(cls, model_dir: str | Path, *, policy: EscalationPolicy | None = None) -> ChatModel:
        directory = Path(model_dir)
        manifest = json.loads((directory / MANIFEST).read_text("utf-8"))
        labels = json.loads((directory / manifest.get("labels", "labels.json")).read_text("utf-8"))
        templates_path = directory / TEMPLATES_FILE
        templates = (
            ReplyTemplates.load(templates_path) if templates_path.exists() else ReplyTemplates.default()
        )
        encoder = SentenceEncoder(directory / manifest["encoder"]) if manifest.get("encoder") else None
        return cls(
            version=str(manifest["version"]),
            intent=_load_classifier(directory, manifest["intent"], labels["intent"]),
            sentiment=_load_classifier(directory, manifest["sentiment"], labels["sentiment"]),
            templates=templates,
            policy=policy or EscalationPolicy(),
            encoder=encoder,
        )

    def classify(self, redacted: str) -> tuple[tuple[str, float, np.ndarray], tuple[str, float, np.ndarray]]:
        """Intent and sentiment of redacted text: (label, probability, all probabilities) for each."""
        # Counting n-grams is most of the n-gram cost of a long message; both models usually share one config.
        config = self.intent.vectorizer.config
        shared = config == self.sentiment.vectorizer.config
        terms = config.terms(redacted) if shared else None
        blended = [model for model in (self.intent, self.sentiment) if isinstance(model, BlendedClassifier)]
        if self.encoder is None or not blended or not reads_as_english(redacted):
            # Chinese (and anything not mostly Latin letters) stays on the character n-gram models.
            return self.intent.predict(redacted, terms), self.sentiment.predict(redacted, terms)
        embedding = self.encoder.embed(redacted)  # one encoder pass serves both heads

        def predict(model: TextClassifier) -> tuple[str, float, np.ndarray]:
            if isinstance(model, BlendedClassifier):
                return model.predict_blended(redacted, embedding, terms)
            return model.predict(redacted, terms)

        return predict(self.intent), predict(self.sentiment)

    def triage(self, text: str, session_state: SessionState | None = None) -> TriageResult:
        validate_message(text)
        session = session_state or SessionState()
        redaction = redact(text)
        # The classifiers only ever see redacted text, so no PII reaches a model input or a log line.
        (intent, confidence, intent_probabilities), sentiment = self.classify(redaction.text)
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
