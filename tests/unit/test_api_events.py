"""Publishing integration events to EventBridge: chunking, failures, bus selection."""

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws
from shelfwise import settings
from shelfwise.aws.events import MAX_ENTRIES_PER_CALL, Event, PublishError, publish, put_events


class RecordingClient:
    """Stands in for the EventBridge client; fails the entries whose detail-type is listed."""

    def __init__(self, failing_detail_types: frozenset[str] = frozenset()) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.failing = failing_detail_types

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Entries)
        results = []
        for number, entry in enumerate(Entries):
            if entry["DetailType"] in self.failing:
                results.append({"ErrorCode": "InternalFailure", "ErrorMessage": "try again"})
            else:
                results.append({"EventId": f"{len(self.calls)}-{number}"})
        return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}


def test_entries_are_sent_in_chunks_of_ten_to_the_named_bus() -> None:
    fake = RecordingClient()
    events = [Event(detail_type="Model Promoted", detail={"n": n}) for n in range(23)]
    ids = put_events(events, bus_name="shelfwise", events_client=fake)
    assert [len(call) for call in fake.calls] == [10, 10, 3]
    assert MAX_ENTRIES_PER_CALL == 10
    assert len(ids) == 23
    first = fake.calls[0][0]
    assert first["EventBusName"] == "shelfwise"
    assert first["Source"] == "shelfwise"
    assert json.loads(first["Detail"]) == {"n": 0}


def test_failed_entries_raise_naming_them_after_all_chunks_were_tried() -> None:
    fake = RecordingClient(failing_detail_types=frozenset({"Chat Escalated"}))
    events = [Event(detail_type="Model Promoted", detail={}) for _ in range(12)]
    events.insert(11, Event(detail_type="Chat Escalated", detail={"session_id": "s1"}))
    with pytest.raises(PublishError) as raised:
        put_events(events, bus_name="shelfwise", events_client=fake)
    assert raised.value.failures == [("Chat Escalated", "InternalFailure", "try again")]
    assert "Chat Escalated" in str(raised.value)
    assert len(fake.calls) == 2


def test_bus_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.EVENT_BUS_ENV, "shelfwise-prod")
    fake = RecordingClient()
    publish("Replenishment Plan Ready", {"date": "2026-03-01"}, events_client=fake)
    assert fake.calls[0][0]["EventBusName"] == "shelfwise-prod"


def test_missing_bus_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(settings.EVENT_BUS_ENV, raising=False)
    with pytest.raises(RuntimeError, match=settings.EVENT_BUS_ENV):
        publish("Model Promoted", {}, events_client=RecordingClient())


def test_oversized_event_is_refused_before_sending() -> None:
    fake = RecordingClient()
    with pytest.raises(ValueError, match="Big"):
        put_events([Event(detail_type="Big", detail={"x": "y" * 300_000})], bus_name="b", events_client=fake)
    assert fake.calls == []


def test_publishes_to_a_real_bus_api(aws_credentials: None) -> None:
    with mock_aws():
        boto3.client("events").create_event_bus(Name="shelfwise")
        event_id = publish("Model Promoted", {"model_name": "recommender"}, bus_name="shelfwise")
    assert event_id
