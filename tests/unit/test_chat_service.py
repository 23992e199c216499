"""The chat service: sessions, retries and escalation events around the shipped default model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from shelfwise.chat.model import ChatModel
from shelfwise.chat.service import (
    RETRY_WINDOW,
    ChatRequest,
    ChatService,
    EscalationNotPublished,
    MessageIdReused,
    SessionBusy,
    SessionForbidden,
)
from shelfwise.chat.sessions import SessionConflict, StoredSession, session_owner
from shelfwise.chat.validation import MAX_MESSAGE_CHARS, ChatInputError

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "functions" / "chat" / "default_model"
RESPONSE_KEYS = {
    "session_id",
    "intent",
    "confidence",
    "top_intents",
    "sentiment",
    "escalate",
    "priority",
    "reasons",
    "reply",
    "redacted_text",
    "model_version",
}
ANGRY_REQUEST_FOR_A_PERSON = "This is a disgrace, I want to speak to a human agent right now!"
OWNER = session_owner("customer", "c-1042")
SOMEONE_ELSE = session_owner("customer", "c-9999")


class MemorySessions:
    """The session store contract in memory, with the same conditional-write rule as DynamoDB."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.conflicts_to_raise = 0

    def load(self, session_id: str, now: datetime) -> StoredSession | None:
        item = self.items.get(session_id)
        if item is None or item["expires_at"] <= int(now.timestamp()):
            return None
        return StoredSession.from_item(item)

    def save(self, session: StoredSession, *, previous_count: int | None, now: datetime) -> None:
        if self.conflicts_to_raise:
            self.conflicts_to_raise -= 1
            raise SessionConflict(session.session_id)
        current = self.items.get(session.session_id)
        live = current is not None and current["expires_at"] > int(now.timestamp())
        if (previous_count is None and live) or (
            previous_count is not None and (not live or current["message_count"] != previous_count)
        ):
            raise SessionConflict(session.session_id)
        self.items[session.session_id] = session.to_item(now)

    def mark_published(self, session_id: str, fingerprint: str) -> None:
        stored = StoredSession.from_item(self.items[session_id])
        if stored.last_message and stored.last_message.fingerprint == fingerprint:
            last = replace(stored.last_message, escalation_pending=False)
            now = datetime.fromisoformat(self.items[session_id]["updated_at"])
            self.items[session_id] = replace(stored, last_message=last).to_item(now)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def model() -> ChatModel:
    return ChatModel.load(DEFAULT_MODEL)


@pytest.fixture
def published() -> list[Mapping[str, Any]]:
    return []


@pytest.fixture
def sessions() -> MemorySessions:
    return MemorySessions()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(model: ChatModel, sessions: MemorySessions, published: list, clock: Clock) -> ChatService:
    counter = iter(range(1, 1000))
    return ChatService(
        model=lambda: model,
        sessions=sessions,
        publish=published.append,
        clock=clock,
        new_session_id=lambda: f"s-new-{next(counter)}",
        pause=lambda _seconds: None,
    )


def test_a_first_message_without_a_session_starts_one_and_answers_every_field(service: ChatService) -> None:
    outcome = service.handle(ChatRequest(owner=OWNER, text="Where is my order 98765432? I want to track it."))
    response = outcome.response
    assert response.keys() >= RESPONSE_KEYS
    assert outcome.new_session and response["session_id"] == "s-new-1"
    assert response["intent"] == "track_order"
    assert "98765432" in response["reply"]
    assert response["sentiment"]["label"] in {"negative", "neutral", "positive"}
    assert 0 < response["confidence"] <= 1
    assert response["top_intents"][0][0] == response["intent"]
    assert response["model_version"] == "default"


def test_an_unknown_session_id_becomes_a_new_session_under_that_id(service: ChatService) -> None:
    outcome = service.handle(
        ChatRequest(owner=OWNER, text="How do I reset my password?", session_id="chat-42")
    )
    assert outcome.new_session and outcome.response["session_id"] == "chat-42"
    again = service.handle(ChatRequest(owner=OWNER, text="And can I change my e-mail?", session_id="chat-42"))
    assert not again.new_session


def test_an_escalation_publishes_one_event_with_the_redacted_text_only(
    service: ChatService, published: list
) -> None:
    text = f"{ANGRY_REQUEST_FOR_A_PERSON} My e-mail is jane.roe@example.com"
    outcome = service.handle(ChatRequest(owner=OWNER, text=text, session_id="angry-1"))
    assert outcome.response["escalate"] and outcome.response["priority"] == "P1"
    assert "intent:contact_human_agent" in outcome.response["reasons"]
    assert len(published) == 1
    event = published[0]
    assert event["session_id"] == "angry-1" and event["priority"] == "P1"
    assert "jane.roe@example.com" not in str(event) and "[EMAIL]" in event["redacted_text"]
    assert {"intent", "reasons", "sentiment", "model_version", "occurred_at", "escalation_id"} <= event.keys()


def test_an_escalated_session_publishes_again_only_when_its_priority_rises(
    service: ChatService, published: list, sessions: MemorySessions
) -> None:
    # Unsure what the customer wants: P3. ("hmm" used to be the unsure message; the default model now knows
    # it as small talk, which is not escalated.)
    service.handle(ChatRequest(owner=OWNER, text="blue", session_id="s1"))
    assert [event["priority"] for event in published] == ["P3"]
    service.handle(ChatRequest(owner=OWNER, text="blue blue", session_id="s1"))
    assert len(published) == 1  # still escalated, still P3: the CRM already has it
    service.handle(ChatRequest(owner=OWNER, text=ANGRY_REQUEST_FOR_A_PERSON, session_id="s1"))
    assert [event["priority"] for event in published] == ["P3", "P1"]
    assert sessions.items["s1"]["escalation_priority"] == "P1"


def test_a_conversation_that_stays_negative_escalates_as_a_negative_session(service: ChatService) -> None:
    messages = [
        "My parcel arrived broken and I'm very disappointed.",
        "The replacement is also damaged, this is awful.",
        "Still nothing works, terrible experience, I'm so unhappy.",
    ]
    outcomes = [service.handle(ChatRequest(owner=OWNER, text=text, session_id="sad")) for text in messages]
    assert all(outcome.response["sentiment"]["label"] == "negative" for outcome in outcomes)
    assert "negative_session" in outcomes[-1].response["reasons"]
    assert outcomes[-1].response["priority"] == "P1"


def test_a_retried_message_id_gets_the_same_answer_and_counts_once(
    service: ChatService, sessions: MemorySessions, published: list, clock: Clock
) -> None:
    first = service.handle(
        ChatRequest(owner=OWNER, text=ANGRY_REQUEST_FOR_A_PERSON, session_id="r1", message_id="m-1")
    )
    clock.now += timedelta(minutes=30)
    retry = service.handle(
        ChatRequest(owner=OWNER, text=ANGRY_REQUEST_FOR_A_PERSON, session_id="r1", message_id="m-1")
    )
    assert retry.replayed and retry.response == first.response
    assert sessions.items["r1"]["message_count"] == 1
    assert len(published) == 1


def test_the_same_text_twice_is_a_retry_only_within_the_retry_window(
    service: ChatService, sessions: MemorySessions, clock: Clock
) -> None:
    service.handle(ChatRequest(owner=OWNER, text="Where is my order 12345678?", session_id="w1"))
    assert service.handle(
        ChatRequest(owner=OWNER, text="Where is my order 12345678?", session_id="w1")
    ).replayed
    assert sessions.items["w1"]["message_count"] == 1
    clock.now += RETRY_WINDOW + timedelta(seconds=1)
    later = service.handle(ChatRequest(owner=OWNER, text="Where is my order 12345678?", session_id="w1"))
    assert not later.replayed and sessions.items["w1"]["message_count"] == 2


def test_a_failed_publication_is_published_by_the_retry_and_not_again_after(
    model: ChatModel, sessions: MemorySessions, clock: Clock
) -> None:
    delivered: list[Mapping[str, Any]] = []
    failures = iter([RuntimeError("bus unavailable")])

    def flaky(detail: Mapping[str, Any]) -> None:
        error = next(failures, None)
        if error:
            raise error
        delivered.append(detail)

    service = ChatService(model=lambda: model, sessions=sessions, publish=flaky, clock=clock)
    request = ChatRequest(owner=OWNER, text=ANGRY_REQUEST_FOR_A_PERSON, session_id="f1", message_id="m-9")
    with pytest.raises(EscalationNotPublished):
        service.handle(request)
    retry = service.handle(request)
    assert retry.replayed and retry.published and len(delivered) == 1
    assert not service.handle(request).published
    assert len(delivered) == 1


def test_a_concurrent_update_is_retried_and_a_session_that_never_settles_is_busy(
    service: ChatService, sessions: MemorySessions
) -> None:
    sessions.conflicts_to_raise = 1
    assert service.handle(ChatRequest(owner=OWNER, text="Do you ship to Norway?", session_id="c1")).response
    sessions.conflicts_to_raise = 10
    with pytest.raises(SessionBusy):
        service.handle(ChatRequest(owner=OWNER, text="And to Sweden?", session_id="c1"))


def test_an_expired_session_starts_over(service: ChatService, clock: Clock) -> None:
    service.handle(ChatRequest(owner=OWNER, text="Do you have gift cards?", session_id="old"))
    clock.now += timedelta(hours=25)
    assert service.handle(
        ChatRequest(owner=OWNER, text="Do you have gift cards?", session_id="old")
    ).new_session


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("   \n ", "empty"),
        ("x" * (MAX_MESSAGE_CHARS + 1), "at most"),
        ("hello\x00world", "NUL"),
        ("bell\x07", "control"),
        (42, "string"),
    ],
)
def test_bad_text_is_refused_naming_the_field(service: ChatService, text: Any, problem: str) -> None:
    with pytest.raises(ChatInputError) as refused:
        service.handle(ChatRequest(owner=OWNER, text=text))
    assert refused.value.field == "text" and problem in refused.value.message


def test_a_session_answers_only_the_customer_who_started_it(service: ChatService, published: list) -> None:
    text = "Where is my order 98765432? Send it to jane.victim@example.com"
    first = service.handle(ChatRequest(owner=OWNER, text=text, session_id="cust-1042", message_id="1"))
    assert "98765432" in first.response["reply"]
    with pytest.raises(SessionForbidden):
        service.handle(ChatRequest(owner=SOMEONE_ELSE, text="hello", session_id="cust-1042", message_id="1"))
    with pytest.raises(SessionForbidden):
        service.handle(ChatRequest(owner=SOMEONE_ELSE, text=text, session_id="cust-1042", message_id="1"))
    with pytest.raises(SessionForbidden):
        service.handle(
            ChatRequest(owner=SOMEONE_ELSE, text=ANGRY_REQUEST_FOR_A_PERSON, session_id="cust-1042")
        )
    assert published == []  # the intruder's angry message escalated nothing


def test_a_reused_message_id_with_another_text_is_refused_not_replayed(service: ChatService) -> None:
    service.handle(
        ChatRequest(owner=OWNER, text="Where is my order 98765432?", session_id="m1", message_id="1")
    )
    with pytest.raises(MessageIdReused):
        service.handle(ChatRequest(owner=OWNER, text="hello", session_id="m1", message_id="1"))
    again = service.handle(
        ChatRequest(owner=OWNER, text="Where is my order 98765432?", session_id="m1", message_id="1")
    )
    assert again.replayed
