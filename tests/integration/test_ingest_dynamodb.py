"""The DynamoDB adapter's parallel batch reads and writes, and the block-wise activity merge, against moto."""

from __future__ import annotations

from typing import Any

import pytest
from moto_platform import pseudonymizer
from shelfwise.aws import dynamodb
from shelfwise.ingest import pipeline
from shelfwise.ingest.activity import RecentEvent, activity_item, decode_recent
from shelfwise.ingest.pipeline import IngestTargets, ingest_object

pytestmark = pytest.mark.integration

BUCKET = "shelfwise-data"  # the bucket the shared `ingest_s3` fixture creates
TARGETS = IngestTargets(
    data_bucket=BUCKET,
    catalog_table="catalog",
    user_activity_table="activity",
    customer_ids_table="customer-ids",
)


@pytest.fixture
def aws(ingest_s3: Any) -> Any:
    return ingest_s3


def test_parallel_writes_keep_the_last_item_given_for_each_key(aws: Any) -> None:
    # 1,000 distinct items then a second version of every tenth one, spanning several write rounds.
    items = [{"item_id": f"sku-{n}", "title": "first"} for n in range(1000)]
    items += [{"item_id": f"sku-{n}", "title": "second"} for n in range(0, 1000, 10)]
    items += [{"item_id": "sku-5", "title": "a"}, {"item_id": "sku-5", "title": "last"}]

    assert dynamodb.batch_put("catalog", iter(items), key_names=["item_id"], workers=3) == len(items)

    stored = dynamodb.batch_get("catalog", "item_id", [f"sku-{n}" for n in range(1000)])
    assert len(stored) == 1000
    assert stored["sku-10"]["title"] == "second" and stored["sku-11"]["title"] == "first"
    assert stored["sku-5"]["title"] == "last"


def test_batch_get_reads_many_keys_in_parallel_and_only_the_asked_attributes(aws: Any) -> None:
    dynamodb.batch_put(
        "catalog",
        ({"item_id": f"sku-{n}", "title": f"t{n}", "brand": "b"} for n in range(250)),
        key_names=["item_id"],
    )

    found = dynamodb.batch_get("catalog", "item_id", [f"sku-{n}" for n in range(260)], attributes=["title"])

    assert len(found) == 250 and "sku-255" not in found
    assert found["sku-249"] == {"item_id": "sku-249", "title": "t249"}


def test_activity_is_merged_with_stored_items_block_by_block(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "ACTIVITY_USERS_PER_BLOCK", 2)
    user = pseudonymizer().pseudonym
    dynamodb.batch_put_typed(
        "activity",
        [activity_item(user("u3"), [RecentEvent("old", "view", 1_700_000_000)])],
        key_names=["user_id"],
    )
    body = "user_id,item_id,event_type,value,timestamp\n" + "".join(
        f"u{n},sku-{n},cart,1,{1_761_955_200 + n}\n" for n in range(5)
    )
    key = "incoming/interactions/blocks.csv"
    aws.put_object(Bucket=BUCKET, Key=key, Body=body.encode())

    manifest = ingest_object(
        BUCKET,
        key,
        aws.head_object(Bucket=BUCKET, Key=key)["ETag"],
        TARGETS,
        s3_client=aws,
        pseudonymizer=pseudonymizer(),
    )

    assert manifest.dynamodb_items_written == 5
    stored = dynamodb.batch_get("activity", "user_id", [user(f"u{n}") for n in range(5)])
    assert set(stored) == {user(f"u{n}") for n in range(5)}
    assert decode_recent(stored[user("u3")]["recent"]) == [
        ("sku-3", "cart", 1_761_955_203),
        ("old", "view", 1_700_000_000),
    ]
    assert stored[user("u3")]["format_version"] == 1
    assert stored[user("u3")]["expires_at"] == 1_761_955_203 + 90 * 86_400


def test_a_stored_item_that_cannot_be_read_is_replaced_not_fatal(aws: Any) -> None:
    user = pseudonymizer().pseudonym
    dynamodb.batch_put(
        "activity",
        [
            {"user_id": user("u1"), "recent": "[[broken", "format_version": 1},
            {"user_id": user("u2"), "recent": [{"item_id": "old", "event_type": "view", "ts": 1}]},
        ],
        key_names=["user_id"],
    )
    body = (
        "user_id,item_id,event_type,value,timestamp\nu1,sku-1,view,1,1761955200\nu2,sku-2,cart,1,1761955201\n"
    )
    key = "incoming/interactions/over-damaged.csv"
    aws.put_object(Bucket=BUCKET, Key=key, Body=body.encode())

    manifest = ingest_object(
        BUCKET,
        key,
        aws.head_object(Bucket=BUCKET, Key=key)["ETag"],
        TARGETS,
        s3_client=aws,
        pseudonymizer=pseudonymizer(),
    )

    assert manifest.status == "landed" and manifest.dynamodb_items_written == 2
    stored = dynamodb.batch_get("activity", "user_id", [user("u1"), user("u2")])
    assert decode_recent(stored[user("u1")]["recent"]) == [("sku-1", "view", 1_761_955_200)]
    assert decode_recent(stored[user("u2")]["recent"]) == [("sku-2", "cart", 1_761_955_201)]


def test_typed_writes_and_reads_keep_the_last_item_per_key(aws: Any) -> None:
    items = [{"user_id": {"S": f"u{n}"}, "note": {"S": "first"}} for n in range(120)]
    items.append({"user_id": {"S": "u7"}, "note": {"S": "last"}})

    assert dynamodb.batch_put_typed("activity", iter(items), key_names=["user_id"], workers=2) == 121

    found = dynamodb.batch_get_typed(
        "activity", "user_id", [f"u{n}" for n in range(130)], attributes=["note"]
    )
    assert len(found) == 120 and "u125" not in found
    assert found["u7"] == {"user_id": {"S": "u7"}, "note": {"S": "last"}}
    assert dynamodb.batch_get("activity", "user_id", ["u8"])["u8"] == {"user_id": "u8", "note": "first"}
