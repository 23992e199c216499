"""The everyday-messages regression set: project-written messages with the intent and escalation a person
would expect (training/chat/regression/everyday_messages.csv, Apache-2.0). It measures the shipped default
model through `ChatModel.triage`, the path the API takes; it is reported, never trained or tuned on.

Columns: text, intent, escalate (yes / no), priority (expected priority when it must be a specific one).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from shelfwise.chat.model import ChatModel

REGRESSION_FILE = Path(__file__).resolve().parents[1] / "regression" / "everyday_messages.csv"


@dataclass(frozen=True)
class Expected:
    text: str
    intent: str
    escalate: bool
    priority: str | None


def regression_messages(path: Path = REGRESSION_FILE) -> list[Expected]:
    with open(path, encoding="utf-8", newline="") as handle:
        return [
            Expected(
                text=row["text"],
                intent=row["intent"],
                escalate=row["escalate"].strip().lower() == "yes",
                priority=row["priority"].strip() or None,
            )
            for row in csv.DictReader(handle)
        ]


def evaluate_regression(model: ChatModel, messages: list[Expected] | None = None) -> dict[str, object]:
    """Accuracy of intent, of the escalate decision, of both together, and of the required priorities
    (each message on its own, a fresh conversation), with the misses listed for people to read."""
    messages = messages if messages is not None else regression_messages()
    intent_hits = escalation_hits = both = priority_hits = priority_total = 0
    misses: list[dict[str, object]] = []
    for expected in messages:
        result = model.triage(expected.text)
        intent_ok = result.intent == expected.intent
        escalation_ok = result.escalate == expected.escalate
        priority_ok = expected.priority is None or result.priority == expected.priority
        intent_hits += intent_ok
        escalation_hits += escalation_ok
        both += intent_ok and escalation_ok and priority_ok
        if expected.priority is not None:
            priority_total += 1
            priority_hits += priority_ok
        if not (intent_ok and escalation_ok and priority_ok):
            misses.append(
                {
                    "text": expected.text,
                    "expected": [expected.intent, expected.escalate, expected.priority],
                    "got": [result.intent, result.escalate, result.priority, round(result.confidence, 3)],
                }
            )
    total = len(messages)
    return {
        "messages": total,
        "intent_accuracy": round(intent_hits / total, 4),
        "escalation_accuracy": round(escalation_hits / total, 4),
        "all_correct": round(both / total, 4),
        "priority_accuracy": round(priority_hits / priority_total, 4) if priority_total else None,
        "misses": misses,
    }
