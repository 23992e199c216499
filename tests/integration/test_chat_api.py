"""`POST /v1/chat/messages` through the real handler against moto: sessions, escalation events, bad input."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto_platform import local_platform, pseudonymizer
from shelfwise.auth import Principal
from shelfwise.chat.model import ChatModel
from shelfwise.model_serving import ModelStore
from shelfwise.settings import Settings
from shelfwise_infra import spec
from shelfwise_local.functions import context_for, load_handler

pytestmark = pytest.mark.integration

EVENTS = spec.EVENTS_DIR / "chat"
CHAT = spec.function("chat")
SECRET_EMAIL = "jane.roe@example.com"
SECRET_CARD = "4111 1111 1111 1111"


@dataclass
class ChatCloud:
    crm_queue_url: str
    sessions_table: str

    def escalations(self) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs")
        found = []
        while True:
            messages = sqs.receive_message(QueueUrl=self.crm_queue_url, MaxNumberOfMessages=10).get(
                "Messages"
            )
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.crm_queue_url, ReceiptHandle=message["ReceiptHandle"])

    def session_item(self, session_id: str) -> dict[str, Any] | None:
        table = boto3.resource("dynamodb").Table(self.sessions_table)
        return table.get_item(Key={"session_id": session_id}).get("Item")


def fresh_model_store(module: Any) -> ModelStore[ChatModel]:
    return ModelStore(
        "chat",
        ChatModel.load,
        models_table=lambda: Settings.from_env().models_table,
        refresh_seconds=0,
        fallback=lambda: ChatModel.load(module.DEFAULT_MODEL_DIR),
        fallback_version="default",
    )


@pytest.fixture
def chat_cloud(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ChatCloud]:
    with local_platform(monkeypatch, CHAT.name):
        sqs = boto3.client("sqs")
        queue_url = sqs.create_queue(QueueName="crm")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events = boto3.client("events")
        events.put_rule(
            Name="crm-chat",
            EventBusName=spec.EVENT_BUS.local_name,
            EventPattern=json.dumps({"detail-type": ["ChatEscalated"]}),
        )
        events.put_targets(
            Rule="crm-chat", EventBusName=spec.EVENT_BUS.local_name, Targets=[{"Id": "crm", "Arn": queue_arn}]
        )
        module = __import__("sys").modules[load_handler("chat").__module__]
        monkeypatch.setattr(module, "model_store", fresh_model_store(module))
        module._service.cache_clear()
        yield ChatCloud(crm_queue_url=queue_url, sessions_table=spec.CHAT_SESSIONS_TABLE.local_name)
        module._service.cache_clear()


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text("utf-8"))


def with_body(body: Any, name: str = "post-message") -> dict[str, Any]:
    event = copy.deepcopy(sample(name))
    event["body"] = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return event


def call(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = load_handler("chat")(event, context_for(CHAT))
    return response["statusCode"], json.loads(response["body"])


def test_the_sample_message_is_triaged_with_a_reply_naming_the_order(chat_cloud: ChatCloud) -> None:
    status, body = call(sample("post-message"))
    assert status == 200
    assert body["session_id"] == "chat-7f3a9c" and body["message_id"] == "m-0001"
    assert body["intent"] == "track_order" and "48213377" in body["reply"]
    assert body["sentiment"]["label"] in {"negative", "neutral", "positive"}
    assert body["model_version"] == "default"
    assert {"confidence", "top_intents", "escalate", "priority", "reasons", "redacted_text"} <= body.keys()
    item = chat_cloud.session_item("chat-7f3a9c")
    assert item is not None and item["message_count"] == 1 and item["expires_at"] > 0


def test_an_escalation_reaches_the_crm_once_even_when_the_request_is_retried(chat_cloud: ChatCloud) -> None:
    event = sample("post-message-escalation")
    status, body = call(event)
    assert status == 200 and body["escalate"] and body["priority"] in {"P1", "P2"}
    status_again, body_again = call(event)
    assert status_again == 200 and body_again == body
    delivered = chat_cloud.escalations()
    assert len(delivered) == 1
    event_detail = delivered[0]["detail"]
    assert delivered[0]["detail-type"] == "ChatEscalated" and delivered[0]["source"] == "shelfwise"
    assert event_detail["session_id"] == "chat-b21e07" and event_detail["priority"] == body["priority"]
    assert SECRET_EMAIL not in json.dumps(delivered) and "[EMAIL]" in event_detail["redacted_text"]
    assert event_detail["reasons"] == body["reasons"] and event_detail["model_version"] == "default"


def test_a_message_without_a_session_starts_one_and_the_next_message_continues_it(
    chat_cloud: ChatCloud,
) -> None:
    status, first = call(with_body({"text": "Do you deliver on Saturdays?"}))
    assert status == 200 and first["session_id"]
    status, second = call(with_body({"text": "And to Norway?", "session_id": first["session_id"]}))
    assert status == 200 and second["session_id"] == first["session_id"]
    assert chat_cloud.session_item(first["session_id"])["message_count"] == 2


def test_chinese_messages_are_answered(chat_cloud: ChatCloud) -> None:
    status, body = call(sample("post-message-chinese"))
    assert status == 200 and body["sentiment"]["label"] == "negative"


@pytest.mark.parametrize(
    ("event_name", "status", "field"),
    [
        ("post-message-empty-text", 422, "body.text"),
        ("post-message-text-too-long", 422, "body.text"),
        ("post-message-text-not-a-string", 422, "body.text"),
        ("post-message-invalid-session-id", 422, "body.session_id"),
        ("post-message-not-json", 400, "body"),
        ("post-message-invalid-utf8", 400, "body"),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_field(
    chat_cloud: ChatCloud, event_name: str, status: int, field: str
) -> None:
    got, body = call(sample(event_name))
    assert got == status
    assert field in [detail["field"] for detail in body["error"]["details"]]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"session_id": "s-1"}, "body.text"),
        ({"text": None}, "body.text"),
        ({"text": ["where", "is", "my", "order"]}, "body.text"),
        ({"text": "hello\u0000there"}, "body.text"),
        ({"text": "bell \u0007 sound"}, "body.text"),
        ({"text": "broken \ud800 surrogate"}, "body.text"),
        ({"text": "ok", "message_id": "has spaces"}, "body.message_id"),
        ({"text": "ok", "session_id": ""}, "body.session_id"),
        (["not", "an", "object"], "body"),
    ],
)
def test_more_bad_bodies_are_refused_naming_the_field(
    chat_cloud: ChatCloud, payload: Any, field: str
) -> None:
    status, body = call(with_body(json.dumps(payload)))
    assert status == 422
    assert any(detail["field"].startswith(field) for detail in body["error"]["details"]), body


def test_raw_text_never_reaches_the_logs(
    chat_cloud: ChatCloud, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    text = f"I'm furious! Refund my card {SECRET_CARD} and email me at {SECRET_EMAIL}, I want a human."
    status, body = call(with_body({"text": text, "session_id": "pii-logs"}))
    assert status == 200 and body["escalate"]
    call(with_body({"text": text + "\x07", "session_id": "pii-logs"}))  # refused: control character
    printed = capsys.readouterr()
    # Every attribute of every record (message, extra keys, exception text), plus whatever was printed.
    records = [json.dumps(record.__dict__, default=str) for record in caplog.records]
    output = printed.out + printed.err + "\n".join(records) + caplog.text
    assert "chat message triaged" in output and "text_chars" in output
    # At debug level the AWS SDK logs request bodies, which may carry the redacted text; never the raw one.
    for secret in (SECRET_EMAIL, SECRET_CARD, "4111111111111111", text):
        assert secret not in output
    stored = json.dumps(chat_cloud.session_item("pii-logs"), default=str)
    assert SECRET_EMAIL not in stored and SECRET_CARD not in stored


def as_customer(event: dict[str, Any], customer_id: str) -> dict[str, Any]:
    event = copy.deepcopy(event)
    event["requestContext"]["authorizer"] = Principal("customer", customer_id).authorizer_context()
    return event


def test_another_customer_can_neither_read_nor_hijack_a_session(chat_cloud: ChatCloud) -> None:
    victim = {
        "session_id": "cust-1042",
        "message_id": "1",
        "text": "Hi, can you help me track order 98765432? My e-mail is jane.victim@example.com",
    }
    status, answer = call(as_customer(with_body(victim), "c-1042"))
    assert status == 200 and "98765432" in answer["reply"]

    for attempt in (
        {**victim, "text": "hello"},
        victim,
        {**victim, "message_id": "2", "text": "I will sue you!"},
    ):
        status, body = call(as_customer(with_body(attempt), "c-6666"))
        assert status == 403 and body["error"]["code"] == "forbidden"
        assert "98765432" not in json.dumps(body) and "jane" not in json.dumps(body)
    assert chat_cloud.escalations() == []
    item = chat_cloud.session_item("cust-1042")
    assert item is not None and item["message_count"] == 1 and "escalation_priority" not in item
    # The table knows the session's owner only by the customer's keyed pseudonym, as every other store does.
    assert "c-1042" not in json.dumps(item, default=str)
    assert item["owner"] == pseudonymizer().pseudonym("c-1042")


def test_a_message_id_reused_for_another_text_is_a_conflict(chat_cloud: ChatCloud) -> None:
    first = {"session_id": "reuse-1", "message_id": "1", "text": "Where is my order 98765432?"}
    assert call(as_customer(with_body(first), "c-1"))[0] == 200
    status, body = call(as_customer(with_body({**first, "text": "hello"}), "c-1"))
    assert status == 409 and body["error"]["code"] == "message_id_reused"
    assert "98765432" not in json.dumps(body)


def test_a_request_without_an_authorizer_verdict_is_refused(chat_cloud: ChatCloud) -> None:
    event = sample("post-message")
    del event["requestContext"]["authorizer"]
    status, body = call(event)
    assert status == 401 and body["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("session_id", "4532015112830366"),
        ("session_id", "DE89370400440532013000"),
        ("message_id", "+4915112345678"),
        ("message_id", "192.168.10.20"),
    ],
)
def test_ids_that_carry_personal_data_are_refused(chat_cloud: ChatCloud, field: str, value: str) -> None:
    status, body = call(with_body({"text": "Where is my order?", field: value}))
    assert status == 422 and body["error"]["details"][0]["field"] == f"body.{field}"
    assert value not in json.dumps(body)
    assert chat_cloud.session_item(value) is None
