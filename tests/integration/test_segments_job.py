"""The scheduled segmentation function against moto: curated parquet in, table items and exports out.

Curated data holds customer pseudonyms, as ingestion lands it; the table keeps them, and the CRM export names
customers by the retailer's ids from the vault of customer ids.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from moto_platform import local_platform, pseudonymizer
from shelfwise.curated import INTERACTIONS_SCHEMA, part_key, table_to_parquet_bytes
from shelfwise.privacy.identities import CustomerIdVault
from shelfwise.privacy.pseudonyms import is_pseudonym
from shelfwise_infra import spec
from shelfwise_local.functions import context_for, load_handler

pytestmark = pytest.mark.integration

EVENTS = spec.EVENTS_DIR / "segments"
BUCKET = spec.DATA_BUCKET.local_name
TABLE = spec.SEGMENTS_TABLE.local_name
AS_OF = dt.date(2025, 6, 1)  # the sample event fires at 2025-06-02T01:30Z and scores the day before


def days_before_as_of(days: int, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(AS_OF - dt.timedelta(days=days), dt.time(hour), tzinfo=dt.UTC)


# Same shape as the unit-test store: one user per well-known segment, plus a browser who never bought.
ROWS = [
    ("ann", "purchase", 100.0, days_before_as_of(1)),
    ("ann", "purchase", 150.0, days_before_as_of(11)),
    ("ann", "purchase", 100.0, days_before_as_of(21)),
    ("ann", "purchase", 150.0, days_before_as_of(31)),
    ("bob", "purchase", 20.0, days_before_as_of(2)),
    ("eve", "purchase", 60.0, days_before_as_of(30)),
    ("eve", "purchase", 40.0, days_before_as_of(29)),
    ("cat", "purchase", 100.0, days_before_as_of(90)),
    ("cat", "purchase", 100.0, days_before_as_of(80)),
    ("cat", "purchase", 200.0, days_before_as_of(60)),
    ("dan", "purchase", 10.0, days_before_as_of(200)),
    ("fay", "view", 1.0, days_before_as_of(3)),
    ("fay", "cart", 1.0, days_before_as_of(3)),
    ("late", "purchase", 70.0, days_before_as_of(-1)),  # after as_of: not part of this run
]
EXPECTED_SEGMENTS = {
    "ann": "champions",
    "bob": "potential_loyalists",
    "eve": "need_attention",
    "cat": "at_risk",
    "dan": "lost",
    "fay": "prospects",
}


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def write_curated_interactions(rows: list[tuple[str, str, float, dt.datetime]]) -> None:
    """Lays the rows out as ingestion does: customer ids pseudonymized (and remembered in the vault), one part
    per event date under dt=YYYY-MM-DD."""
    pseudonym = pseudonymizer().pseudonym
    CustomerIdVault(spec.CUSTOMER_IDS_TABLE.local_name).remember({pseudonym(u): u for u, *_ in rows})
    table = pa.Table.from_pylist(
        [
            {"user_id": pseudonym(u), "item_id": f"sku-{i}", "event_type": k, "value": v, "timestamp": t}
            for i, (u, k, v, t) in enumerate(rows)
        ],
        schema=INTERACTIONS_SCHEMA,
    )
    s3 = boto3.client("s3")
    days = pc.cast(table["timestamp"], pa.date32())
    for day in pc.unique(days).to_pylist():
        part = table.filter(pc.equal(days, pa.scalar(day, pa.date32())))
        key = part_key("interactions", "f00d", partition=f"dt={day.isoformat()}")
        s3.put_object(Bucket=BUCKET, Key=key, Body=table_to_parquet_bytes(part))


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with local_platform(monkeypatch, "segments"):
        yield


def run_segments(event: dict[str, Any]) -> dict[str, Any]:
    return load_handler("segments")(event, context_for(spec.function("segments")))


def table_items() -> dict[str, dict[str, Any]]:
    """The segments table's items by customer: the table is keyed by pseudonyms, never the retailer's ids."""
    items = boto3.resource("dynamodb").Table(TABLE).scan()["Items"]
    assert all(is_pseudonym(item["user_id"]) for item in items)
    customers = {pseudonymizer().pseudonym(user): user for user, *_ in ROWS}
    return {customers[item["user_id"]]: item for item in items}


def read_text(key: str) -> str:
    return boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read().decode("utf-8")


def test_sample_event_is_a_real_eventbridge_scheduled_event() -> None:
    event = load_event("scheduled-event.json")

    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["resources"][0].endswith(":rule/shelfwise-segment-customers")
    assert spec.schedule("segment-customers").function == "segments"


def test_scheduled_run_scores_every_customer_into_the_table(cloud: None) -> None:
    write_curated_interactions(ROWS)

    result = run_segments(load_event("scheduled-event.json"))

    assert result["status"] == "succeeded"
    assert result["as_of"] == "2025-06-01"
    assert result["users_scored"] == 6 and result["prospects"] == 1
    items = table_items()
    assert {user: item["segment"] for user, item in items.items()} == EXPECTED_SEGMENTS
    ann = items["ann"]
    assert (ann["r"], ann["f"], ann["m"]) == (5, 5, 5)
    assert ann["recency_days"] == 1 and ann["frequency"] == 4 and float(ann["monetary"]) == 500.0
    assert ann["high_value"] is True
    assert ann["as_of"] == "2025-06-01" and ann["scored_at"].startswith("20")
    assert "r" not in items["fay"]


def test_scheduled_run_exports_csv_and_summary_for_the_day_and_as_latest(cloud: None) -> None:
    write_curated_interactions(ROWS)

    result = run_segments(load_event("scheduled-event.json"))

    for folder in ("2025-06-01", "latest"):
        rows = list(csv.DictReader(io.StringIO(read_text(f"segments/{folder}/segments.csv"))))
        # For the CRM: the retailer's own ids, sorted, and no pseudonym.
        assert {row["customer_id"]: row["segment"] for row in rows} == EXPECTED_SEGMENTS
        assert [row["customer_id"] for row in rows] == sorted(EXPECTED_SEGMENTS)
        assert "user_id" not in rows[0] and "ps_" not in read_text(f"segments/{folder}/segments.csv")
        summary = json.loads(read_text(f"segments/{folder}/summary.json"))
        assert summary["as_of"] == "2025-06-01"
        assert summary["segments"]["champions"]["users"] == 1
        assert summary["segments"]["champions"]["revenue_share"] == pytest.approx(500 / 1030, abs=1e-4)
    assert sorted(result["exports"]) == sorted(
        f"segments/{folder}/{name}"
        for folder in ("2025-06-01", "latest")
        for name in ("segments.csv", "summary.json")
    )


def test_running_the_same_event_twice_gives_the_same_table(cloud: None) -> None:
    write_curated_interactions(ROWS)
    event = load_event("scheduled-event.json")

    run_segments(event)
    first = {
        user: {k: v for k, v in item.items() if k != "scored_at"} for user, item in table_items().items()
    }
    run_segments(event)
    second = {
        user: {k: v for k, v in item.items() if k != "scored_at"} for user, item in table_items().items()
    }

    assert first == second


def test_no_data_is_a_successful_run_that_says_it_scored_nobody(cloud: None) -> None:
    result = run_segments(load_event("scheduled-event.json"))

    assert result["status"] == "succeeded"
    assert result["users_scored"] == 0
    assert "scored 0 users" in result["message"]
    assert table_items() == {}
    assert read_text("segments/latest/segments.csv").splitlines()[0].startswith('"customer_id","segment"')


def test_a_backfill_of_an_older_day_keeps_the_newer_published_segments(cloud: None) -> None:
    write_curated_interactions(ROWS)
    run_segments(load_event("scheduled-event.json"))
    published = read_text("segments/latest/summary.json")

    result = run_segments(load_event("scheduled-event-backfill.json"))

    assert result["as_of"] == "2025-05-01" and result["published"] is False
    assert read_text("segments/latest/summary.json") == published
    assert json.loads(read_text("segments/2025-05-01/summary.json"))["as_of"] == "2025-05-01"
    assert table_items()["ann"]["as_of"] == "2025-06-01"


@pytest.mark.parametrize("as_of", ["last tuesday", "2025-06-03"])
def test_a_malformed_or_future_as_of_is_rejected_with_the_field_named(cloud: None, as_of: str) -> None:
    event = load_event("scheduled-event.json")  # sent on 2025-06-02
    event["detail"] = {"as_of": as_of}

    result = run_segments(event)

    assert result["status"] == "rejected"
    assert [error["field"] for error in result["errors"]] == ["detail.as_of"]
    assert boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="segments/").get("KeyCount") == 0
