"""A retailer's reply templates: the chat-replies contract, the merge into a version, the smoke test."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from shelfwise import curated
from shelfwise.chat.slots import TEMPLATE_PLACEHOLDERS, Amount, Slots, extract_slots
from shelfwise.chat.smoke import ChatSmokeTestFailed, smoke_test
from shelfwise.chat.templates import (
    DEFAULT_TEMPLATES,
    ESCALATION_KEY,
    FALLBACK_KEY,
    ReplyTemplates,
    merge_templates,
    order_templates,
    template_problem,
)
from shelfwise.ingest.contracts import CONTRACTS
from shelfwise.ingest.reader import TableFile
from shelfwise.ingest.validate import validate_chunk

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "functions" / "chat" / "default_model"


def validate_replies(tmp_path: Path, text: str) -> tuple[list[dict[str, object]], list[tuple[int, str, str]]]:
    path = tmp_path / "replies.csv"
    path.write_text(text, "utf-8")
    valid, problems = [], []
    for chunk in TableFile(path).chunks():
        result = validate_chunk(CONTRACTS["chat-replies"], chunk)
        assert result.valid.schema.equals(curated.SCHEMAS["chat-replies"])
        valid += result.valid.to_pylist()
        problems += [(row["line"], row["field"], row["reason"]) for row in result.rejections.to_pylist()]
    return valid, problems


def test_every_template_placeholder_is_a_slot_the_extractor_fills() -> None:
    everything = Slots(
        order_number="A1234", tracking_number="TR12345678", email="a***@b.c", phone="***12",
        amounts=(Amount(12.5, "EUR"),),
    )  # fmt: skip
    assert set(TEMPLATE_PLACEHOLDERS) <= everything.as_dict().keys()


def test_good_reply_rows_land_as_they_are(tmp_path: Path) -> None:
    valid, problems = validate_replies(
        tmp_path,
        "Intent,Template\n"
        'track_order,"Order {order_number} is on its way; a literal {{brace}} stays."\n'
        "_escalation,A colleague takes over now.\n",
    )
    assert problems == []
    assert valid == [
        {
            "intent": "track_order",
            "template": "Order {order_number} is on its way; a literal {{brace}} stays.",
        },
        {"intent": "_escalation", "template": "A colleague takes over now."},
    ]


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("Hello {customer_name}, your order ships today", "unknown placeholder {customer_name}"),
        ("Order {order_number!r} ships today", "takes no ! or : options"),
        ("Order {order_number:>12} ships today", "takes no ! or : options"),
        ("Order {} ships today", "needs a slot name"),
        ("Order {0} ships today", "needs a slot name"),
        ("Mail {email.__class__}", "unknown placeholder {email.__class__}"),
        ("Order {order_number ships today", "unbalanced brace"),
        ("Order } ships today", "unbalanced brace"),
    ],
)
def test_a_template_no_slot_can_fill_is_a_rejected_row_naming_the_field_and_placeholder(
    tmp_path: Path, template: str, reason: str
) -> None:
    valid, problems = validate_replies(
        tmp_path, f'intent,template\ntrack_order,"{template}"\ntrack_order,Your parcel is on its way.\n'
    )
    assert [row["template"] for row in valid] == ["Your parcel is on its way."]
    assert len(problems) == 1
    line, field, message = problems[0]
    assert (line, field) == (2, "template") and reason in message


def test_missing_long_and_control_character_templates_are_rejected(tmp_path: Path) -> None:
    long_template = "x" * 1001
    valid, problems = validate_replies(
        tmp_path,
        f"intent,template\ntrack_order,\n,No intent here\ntrack_order,{long_template}\n"
        "track_order,bell \x07 here\ntrack_order,fine\n",
    )
    assert [row["template"] for row in valid] == ["fine"]
    assert (2, "template", "required value is missing") in problems
    assert (3, "intent", "required value is missing") in problems
    assert (4, "template", "longer than 1000 characters") in problems
    assert (5, "template", "contains control characters") in problems


def test_known_placeholders_are_accepted() -> None:
    for name in TEMPLATE_PLACEHOLDERS:
        assert template_problem(f"value {{{name}}}") is None


def test_templates_are_ordered_most_specific_first_without_duplicates() -> None:
    ordered = order_templates(
        [
            ("get_refund", "Start a return from Your Orders."),
            ("get_refund", "Refund for order {order_number}."),
            ("get_refund", "Refund of {amount} for order {order_number}."),
            ("get_refund", "Start a return from Your Orders."),
            ("track_order", "Tracking {tracking_number}."),
        ]
    )
    assert ordered == {
        "get_refund": [
            "Refund of {amount} for order {order_number}.",
            "Refund for order {order_number}.",
            "Start a return from Your Orders.",
        ],
        "track_order": ["Tracking {tracking_number}."],
    }


def test_the_retailers_templates_override_per_intent_and_the_rest_keep_the_defaults() -> None:
    retailer = {
        "track_order": ["Parcel {order_number} is with the courier.", "Your parcel is with the courier."],
        "gift_wrapping": ["We gift wrap for 3 EUR."],
        "not_an_intent_of_the_model": ["Never used."],
        ESCALATION_KEY: ["A colleague takes over now."],
    }
    merged = merge_templates(["track_order", "gift_wrapping", "store_hours", "get_refund"], retailer)
    assert merged.templates["track_order"] == retailer["track_order"]
    assert merged.templates["gift_wrapping"] == ["We gift wrap for 3 EUR."]
    assert merged.templates["get_refund"] == DEFAULT_TEMPLATES["get_refund"]
    assert merged.templates["store_hours"] == []
    assert merged.templates[ESCALATION_KEY] == ["A colleague takes over now."]
    assert merged.templates[FALLBACK_KEY] == DEFAULT_TEMPLATES[FALLBACK_KEY]
    assert "not_an_intent_of_the_model" not in merged.templates
    assert merged.from_retailer == ["gift_wrapping", "track_order"]
    assert merged.from_defaults == ["get_refund"]
    assert merged.without_reply == ["store_hours"]
    assert merged.unknown_intents == ["not_an_intent_of_the_model"]

    replies = ReplyTemplates(merged.templates)
    with_number = extract_slots("where is order 12345678?").as_dict()
    assert replies.reply("track_order", with_number) == "Parcel 12345678 is with the courier."
    assert replies.reply("track_order", {}) == "Your parcel is with the courier."
    assert replies.reply("store_hours", {}) is None
    assert replies.escalation_reply({}) == "A colleague takes over now."


def test_an_intent_whose_templates_all_need_a_slot_gets_no_reply_without_it() -> None:
    merged = merge_templates(["track_order", "complaint"], {"track_order": ["Parcel {order_number} ships."]})
    assert merged.slot_only == ["track_order"]
    replies = ReplyTemplates(merged.templates)
    assert replies.reply("track_order", {}) is None
    assert replies.reply("track_order", {"order_number": "A-991"}) == "Parcel A-991 ships."


@pytest.fixture
def version(tmp_path: Path) -> Path:
    copy = tmp_path / "chat-test"
    shutil.copytree(DEFAULT_MODEL, copy)
    return copy


def write_templates(version: Path, templates: object) -> None:
    (version / "reply_templates.json").write_text(json.dumps(templates), "utf-8")


def test_smoke_test_accepts_a_merged_template_file(version: Path) -> None:
    labels = json.loads((version / "labels.json").read_text("utf-8"))["intent"]
    write_templates(
        version, merge_templates(labels, {"track_order": ["On its way: {order_number}."]}).templates
    )
    smoke_test(version)


def test_smoke_test_refuses_templates_for_an_intent_the_model_does_not_have(version: Path) -> None:
    write_templates(version, {"gift_wrapping": ["We gift wrap."]})
    with pytest.raises(ChatSmokeTestFailed, match="'gift_wrapping', which is not an intent of the model"):
        smoke_test(version)


def test_smoke_test_refuses_a_placeholder_no_slot_fills(version: Path) -> None:
    write_templates(version, {"track_order": ["Hi {customer_name}"]})
    with pytest.raises(ChatSmokeTestFailed, match=r"unknown placeholder \{customer_name\}"):
        smoke_test(version)
