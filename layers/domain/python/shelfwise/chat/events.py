"""The `ChatEscalated` integration event, published to the platform bus for the CRM.

Detail (JSON):
    escalation_id   stable id of this escalation (session id + message fingerprint): a consumer that sees the
                    same id twice has seen the same escalation twice
    session_id, message_id (null when the client sent none), intent, priority (P1|P2|P3), reasons,
    sentiment {"label", "score"}, redacted_text, model_version, occurred_at (ISO-8601 UTC)

Only the redacted text travels; the raw message never leaves the chat function.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from shelfwise.aws import events

DETAIL_TYPE = "ChatEscalated"
SOURCE = events.DEFAULT_SOURCE  # the bus rules (archive, CRM targets) match the platform source

Publisher = Callable[[Mapping[str, Any]], None]


def escalation_id(session_id: str, fingerprint: str) -> str:
    return hashlib.sha256(f"{session_id}\n{fingerprint}".encode()).hexdigest()[:32]


def escalation_detail(
    *,
    session_id: str,
    fingerprint: str,
    message_id: str | None,
    response: Mapping[str, Any],
    occurred_at: str,
) -> dict[str, Any]:
    return {
        "escalation_id": escalation_id(session_id, fingerprint),
        "session_id": session_id,
        "message_id": message_id,
        "intent": response["intent"],
        "priority": response["priority"],
        "reasons": list(response["reasons"]),
        "sentiment": dict(response["sentiment"]),
        "redacted_text": response["redacted_text"],
        "model_version": response["model_version"],
        "occurred_at": occurred_at,
    }


def eventbridge_publisher(
    bus_name: str | None = None, *, events_client: events.EventsClient | None = None
) -> Publisher:
    """Publishes each detail as one `ChatEscalated` event; raises when EventBridge refuses it."""

    def publish(detail: Mapping[str, Any]) -> None:
        events.publish(DETAIL_TYPE, detail, source=SOURCE, bus_name=bus_name, events_client=events_client)

    return publish
