"""The right to erasure through a real `shelfwise local up`: a customer's data in every store, a DELETE, the
erasure job, then a scan of every S3 object and every DynamoDB item for their id and pseudonym."""

from __future__ import annotations

import csv
import gzip
import io
import json
import tarfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
from shelfwise.privacy.pseudonyms import Pseudonymizer
from shelfwise_infra import spec
from shelfwise_local.demo import generate_shop
from shelfwise_local.tokens import DevKeys
from test_local_cloud import BUCKET, RunningCloud, run_cli, start_cloud, wait_for_manifest, wait_until_idle

pytestmark = pytest.mark.integration

ERASED = "erase-me-4242"
RUN_TIMEOUT = 600.0
INGEST_TIMEOUT = 120.0
HEADER = ["user_id", "item_id", "event_type", "value", "timestamp"]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    workspace = tmp_path_factory.mktemp("erasure")
    running = start_cloud(workspace / "state", workspace)
    yield running
    running.stop()


def run_schedule(cloud: RunningCloud, name: str) -> str:
    result = run_cli(
        "run", name, "--wait", "--timeout", str(RUN_TIMEOUT), "--state-dir", str(cloud.state_dir),
        cwd=cloud.state_dir.parent, timeout=RUN_TIMEOUT + 60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr + "\n--- log ---\n" + cloud.log()[-6000:]
    return result.stdout


def csv_bytes(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def shop_files(workspace: Path) -> tuple[bytes, bytes, list[str]]:
    """A tiny shop: its catalog, and its interactions with the erased customer's history added."""
    files = generate_shop(
        workspace, seed=11, n_items=40, n_users=25, interaction_days=30, n_skus=2, sales_days=30,
        mean_views_per_user=20.0, data_issues=False,
    )  # fmt: skip
    with gzip.open(files["interactions"], "rt", encoding="utf-8", newline="") as handle:
        rows = [[row[name] for name in HEADER] for row in csv.DictReader(handle)]
    donor = rows[0][0]
    rows += [[ERASED, *row[1:]] for row in rows if row[0] == donor]
    others = sorted({row[0] for row in rows} - {ERASED})
    return files["catalog"].read_bytes(), csv_bytes(rows), others


def every_object(cloud: RunningCloud) -> dict[str, str]:
    """Every object of the data bucket as text: Parquet decoded, gzip and tar unpacked, JSON and CSV as is."""
    s3 = cloud.client("s3")
    found: dict[str, str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for entry in page.get("Contents", []):
            key = entry["Key"]
            body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
            found[key] = as_text(key, body)
    return found


def as_text(key: str, body: bytes) -> str:
    if key.endswith(".parquet"):
        return json.dumps(pq.read_table(pa.BufferReader(body)).to_pylist(), default=str)
    if key.endswith((".tar.gz", ".tgz")):
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
            return "\n".join(
                as_text(member.name, archive.extractfile(member).read())  # type: ignore[union-attr]
                for member in archive.getmembers()
                if member.isfile()
            )
    if body[:2] == b"\x1f\x8b":
        return as_text(key.removesuffix(".gz"), gzip.decompress(body))
    return body.decode("utf-8", errors="replace")


def every_item(cloud: RunningCloud) -> dict[str, str]:
    dynamodb = cloud.client("dynamodb")
    found = {}
    for name in dynamodb.list_tables()["TableNames"]:
        items = []
        for page in dynamodb.get_paginator("scan").paginate(TableName=name):
            items.extend(page["Items"])
        found[name] = json.dumps(items)
    return found


def hits(texts: dict[str, str], *needles: str) -> list[str]:
    return [name for name, text in texts.items() if any(needle in text for needle in needles)]


def model_users(cloud: RunningCloud, version: str) -> list[str]:
    body = cloud.client("s3").get_object(Bucket=BUCKET, Key=f"models/recommender/{version}/users.json")[
        "Body"
    ]
    return json.loads(body.read())["user_ids"]


def newest_recommender_version(cloud: RunningCloud) -> str:
    listing = cloud.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="models/recommender/", Delimiter="/")
    versions = sorted(prefix["Prefix"].split("/")[2] for prefix in listing.get("CommonPrefixes", []))
    assert versions, "no recommender version was unpacked"
    return versions[-1]


def test_an_erased_customer_leaves_no_trace_and_the_next_model_does_not_know_them(
    cloud: RunningCloud,
) -> None:
    pseudonym = Pseudonymizer.from_secret_text(DevKeys.load_or_create(cloud.state_dir).pseudonym).pseudonym(
        ERASED
    )
    catalog, interactions, others = shop_files(cloud.state_dir.parent / "shop")
    operator = cloud.operator_headers()

    # Their data arrives through every door: a delivered file, a re-delivery with a bad row, storefront events
    # and chat.
    cloud.drop("catalog", "catalog.csv", catalog)
    wait_for_manifest(cloud, "catalog", "incoming/catalog/catalog.csv", INGEST_TIMEOUT)
    cloud.drop("interactions", "interactions.csv", interactions)
    wait_for_manifest(cloud, "interactions", "incoming/interactions/interactions.csv", INGEST_TIMEOUT)
    stamp = "2026-01-02T10:00:00Z"
    late = csv_bytes([[ERASED, "I00001", "like", "1", stamp], [others[0], "I00002", "view", "1", stamp]])
    cloud.drop("interactions", "late.csv", late)
    wait_for_manifest(cloud, "interactions", "incoming/interactions/late.csv", INGEST_TIMEOUT)
    now = datetime.now(UTC)
    shopper = cloud.customer_headers(ERASED)
    event = {"user_id": ERASED, "item_id": "I00003", "event_type": "view", "timestamp": now.isoformat()}
    posted = requests.post(
        f"{cloud.api_url}/v1/events", json={"events": [event]}, headers=shopper, timeout=30
    )
    assert posted.status_code == 200, posted.text
    chat = {"session_id": "erase-chat-1", "message_id": "m-1", "text": "Where is my order 48213377?"}
    answered = requests.post(f"{cloud.api_url}/v1/chat/messages", json=chat, headers=shopper, timeout=60)
    assert answered.status_code == 200, answered.text
    wait_until_idle(cloud, timeout=INGEST_TIMEOUT)
    run_schedule(cloud, "segment-customers")
    run_schedule(cloud, "train-recommender")
    before = newest_recommender_version(cloud)
    users_before = model_users(cloud, before)
    assert pseudonym in users_before or ERASED in users_before
    assert hits(every_object(cloud), ERASED, pseudonym) and hits(every_item(cloud), ERASED, pseudonym)
    curated_users_before, segmented_before = curated_users(cloud), segmented(cloud)

    # Someone listens for the event the erasure publishes.
    sqs, events = cloud.client("sqs"), cloud.client("events")
    queue_url = sqs.create_queue(QueueName="privacy-audit")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="privacy-audit",
        EventBusName=spec.EVENT_BUS.local_name,
        EventPattern=json.dumps({"detail-type": ["CustomerErased"]}),
    )
    events.put_targets(
        Rule="privacy-audit", EventBusName=spec.EVENT_BUS.local_name, Targets=[{"Id": "q", "Arn": queue_arn}]
    )

    accepted = requests.delete(f"{cloud.api_url}/v1/customers/{ERASED}", headers=operator, timeout=30)
    assert accepted.status_code == 202, accepted.text
    request_id = accepted.json()["request_id"]
    assert accepted.json()["status"] == "pending"
    assert accepted.headers["Location"] == f"/v1/customers/erasures/{request_id}"
    again = requests.delete(f"{cloud.api_url}/v1/customers/{ERASED}", headers=operator, timeout=30)
    assert again.status_code == 202 and again.json()["request_id"] == request_id
    status_url = f"{cloud.api_url}{accepted.headers['Location']}"
    assert requests.get(status_url, headers=operator, timeout=30).json()["status"] == "pending"

    run_schedule(cloud, "erase-customers")

    status = poll_until_completed(status_url, operator)
    steps = {step["name"]: step for step in status["steps"]}
    assert all(step["status"] == "done" for step in steps.values())
    assert steps["curated_interactions"]["count"] >= 1 and steps["activity"]["count"] >= 1
    assert steps["segments"]["count"] == 1 and steps["chat_sessions"]["count"] == 1
    assert steps["model_versions"]["count"] >= 1 and steps["deny_list"]["count"] == 1
    assert status["requested_by"] and status["completed_at"] >= status["requested_at"]

    objects, items = every_object(cloud), every_item(cloud)
    assert hits(objects, ERASED, pseudonym) == []
    assert hits(items, ERASED, pseudonym) == []
    # Everyone else is still there.
    assert curated_users(cloud) == curated_users_before - {ERASED, pseudonym}
    assert model_users(cloud, before) == [user for user in users_before if user not in (ERASED, pseudonym)]
    assert segmented(cloud) == segmented_before - {ERASED, pseudonym}
    delivered = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=5)
    (message,) = delivered["Messages"]
    detail = json.loads(message["Body"])["detail"]
    assert detail["request_id"] == request_id and detail["counts"]["deny_list"] == 1
    assert ERASED not in message["Body"] and pseudonym not in message["Body"]

    # The next model is trained without them.
    run_schedule(cloud, "train-recommender")
    after = newest_recommender_version(cloud)
    assert after != before
    users = model_users(cloud, after)
    assert ERASED not in users and pseudonym not in users
    assert set(users) == set(users_before) - {ERASED, pseudonym}


def curated_users(cloud: RunningCloud) -> set[str]:
    s3 = cloud.client("s3")
    users: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="curated/interactions/"):
        for entry in page.get("Contents", []):
            if entry["Key"].endswith(".parquet"):
                body = s3.get_object(Bucket=BUCKET, Key=entry["Key"])["Body"].read()
                users.update(pq.read_table(pa.BufferReader(body), columns=["user_id"]).column(0).to_pylist())
    return users


def segmented(cloud: RunningCloud) -> set[str]:
    table = spec.SEGMENTS_TABLE.local_name
    pages = cloud.client("dynamodb").get_paginator("scan").paginate(TableName=table)
    return {item["user_id"]["S"] for page in pages for item in page["Items"]}


def poll_until_completed(url: str, headers: dict[str, str], timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = requests.get(url, headers=headers, timeout=30).json()
        if status["status"] == "completed" or time.monotonic() > deadline:
            assert status["status"] == "completed", status
            return status
        time.sleep(timedelta(seconds=0.5).total_seconds())
