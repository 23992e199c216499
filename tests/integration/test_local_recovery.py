"""The local cloud's start-up recovery after an unclean stop, against in-process moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto_platform import local_platform
from shelfwise.ingest import outcomes
from shelfwise.ingest.pipeline import IngestTargets, ingest_object
from shelfwise_infra import spec
from shelfwise_local.recovery import (
    announce_unlogged_outcomes,
    release_interrupted_attempts,
    reupload_lost_drops,
)

pytestmark = pytest.mark.integration

BUCKET = spec.DATA_BUCKET.local_name


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with local_platform(monkeypatch, "ingest"):
        yield


def test_only_the_dead_processs_inprogress_records_are_released(aws: None) -> None:
    dynamodb = boto3.client("dynamodb")
    table = spec.IDEMPOTENCY_TABLE.local_name
    for record_id, status in (("a", "INPROGRESS"), ("b", "COMPLETED"), ("c", "INPROGRESS")):
        dynamodb.put_item(TableName=table, Item={"id": {"S": record_id}, "status": {"S": status}})

    assert release_interrupted_attempts(dynamodb) == 2

    remaining = dynamodb.scan(TableName=table)["Items"]
    assert [(item["id"]["S"], item["status"]["S"]) for item in remaining] == [("b", "COMPLETED")]


def test_a_landed_drop_whose_upload_was_lost_is_uploaded_again_in_its_latest_delivery(
    aws: None, tmp_path: Path
) -> None:
    s3: Any = boto3.client("s3")
    landed = tmp_path / "dropbox" / "sales" / ".landed"
    landed.mkdir(parents=True)
    (landed / "daily.csv").write_bytes(b"first delivery\n")
    (landed / "20260301T100000-1-daily.csv").write_bytes(b"second delivery\n")
    (landed / "kept.csv").write_bytes(b"landed and in the bucket\n")
    s3.put_object(Bucket=BUCKET, Key="incoming/sales/kept.csv", Body=b"replaced through the S3 API\n")

    uploaded = reupload_lost_drops(tmp_path / "dropbox", s3)

    assert uploaded == ["incoming/sales/daily.csv"]
    assert s3.get_object(Bucket=BUCKET, Key="incoming/sales/daily.csv")["Body"].read() == b"second delivery\n"
    assert s3.get_object(Bucket=BUCKET, Key="incoming/sales/kept.csv")["Body"].read() == (
        b"replaced through the S3 API\n"
    )
    assert sorted(path.name for path in landed.iterdir()) == [
        "20260301T100000-1-daily.csv",
        "daily.csv",
        "kept.csv",
    ]


def _bus_listener() -> str:
    """A queue subscribed to every file outcome on the platform's bus."""
    sqs, events = boto3.client("sqs"), boto3.client("events")
    url = sqs.create_queue(QueueName="outcomes")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = spec.EVENT_BUS.local_name
    events.put_rule(
        Name="outcomes",
        EventBusName=bus,
        EventPattern=json.dumps({"detail-type": ["FileIngested", "FileRejected"]}),
    )
    events.put_targets(Rule="outcomes", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    return url


def _received(url: str) -> list[dict[str, Any]]:
    messages = boto3.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def test_a_file_that_landed_but_was_never_announced_is_announced_at_start_up(aws: None) -> None:
    s3: Any = boto3.client("s3")
    body = b"item_id,title,category,brand,price\nI1,Mug,kitchen,Acme,9.50\nI2,Cup,kitchen,Acme,oops\n"
    etag = s3.put_object(Bucket=BUCKET, Key="incoming/catalog/cut-off.csv", Body=body)["ETag"]
    targets = IngestTargets(
        data_bucket=BUCKET,
        catalog_table=spec.CATALOG_TABLE.local_name,
        user_activity_table=spec.USER_ACTIVITY_TABLE.local_name,
    )
    # The process died after the manifest was written and before the outcome was announced.
    manifest = ingest_object(BUCKET, "incoming/catalog/cut-off.csv", etag.strip('"'), targets)
    listener = _bus_listener()

    assert announce_unlogged_outcomes(s3) == ["incoming/catalog/cut-off.csv"]

    (event,) = _received(listener)
    assert event["detail-type"] == "FileIngested" and event["detail"]["file_id"] == manifest.file_id
    assert event["detail"]["rows_landed"] == 1 and event["detail"]["rows_rejected"] == 1
    logged = boto3.client("dynamodb").scan(TableName=spec.INGEST_FILES_TABLE.local_name)["Items"]
    assert [item["file_id"]["S"] for item in logged] == [manifest.file_id]
    # Announced once: the next start-up finds it in the log.
    assert announce_unlogged_outcomes(s3) == []
    assert _received(listener) == []


def test_an_outcome_is_logged_only_after_its_event_is_on_the_bus(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3: Any = boto3.client("s3")
    etag = s3.put_object(
        Bucket=BUCKET,
        Key="incoming/catalog/ok.csv",
        Body=b"item_id,title,category,brand,price\nI1,Mug,k,A,1\n",
    )["ETag"]
    targets = IngestTargets(
        data_bucket=BUCKET,
        catalog_table=spec.CATALOG_TABLE.local_name,
        user_activity_table=spec.USER_ACTIVITY_TABLE.local_name,
    )
    manifest = ingest_object(BUCKET, "incoming/catalog/ok.csv", etag.strip('"'), targets)

    def bus_down(*_args: Any, **_kwargs: Any) -> str:
        raise RuntimeError("bus unavailable")

    monkeypatch.setattr(outcomes.events, "publish", bus_down)
    with pytest.raises(RuntimeError):
        outcomes.announce(manifest, data_bucket=BUCKET, table_name=spec.INGEST_FILES_TABLE.local_name)
    assert boto3.client("dynamodb").scan(TableName=spec.INGEST_FILES_TABLE.local_name)["Items"] == []
