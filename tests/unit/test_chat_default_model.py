# ruff: noqa: RUF001 - Chinese test messages use full-width punctuation on purpose
"""The shipped default model (functions/chat/default_model) is useful out of the box, in English and
Chinese."""

from __future__ import annotations

from pathlib import Path

import pytest
from shelfwise.chat.model import ChatModel

DEFAULT = Path(__file__).resolve().parents[2] / "functions" / "chat" / "default_model"


@pytest.fixture(scope="module")
def model() -> ChatModel:
    return ChatModel.load(DEFAULT)


def test_default_model_knows_the_27_bitext_intents(model: ChatModel) -> None:
    assert len(model.intent.labels) == 27
    assert {"track_order", "get_refund", "complaint", "contact_human_agent"} <= set(model.intent.labels)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("how do I reset my password", "recover_password"),
        ("I need to change the delivery address for order 556677", "change_shipping_address"),
        ("I want to speak to a real person", "contact_human_agent"),
        ("can I get an invoice for my purchase", "get_invoice"),
        ("I want to cancel my order", "cancel_order"),
    ],
)
def test_common_requests_get_the_right_intent(model: ChatModel, text: str, intent: str) -> None:
    assert model.triage(text).intent == intent


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("hello", "neutral"),
        ("how do I reset my password", "neutral"),
        ("this is the worst service ever, I am furious", "negative"),
        ("thank you so much, great help", "positive"),
        ("质量太差了，非常失望", "negative"),
        ("东西很好，非常满意", "positive"),
    ],
)
def test_sentiment_in_english_and_chinese(model: ChatModel, text: str, label: str) -> None:
    assert model.triage(text).sentiment["label"] == label


@pytest.mark.parametrize(
    ("praise", "negated"),
    [
        ("I am happy with this order", "I am not happy with this order"),
        ("this was helpful", "this was not helpful at all"),
        ("the delivery was good", "the delivery was not good"),
    ],
)
def test_negated_praise_reads_as_a_complaint(model: ChatModel, praise: str, negated: str) -> None:
    assert model.triage(negated).sentiment["label"] == "negative"
    assert model.triage(praise).sentiment["label"] != "negative"


def test_angry_request_for_a_person_is_escalated_first(model: ChatModel) -> None:
    result = model.triage("this is terrible and useless, I want to talk to a human agent now")
    assert result.escalate and result.priority == "P1"


def test_a_plain_question_gets_an_automatic_reply_with_the_order_number(model: ChatModel) -> None:
    result = model.triage("I need to change the delivery address for order 556677")
    assert not result.escalate
    assert result.reply is not None and "556677" in result.reply
