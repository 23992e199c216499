"""Request and response bodies of `POST /v1/chat/messages` (validated by the API, shown in OpenAPI)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shelfwise.chat.redact import find_pii
from shelfwise.chat.sessions import MESSAGE_ID_PATTERN, SESSION_ID_MAX_LENGTH, SESSION_ID_PATTERN
from shelfwise.chat.validation import MAX_MESSAGE_CHARS


class ChatMessageRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # repr=False: the framework logs handler arguments at debug level, and the raw text must never be logged.
    text: str = Field(
        repr=False,
        min_length=1,
        max_length=MAX_MESSAGE_CHARS,
        description=f"The customer's message, plain text in any language, 1-{MAX_MESSAGE_CHARS} characters "
        "(Unicode code points); no control characters except tab and line breaks.",
    )
    session_id: str | None = Field(
        default=None,
        max_length=SESSION_ID_MAX_LENGTH,
        pattern=SESSION_ID_PATTERN,
        description="The conversation this message belongs to. Omit it to start a new conversation (the "
        "answer carries the new id); an unknown or expired id starts a new conversation under that id. "
        "A conversation belongs to the caller who started it: anyone else gets 403. Conversations expire 24 "
        "hours after their last message.",
    )
    message_id: str | None = Field(
        default=None,
        max_length=SESSION_ID_MAX_LENGTH,
        pattern=MESSAGE_ID_PATTERN,
        description="Client id of this message. Sending the same message_id with the same text again in the "
        "session (a retry) returns the first answer and publishes no second escalation; the same message_id "
        "with another text is a 409 `message_id_reused`. Without it, the same text sent again within 2 "
        "minutes of the session's last message counts as a retry.",
    )

    @field_validator("session_id", "message_id")
    @classmethod
    def _no_personal_data_in_ids(cls, value: str | None) -> str | None:
        # Ids are stored as keys, logged and published unredacted: a card or phone number typed into one
        # would bypass redaction entirely, so ids that look like personal data are refused.
        found = find_pii(value) if value is not None else []
        if found:
            kinds = ", ".join(sorted({redaction.kind for redaction in found}))
            raise ValueError(f"must be an opaque id, not personal data (looks like: {kinds})")
        return value


class Sentiment(BaseModel):
    label: Literal["negative", "neutral", "positive"] | str = Field(
        description="negative, neutral or positive (a retrained model answers with its own labels)."
    )
    score: float = Field(description="Probability of the label, 0-1.")


class ChatMessageResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    session_id: str = Field(description="The conversation id; send it with the next message.")
    message_id: str | None = Field(default=None, description="Echo of the request's message_id.")
    intent: str = Field(description="Most likely intent.")
    confidence: float = Field(description="Probability of that intent, 0-1.")
    top_intents: list[tuple[str, float]] = Field(description="Up to three [intent, probability] pairs.")
    sentiment: Sentiment
    escalate: bool = Field(description="Hand the conversation to a person.")
    priority: Literal["P1", "P2", "P3"] | None = Field(
        description="P1 now (angry complaint or request for a person, or a conversation that stays "
        "negative), P2 (complaint, request for a person, strongly negative message), P3 (unsure what the "
        "customer wants); null when not escalated."
    )
    reasons: list[str] = Field(
        description="Why it escalates: intent:<intent>, strong_negative_sentiment, negative_session, "
        "low_confidence."
    )
    reply: str | None = Field(
        description="Automatic reply with the slots filled in; null when there is none."
    )
    redacted_text: str = Field(
        description="The message with e-mail addresses, phone numbers, card numbers, IBANs and IP addresses "
        "replaced by [EMAIL], [PHONE], [CARD], [IBAN], [IP]."
    )
    slots: dict[str, object] = Field(
        default_factory=dict,
        description="Facts read from the message: order_number, tracking_number, amount(s); e-mail and phone "
        "come back masked.",
    )
    model_version: str = Field(
        description="Chat model version that answered (`default` for the shipped one)."
    )
