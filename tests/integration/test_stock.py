"""The out-of-stock list: published when inventory is ingested (newest file wins), read by serving."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto_platform import local_platform
from shelfwise.curated import read_stock_positions
from shelfwise.ingest.pipeline import IngestTargets, ingest_object
from shelfwise.stock import OUT_OF_STOCK_KEY, OutOfStock
from shelfwise_infra import spec

pytestmark = pytest.mark.integration

BUCKET = spec.DATA_BUCKET.local_name
HEADER = (
    "sku,location,on_hand,on_order,lead_time_days,lead_time_sd_days,unit_cost,order_cost,holding_cost_rate,"
    "moq,pack_size"
)
TARGETS = IngestTargets(
    data_bucket=BUCKET,
    catalog_table=spec.CATALOG_TABLE.local_name,
    user_activity_table=spec.USER_ACTIVITY_TABLE.local_name,
)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with local_platform(monkeypatch, "ingest"):
        yield boto3.client("s3")


def ingest_inventory(s3: Any, name: str, positions: list[tuple[str, str, float]]) -> None:
    lines = [HEADER] + [
        f"{sku},{location},{on_hand},0,7,2,3.5,20,0.2,1,1" for sku, location, on_hand in positions
    ]
    key = f"incoming/inventory/{name}.csv"
    s3.put_object(Bucket=BUCKET, Key=key, Body="\n".join(lines).encode())
    manifest = ingest_object(BUCKET, key, s3.head_object(Bucket=BUCKET, Key=key)["ETag"], TARGETS)
    assert manifest.rows_landed == len(positions)


def published(s3: Any) -> dict[str, Any]:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=OUT_OF_STOCK_KEY)["Body"].read())


def test_an_item_is_out_of_stock_only_when_no_location_has_any(s3: Any) -> None:
    ingest_inventory(
        s3,
        "monday",
        [
            ("empty", "north", 0),
            ("empty", "south", 0),
            ("half", "north", 0),
            ("half", "south", 4),
            ("full", "north", 9),
        ],
    )
    body = published(s3)
    assert body["out_of_stock"] == ["empty"]
    assert body["skus_tracked"] == 3


def test_a_newer_file_overrides_only_the_positions_it_lists(s3: Any) -> None:
    ingest_inventory(s3, "monday", [("a", "north", 5), ("a", "south", 0), ("b", "north", 3)])
    ingest_inventory(s3, "tuesday", [("a", "north", 0), ("b", "north", 0)])
    positions = {
        (row["sku"], row["location"]): row["on_hand"]
        for row in read_stock_positions(bucket=BUCKET).to_pylist()
    }
    assert positions == {("a", "north"): 0, ("a", "south"): 0, ("b", "north"): 0}
    assert published(s3)["out_of_stock"] == ["a", "b"]
    ingest_inventory(s3, "wednesday", [("b", "north", 12)])
    assert published(s3)["out_of_stock"] == ["a"]


def test_serving_reads_the_list_on_its_schedule_and_survives_a_broken_one(s3: Any) -> None:
    now = [0.0]
    reader = OutOfStock(BUCKET, refresh_seconds=60, clock=lambda: now[0])
    assert reader.items() == frozenset()  # nothing published yet: nothing is known to be out of stock
    ingest_inventory(s3, "monday", [("a", "north", 0)])
    assert reader.items() == frozenset()  # still within the refresh interval
    now[0] = 61.0
    assert reader.items() == {"a"}
    s3.put_object(Bucket=BUCKET, Key=OUT_OF_STOCK_KEY, Body=b"{not json")
    now[0] = 122.0
    assert reader.items() == {"a"}  # a broken list keeps the last good one
