"""What a chat session keeps: derived and redacted state only, with a 24 h expiry."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from shelfwise import settings
from shelfwise.chat.model import ChatModel
from shelfwise.chat.service import ChatRequest, ChatService
from shelfwise.chat.sessions import (
    LastMessage,
    StoredSession,
    session_id_problem,
    session_owner,
)
from shelfwise.privacy.pseudonyms import Pseudonymizer, is_pseudonym
from test_chat_service import DEFAULT_MODEL, MemorySessions

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRET_EMAIL = "jane.roe@example.com"
SECRET_CARD = "4111 1111 1111 1111"
OWNER = session_owner("customer", "c-1042")
SECRET_PHONE = "+44 20 7946 0958"


@pytest.fixture(scope="module")
def model() -> ChatModel:
    return ChatModel.load(Path(DEFAULT_MODEL))


def test_a_stored_session_reads_back_as_it_was_written() -> None:
    session = StoredSession(
        session_id="s-1",
        escalation_priority="P2",
        last_message=LastMessage(
            fingerprint="ab" * 32,
            received_at=NOW.isoformat(),
            response={"intent": "track_order", "confidence": 0.91, "top_intents": [["track_order", 0.91]]},
            escalation_pending=True,
        ),
        created_at="2026-03-01T11:00:00+00:00",
    )
    item = session.to_item(NOW)
    assert StoredSession.from_item(item) == session
    assert item["expires_at"] == int((NOW + timedelta(hours=24)).timestamp())
    assert item["message_count"] == 0


def test_a_deployment_configured_retention_sets_the_session_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.CHAT_SESSION_RETENTION_HOURS_ENV, "2")
    item = StoredSession(session_id="s-1").to_item(NOW)
    assert item["expires_at"] == int((NOW + timedelta(hours=2)).timestamp())


def test_no_raw_personal_data_reaches_the_session_item(model: ChatModel) -> None:
    sessions = MemorySessions()
    service = ChatService(
        model=lambda: model, sessions=sessions, publish=lambda detail: None, clock=lambda: NOW
    )
    text = (
        f"I'm furious, my order 55512345 never came. Mail me at {SECRET_EMAIL}, call {SECRET_PHONE}, "
        f"or refund card {SECRET_CARD}"
    )
    service.handle(ChatRequest(owner=OWNER, text=text, session_id="pii-1", message_id="m1"))
    service.handle(
        ChatRequest(owner=OWNER, text="Still waiting. " + text, session_id="pii-1", message_id="m2")
    )
    stored = json.dumps(sessions.items["pii-1"], default=str)
    for secret in (SECRET_EMAIL, SECRET_CARD, SECRET_PHONE, "4111111111111111", "7946 0958"):
        assert secret not in stored
    assert text not in stored
    assert "[EMAIL]" in stored and "[CARD]" in stored
    assert sessions.items["pii-1"]["message_count"] == 2


@pytest.mark.parametrize("session_id", ["s-1", "chat_2026.03:abc", "A" * 128, "7"])
def test_reasonable_session_ids_are_accepted(session_id: str) -> None:
    assert session_id_problem(session_id) is None


@pytest.mark.parametrize("session_id", ["", "-leading-dash", "has space", "a/b", "x" * 129, "naïve", "a\nb"])
def test_malformed_session_ids_are_refused(session_id: str) -> None:
    assert session_id_problem(session_id)


def test_a_customers_sessions_are_owned_by_their_pseudonym_and_operators_stay_distinct() -> None:
    pseudonymizer = Pseudonymizer(b"k" * 32)

    customer = session_owner("customer", "c-1042", pseudonymizer.pseudonym)
    operator = session_owner("operator", "c-1042", pseudonymizer.pseudonym)

    assert customer == pseudonymizer.pseudonym("c-1042") and is_pseudonym(customer)
    # An operator (the retailer's servers) is no customer: a hash that can never equal a pseudonym.
    assert not is_pseudonym(operator) and operator == session_owner("operator", "c-1042")
    assert "c-1042" not in customer + operator
