"""One chat message in, one triage answer out: sessions, retries and escalation events around the model.

Flow: validate the text; read the session (unknown or expired -> a new one); if the message is a retry of
the session's newest message, answer it again from the stored answer; otherwise triage it with the model in
service, store the new session state (conditional on the state read, retried on a concurrent update), and,
when the message escalates the conversation, publish `ChatEscalated`.

Ownership: a session belongs to the caller that started it (`ChatRequest.owner`); anyone else gets
`SessionForbidden`, whatever the session id they guessed or were given.

Retries (decided here, documented in the API): a message is the same message when the same caller sends the
same `message_id` with the same text again, or, without a `message_id`, the same text (compared after
redaction) within `RETRY_WINDOW` of the newest message. A retry is not counted twice in the session, and
publishes nothing new. The same `message_id` with a different text is refused (`MessageIdReused`), never
answered with the stored answer.

Concurrency: messages of one session are serialized by optimistic locking; a message that loses the race
`MAX_CONFLICT_RETRIES` times, after short randomized pauses, gets `SessionBusy` and the client sends it
again (with its `message_id`, so a message that did land is not counted twice).

Escalation events: one per session when it first escalates, and one more each time its priority rises
(P3 -> P2 -> P1); later messages of an escalated session still answer `escalate: true`, but the CRM already
has the conversation. The answer is stored before the event is published, marked pending; if publishing
fails the caller gets `EscalationNotPublished` (503) and the retry publishes the pending event — delivery is
at least once, and `escalation_id` lets the CRM drop a duplicate.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shelfwise.chat.events import Publisher, escalation_detail
from shelfwise.chat.model import ChatModel
from shelfwise.chat.redact import redact
from shelfwise.chat.sessions import LastMessage, SessionConflict, SessionStore, StoredSession
from shelfwise.chat.validation import validate_message

RETRY_WINDOW = timedelta(minutes=2)
MAX_CONFLICT_RETRIES = 6
# Pause before retrying a lost race, scaled by the attempt number, so a burst spreads out.
CONFLICT_PAUSE_SECONDS = 0.02
PRIORITY_RANK = {None: 0, "P3": 1, "P2": 2, "P1": 3}


class SessionBusy(Exception):
    """The session kept changing under this message (many messages at once); the client should retry."""


class SessionForbidden(Exception):
    """The session was started by another caller."""


class MessageIdReused(Exception):
    """The session's newest message has this message_id but another text."""


class EscalationNotPublished(Exception):
    """The answer is stored but its ChatEscalated event is not on the bus yet; a retry publishes it."""


@dataclass(frozen=True)
class ChatRequest:
    text: str = field(repr=False)  # raw customer text: kept out of every repr, hence out of logs and traces
    owner: str  # `sessions.session_owner` of the caller
    session_id: str | None = None
    message_id: str | None = None


@dataclass(frozen=True)
class ChatOutcome:
    response: dict[str, Any]
    new_session: bool
    replayed: bool
    published: bool


def fingerprint(message_id: str | None, redacted_text: str) -> str:
    source = f"id:{message_id}\ntext:{redacted_text}" if message_id else f"text:{redacted_text}"
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def _new_session_id() -> str:
    # Letters only: a run of random digits could look like a card or phone number, which ids may not be.
    return "s-" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(26))


class ChatService:
    def __init__(
        self,
        *,
        model: Callable[[], ChatModel],
        sessions: SessionStore,
        publish: Publisher,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_session_id: Callable[[], str] = _new_session_id,
        pause: Callable[[float], None] = time.sleep,
    ) -> None:
        self.model = model
        self.sessions = sessions
        self.publish = publish
        self.clock = clock
        self.new_session_id = new_session_id
        self.pause = pause

    def handle(self, request: ChatRequest) -> ChatOutcome:
        text = validate_message(request.text)
        session_id = request.session_id or self.new_session_id()
        message_print = fingerprint(request.message_id, redact(text).text)
        for attempt in range(MAX_CONFLICT_RETRIES):
            now = self.clock()
            stored = self.sessions.load(session_id, now)
            if stored and stored.owner != request.owner:
                raise SessionForbidden(session_id)
            if stored and self._is_retry(stored.last_message, message_print, request.message_id, now):
                return self._replay(stored, request.message_id)
            try:
                return self._answer(request, text, session_id, message_print, stored, now)
            except SessionConflict:
                self.pause(random.uniform(0.5, 1.5) * CONFLICT_PAUSE_SECONDS * (attempt + 1))
        raise SessionBusy(session_id)

    @staticmethod
    def _is_retry(
        last: LastMessage | None, message_print: str, message_id: str | None, now: datetime
    ) -> bool:
        if last is None:
            return False
        if message_id and last.response.get("message_id") == message_id and last.fingerprint != message_print:
            raise MessageIdReused(message_id)
        if last.fingerprint != message_print:
            return False
        return bool(message_id) or now - datetime.fromisoformat(last.received_at) <= RETRY_WINDOW

    def _replay(self, stored: StoredSession, message_id: str | None) -> ChatOutcome:
        last = stored.last_message
        assert last is not None
        published = False
        if last.escalation_pending:
            self._publish(stored.session_id, last, message_id)
            published = True
        return ChatOutcome(dict(last.response), new_session=False, replayed=True, published=published)

    def _answer(
        self,
        request: ChatRequest,
        text: str,
        session_id: str,
        message_print: str,
        stored: StoredSession | None,
        now: datetime,
    ) -> ChatOutcome:
        message_id = request.message_id
        result = self.model().triage(text, stored.state if stored else None)
        response = {"session_id": session_id, **result.as_dict()}
        if message_id:
            response["message_id"] = message_id
        previous_priority = stored.escalation_priority if stored else None
        raises_priority = (
            result.escalate and PRIORITY_RANK[result.priority] > PRIORITY_RANK[previous_priority]
        )
        last = LastMessage(
            fingerprint=message_print,
            received_at=now.isoformat(timespec="milliseconds"),
            response=response,
            escalation_pending=raises_priority,
        )
        session = StoredSession(
            session_id=session_id,
            state=result.session,
            escalation_priority=result.priority if raises_priority else previous_priority,
            last_message=last,
            created_at=stored.created_at if stored else None,
            owner=request.owner,
        )
        previous_count = stored.state.message_count if stored else None
        self.sessions.save(session, previous_count=previous_count, now=now)
        if raises_priority:
            self._publish(session_id, last, message_id)
        return ChatOutcome(response, new_session=stored is None, replayed=False, published=raises_priority)

    def _publish(self, session_id: str, last: LastMessage, message_id: str | None) -> None:
        detail = escalation_detail(
            session_id=session_id,
            fingerprint=last.fingerprint,
            message_id=message_id,
            response=last.response,
            occurred_at=last.received_at,
        )
        try:
            self.publish(detail)
        except Exception as error:
            raise EscalationNotPublished(session_id) from error
        self.sessions.mark_published(session_id, last.fingerprint)
