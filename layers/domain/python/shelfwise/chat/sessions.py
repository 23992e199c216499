"""Conversation state per chat session, kept in the chat-sessions table (pk `session_id`, TTL `expires_at`).

Only derived, redacted state is stored — message count, the recent sentiment labels and the last intent
(`SessionState`), whether and at which priority the session was escalated, and the last answer (built from
the redacted text) with a fingerprint of the message it answered, so a retried request gets the same answer
instead of counting twice. The raw text of a message is never stored.

Writes are conditional on the message count the writer read (optimistic locking): two messages of one
session arriving at once cannot overwrite each other's update; the loser reads again and retries.

A session belongs to the caller that started it, and nobody else can read the session's answers or write into
it. `owner` (`session_owner`) is never the raw customer id: for a customer it is their keyed pseudonym
(`shelfwise.privacy.pseudonyms`), the one every other store uses, so the right of access and erasure find the
customer's sessions by it; for an operator (the retailer's servers) it is a SHA-256 hash of the operator's
identity, which can never equal a pseudonym (no `ps_` prefix). Sessions stored before pseudonyms carry the
unkeyed hash of the customer's identity instead, until they expire.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from botocore.exceptions import ClientError

from shelfwise import settings
from shelfwise.aws import dynamodb
from shelfwise.chat.escalation import SessionState

SESSION_ID_MAX_LENGTH = 128
SESSION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$"
MESSAGE_ID_PATTERN = SESSION_ID_PATTERN
FORMAT_VERSION = 2
_SESSION_ID = re.compile(SESSION_ID_PATTERN)


def session_ttl() -> timedelta:
    """How long a session is kept after its last message (the table's TTL): the deployment's setting."""
    return timedelta(hours=settings.chat_session_retention_hours())


class SessionConflict(Exception):
    """Another message of the same session was stored between this writer's read and its write."""


def session_owner(kind: str, subject: str, pseudonym: Callable[[str], str] | None = None) -> str:
    """The stored owner of a session: a customer's pseudonym (`pseudonym(subject)`), or for an operator a hash
    of their identity. Without `pseudonym`, a customer gets the unkeyed hash of releases before pseudonyms
    (what their old sessions hold)."""
    if kind == "customer" and pseudonym is not None:
        return pseudonym(subject)
    return hashlib.sha256(f"{kind}:{subject}".encode()).hexdigest()


def session_id_problem(session_id: str) -> str | None:
    if not _SESSION_ID.fullmatch(session_id):
        return (
            f"must be 1-{SESSION_ID_MAX_LENGTH} characters: letters, digits and . _ : - (starting with a "
            "letter or digit)"
        )
    return None


@dataclass(frozen=True)
class LastMessage:
    """What is kept of the newest message: enough to answer a retry identically, no raw text."""

    fingerprint: str
    received_at: str  # ISO-8601 UTC
    response: dict[str, Any]
    # True from the moment the answer is stored until its ChatEscalated event is on the bus.
    escalation_pending: bool = False


@dataclass(frozen=True)
class StoredSession:
    session_id: str
    state: SessionState = field(default_factory=SessionState)
    escalation_priority: str | None = None
    last_message: LastMessage | None = None
    created_at: str | None = None
    owner: str | None = None

    def to_item(self, now: datetime) -> dict[str, Any]:
        item: dict[str, Any] = {
            "session_id": self.session_id,
            "format_version": FORMAT_VERSION,
            "message_count": self.state.message_count,
            "state": json.dumps(self.state.to_dict(), separators=(",", ":")),
            "created_at": self.created_at or now.isoformat(timespec="seconds"),
            "updated_at": now.isoformat(timespec="seconds"),
            "expires_at": int((now + session_ttl()).timestamp()),
        }
        if self.owner:
            item["owner"] = self.owner
        if self.escalation_priority:
            item["escalation_priority"] = self.escalation_priority
        if self.last_message is not None:
            item["last_message"] = json.dumps(
                {
                    "fingerprint": self.last_message.fingerprint,
                    "received_at": self.last_message.received_at,
                    "response": self.last_message.response,
                    "escalation_pending": self.last_message.escalation_pending,
                },
                separators=(",", ":"),
                ensure_ascii=False,
            )
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> StoredSession:
        state = SessionState.from_dict(json.loads(item.get("state") or "{}"))
        last = json.loads(item["last_message"]) if item.get("last_message") else None
        return cls(
            session_id=str(item["session_id"]),
            state=state,
            escalation_priority=item.get("escalation_priority"),
            last_message=LastMessage(
                fingerprint=str(last["fingerprint"]),
                received_at=str(last["received_at"]),
                response=dict(last["response"]),
                escalation_pending=bool(last.get("escalation_pending", False)),
            )
            if last
            else None,
            created_at=item.get("created_at"),
            owner=item.get("owner"),
        )


class SessionStore(Protocol):
    def load(self, session_id: str, now: datetime) -> StoredSession | None: ...

    def save(self, session: StoredSession, *, previous_count: int | None, now: datetime) -> None:
        """Store `session`; raise `SessionConflict` unless the stored count is still `previous_count`
        (`None`: the session must not exist yet)."""
        ...

    def mark_published(self, session_id: str, fingerprint: str) -> None: ...


class DynamoSessionStore:
    def __init__(self, table_name: str, *, dynamodb_resource: dynamodb.DynamoResource | None = None) -> None:
        self.table = dynamodb.table(table_name, dynamodb=dynamodb_resource)

    def load(self, session_id: str, now: datetime) -> StoredSession | None:
        item = self.table.get_item(Key={"session_id": session_id}, ConsistentRead=True).get("Item")
        # DynamoDB deletes expired items lazily (within days); an expired one is a new conversation.
        if item is None or int(item.get("expires_at", 0)) <= int(now.timestamp()):
            return None
        return StoredSession.from_item(item)

    def save(self, session: StoredSession, *, previous_count: int | None, now: datetime) -> None:
        if previous_count is None:
            condition = "attribute_not_exists(session_id) OR expires_at <= :now"
            values: dict[str, Any] = {":now": int(now.timestamp())}
        else:
            condition = "message_count = :previous"
            values = {":previous": previous_count}
        try:
            self.table.put_item(
                Item=session.to_item(now),
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise SessionConflict(session.session_id) from error
            raise

    def mark_published(self, session_id: str, fingerprint: str) -> None:
        item = self.table.get_item(Key={"session_id": session_id}, ConsistentRead=True).get("Item")
        if not item or not item.get("last_message"):
            return
        last = json.loads(item["last_message"])
        if last.get("fingerprint") != fingerprint:
            return  # a newer message already replaced it; its own publication is tracked there
        last["escalation_pending"] = False
        try:
            self.table.update_item(
                Key={"session_id": session_id},
                UpdateExpression="SET last_message = :last",
                ConditionExpression="message_count = :count",
                ExpressionAttributeValues={
                    ":last": json.dumps(last, separators=(",", ":"), ensure_ascii=False),
                    ":count": item["message_count"],
                },
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
