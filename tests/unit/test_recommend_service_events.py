"""Storefront event validation and the file they become for ingestion."""

from __future__ import annotations

import csv
import io
import time

import pytest
from pydantic import ValidationError
from shelfwise.recommend.api_models import MAX_EVENTS_PER_BATCH, BehaviourEvent, EventBatch
from shelfwise.recommend.live_activity import as_recent, events_csv

VIEW = {"user_id": "u1", "item_id": "sku-1", "event_type": "view", "timestamp": "2026-11-27T10:00:00Z"}


def problems(payload: dict) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as raised:
        EventBatch.model_validate(payload)
    return [(".".join(str(part) for part in error["loc"]), error["msg"]) for error in raised.value.errors()]


def test_iso_and_epoch_timestamps_mean_the_same_second() -> None:
    iso = BehaviourEvent.model_validate(VIEW)
    epoch = BehaviourEvent.model_validate(VIEW | {"timestamp": iso.timestamp})
    naive = BehaviourEvent.model_validate(VIEW | {"timestamp": "2026-11-27T10:00:00"})
    offset = BehaviourEvent.model_validate(VIEW | {"timestamp": "2026-11-27T11:00:00+01:00"})
    assert iso.timestamp == epoch.timestamp == naive.timestamp == offset.timestamp == 1_795_773_600.0


def test_event_type_is_case_insensitive() -> None:
    assert BehaviourEvent.model_validate(VIEW | {"event_type": " VIEW "}).event_type == "view"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event_type": "click"}, "events.1.event_type"),
        ({"timestamp": time.time() * 1000}, "events.1.timestamp"),
        ({"timestamp": "last tuesday"}, "events.1.timestamp"),
        ({"timestamp": True}, "events.1.timestamp"),
        ({"user_id": ""}, "events.1.user_id"),
        ({"user_id": " padded"}, "events.1.user_id"),
        ({"item_id": "a\x00b"}, "events.1.item_id"),
        ({"item_id": "x" * 129}, "events.1.item_id"),
        ({"surprise": 1}, "events.1.surprise"),
        ({"event_type": "purchase"}, "events.1.value"),
        ({"event_type": "purchase", "value": -1}, "events.1.value"),
        ({"event_type": "rating"}, "events.1.value"),
        ({"event_type": "rating", "value": 11}, "events.1.value"),
        ({"value": 0}, "events.1.value"),
        ({"event_type": "cart", "value": -2}, "events.1.value"),
    ],
)
def test_a_bad_event_is_named_by_position_and_field(change: dict, field: str) -> None:
    found = problems({"events": [VIEW, VIEW | change]})
    assert [name for name, _ in found] == [field], found


def test_value_rules_explain_themselves() -> None:
    [(_, message)] = problems({"events": [VIEW | {"event_type": "purchase"}]})
    assert "purchase events need the line amount" in message


def test_batch_size_is_bounded() -> None:
    assert problems({"events": []})[0][0] == "events"
    assert problems({"events": [VIEW] * (MAX_EVENTS_PER_BATCH + 1)})[0][0] == "events"
    assert (
        len(EventBatch.model_validate({"events": [VIEW] * MAX_EVENTS_PER_BATCH}).events)
        == MAX_EVENTS_PER_BATCH
    )


def test_the_training_file_follows_the_interactions_contract() -> None:
    batch = EventBatch.model_validate(
        {
            "events": [
                VIEW | {"item_id": 'sku,"quoted"'},
                VIEW | {"event_type": "purchase", "value": 19.99, "timestamp": 1_795_773_600.25},
            ]
        }
    )
    rows = list(csv.DictReader(io.StringIO(events_csv(batch.events).decode())))
    assert rows == [
        {
            "user_id": "u1",
            "item_id": 'sku,"quoted"',
            "event_type": "view",
            "value": "",
            "timestamp": "2026-11-27T10:00:00.000Z",
        },
        {
            "user_id": "u1",
            "item_id": "sku-1",
            "event_type": "purchase",
            "value": "19.99",
            "timestamp": "2026-11-27T10:00:00.250Z",
        },
    ]
    # Stored in activity at the same second ingestion will compute for it, so the two merges dedupe.
    assert as_recent(batch.events[1]).ts == 1_795_773_600
