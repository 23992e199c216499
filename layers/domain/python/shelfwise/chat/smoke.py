"""Can this chat model version serve? The model registry asks before it promotes a version.

`smoke_test(directory)` loads the version exactly as the chat function does and triages an English and a
Chinese message; it raises `ChatSmokeTestFailed` with a reason a person can act on when the version cannot
load, has no labels, answers with probabilities that are not finite or do not sum to 1, or ships reply
templates (`reply_templates.json`) for intents the model does not have or with placeholders no slot fills.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from shelfwise.chat.model import TEMPLATES_FILE, ChatModel
from shelfwise.chat.templates import template_file_problems

SMOKE_MESSAGES = (
    "Hi, where is my order 123456? It has not arrived yet and I'm quite upset.",
    "你好，我的订单123456还没有到，太慢了，我很失望。",  # noqa: RUF001 (Chinese punctuation on purpose)
)
PROBABILITY_TOLERANCE = 1e-3


class ChatSmokeTestFailed(Exception):
    """The version cannot serve; the message says why."""


def _check_distribution(name: str, probabilities: np.ndarray, labels: list[str], message: str) -> None:
    values = np.asarray(probabilities, dtype=np.float64)
    if values.shape != (len(labels),):
        raise ChatSmokeTestFailed(
            f"{name} classifier returned {values.shape} probabilities for {len(labels)} labels on {message!r}"
        )
    if not np.all(np.isfinite(values)):
        raise ChatSmokeTestFailed(f"{name} classifier returned non-finite probabilities on {message!r}")
    total = float(values.sum())
    if not math.isclose(total, 1.0, abs_tol=PROBABILITY_TOLERANCE) or float(values.min()) < 0:
        raise ChatSmokeTestFailed(f"{name} probabilities sum to {total:.6f}, not 1, on {message!r}")


def _check_reply_templates(path: Path, intents: list[str]) -> None:
    if not path.exists():
        return  # the default templates serve, and they are tested with the code
    try:
        templates = json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ChatSmokeTestFailed(f"{path.name} is not a JSON file: {error}") from error
    problems = template_file_problems(templates, intents)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ChatSmokeTestFailed(f"{path.name}: " + "; ".join(problems[:3]) + more)


def smoke_test(directory: Path) -> None:
    try:
        model = ChatModel.load(directory)
    except Exception as error:  # whatever stops loading, the registry needs the reason, not a traceback
        raise ChatSmokeTestFailed(f"the version does not load: {type(error).__name__}: {error}") from error
    for name, classifier in (("intent", model.intent), ("sentiment", model.sentiment)):
        labels = list(classifier.labels)
        if len(labels) < 2 or any(not str(label).strip() for label in labels):
            raise ChatSmokeTestFailed(f"{name} labels must be at least two non-empty names, got {labels!r}")
        if len(set(labels)) != len(labels):
            raise ChatSmokeTestFailed(f"{name} labels repeat: {labels!r}")
    _check_reply_templates(directory / TEMPLATES_FILE, model.intent.labels)
    for message in SMOKE_MESSAGES:
        try:
            _check_distribution("intent", model.intent.probabilities(message), model.intent.labels, message)
            _check_distribution(
                "sentiment", model.sentiment.probabilities(message), model.sentiment.labels, message
            )
            result = model.triage(message)
        except ChatSmokeTestFailed:
            raise
        except Exception as error:
            raise ChatSmokeTestFailed(
                f"triage failed on {message!r}: {type(error).__name__}: {error}"
            ) from error
        if result.intent not in model.intent.labels or not result.redacted_text:
            raise ChatSmokeTestFailed(f"triage of {message!r} gave an unusable answer: {result.as_dict()}")
