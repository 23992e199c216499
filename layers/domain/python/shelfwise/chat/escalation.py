"""Escalation to a human: rules over the current message and the conversation so far.

The session state is a plain dataclass passed in and handed back updated; where it is stored is the caller's
business. Priorities: P1 (now) when a negative message is a complaint or a request for a person, when the
customer threatens legal action or reports fraud or a chargeback (money and liability at stake, whatever the
tone), or the conversation has stayed negative; P2 for a complaint, a request for a person, or one strongly
negative message; P3 when the classifier is unsure what the customer wants, so a person should read it but
nothing is burning.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal

NEGATIVE = "negative"

REASON_INTENT = "intent:{intent}"
REASON_STRONG_NEGATIVE = "strong_negative_sentiment"
REASON_LOW_CONFIDENCE = "low_confidence"
REASON_NEGATIVE_SESSION = "negative_session"


@dataclass(frozen=True)
class EscalationPolicy:
    escalate_intents: frozenset[str] = frozenset({"complaint", "contact_human_agent"})
    # Always P1 when confident: a chargeback or a lawsuit costs more than any wait a person could save.
    urgent_intents: frozenset[str] = frozenset({"legal_threat", "report_fraud"})
    strong_negative_probability: float = 0.85
    negative_probability: float = 0.5
    low_confidence_below: float = 0.45
    negative_streak_messages: int = 3
    recent_window: int = 10


@dataclass(frozen=True)
class SessionState:
    """What triage remembers about a conversation. `recent_sentiments` is newest last, capped in length."""

    message_count: int = 0
    negative_streak: int = 0
    recent_sentiments: tuple[str, ...] = field(default_factory=tuple)
    escalated: bool = False
    last_intent: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "message_count": self.message_count,
            "negative_streak": self.negative_streak,
            "recent_sentiments": list(self.recent_sentiments),
            "escalated": self.escalated,
            "last_intent": self.last_intent,
        }

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> SessionState:
        recent = values.get("recent_sentiments") or []
        if not isinstance(recent, list | tuple):
            raise TypeError(f"recent_sentiments must be a list, got {recent!r}")
        last_intent = values.get("last_intent")
        return cls(
            message_count=_count(values.get("message_count", 0)),
            negative_streak=_count(values.get("negative_streak", 0)),
            recent_sentiments=tuple(str(item) for item in recent),
            escalated=bool(values.get("escalated", False)),
            last_intent=str(last_intent) if last_intent is not None else None,
        )


@dataclass(frozen=True)
class EscalationDecision:
    escalate: bool
    priority: str | None
    reasons: tuple[str, ...]


def advance_session(
    state: SessionState, *, intent: str, sentiment_label: str, policy: EscalationPolicy
) -> SessionState:
    negative = sentiment_label == NEGATIVE
    recent = (*state.recent_sentiments, sentiment_label)[-policy.recent_window :]
    return replace(
        state,
        message_count=state.message_count + 1,
        negative_streak=state.negative_streak + 1 if negative else 0,
        recent_sentiments=recent,
        last_intent=intent,
    )


def decide(
    *,
    intent: str,
    confidence: float,
    negative_probability: float,
    session: SessionState,
    policy: EscalationPolicy,
) -> EscalationDecision:
    """`session` must already include the current message (see `advance_session`)."""
    reasons: list[str] = []
    confident = confidence >= policy.low_confidence_below
    # An unsure guess of "complaint" is not a complaint: it escalates as low confidence (P3) instead.
    asked_or_complained = confident and intent in policy.escalate_intents
    urgent = confident and intent in policy.urgent_intents
    strong_negative = negative_probability >= policy.strong_negative_probability
    negative_session = session.negative_streak >= policy.negative_streak_messages
    if asked_or_complained or urgent:
        reasons.append(REASON_INTENT.format(intent=intent))
    if strong_negative:
        reasons.append(REASON_STRONG_NEGATIVE)
    if negative_session:
        reasons.append(REASON_NEGATIVE_SESSION)
    if not confident:
        reasons.append(REASON_LOW_CONFIDENCE)
    if not reasons:
        return EscalationDecision(False, None, ())
    if (
        urgent
        or negative_session
        or (asked_or_complained and negative_probability >= policy.negative_probability)
    ):
        priority = "P1"
    elif asked_or_complained or strong_negative:
        priority = "P2"
    else:
        priority = "P3"
    return EscalationDecision(True, priority, tuple(reasons))


def _count(value: object) -> int:
    """A stored counter: an int from JSON, a Decimal from DynamoDB."""
    if isinstance(value, int | float | Decimal | str) and not isinstance(value, bool):
        return int(value)
    raise TypeError(f"a session counter must be a number, got {value!r}")
