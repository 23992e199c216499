"""The emulated SQS event-source mapping, S3 → SQS notifications and the drop folder, on in-process moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parser.models import S3Model, SqsModel
from moto import mock_aws
from shelfwise_infra import spec
from shelfwise_local import event_sources
from shelfwise_local.dropbox import LANDED_DIR, Dropbox
from shelfwise_local.event_sources import Mapping, QueuePoller, failed_message_ids, sqs_event
from shelfwise_local.resources import QueueInfo, create_all
from shelfwise_local.s3_events import complete_moto_s3_events

pytestmark = pytest.mark.integration
BUCKET = spec.DATA_BUCKET.local_name


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, aws_credentials: None) -> Iterator[dict[str, QueueInfo]]:
    monkeypatch.setattr(event_sources, "LOCAL_RETRY_DELAY_SECONDS", 0)
    complete_moto_s3_events()
    with mock_aws():
        queues = create_all()
        boto3.client("sqs").purge_queue(QueueUrl=queues[spec.INGEST_QUEUE.id].url)  # the s3:TestEvent
        yield queues


def receive(sqs: Any, info: QueueInfo, url: str | None = None) -> list[dict[str, Any]]:
    return sqs.receive_message(
        QueueUrl=url or info.url,
        MaxNumberOfMessages=10,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])


def test_upload_under_incoming_sends_a_complete_s3_event_to_the_ingest_queue(
    aws: dict[str, QueueInfo],
) -> None:
    s3, sqs = boto3.client("s3"), boto3.client("sqs")
    info = aws[spec.INGEST_QUEUE.id]
    s3.put_object(Bucket=BUCKET, Key="incoming/sales/week 1.csv", Body=b"sku,location,date,units\n")
    s3.put_object(Bucket=BUCKET, Key="curated/sales/x.parquet", Body=b"not announced")

    messages = receive(sqs, info)

    assert len(messages) == 1
    event = sqs_event(messages, info.arn)
    parsed = SqsModel.model_validate(event)
    assert parsed.Records[0].eventSourceARN == info.arn
    notification = S3Model.model_validate(json.loads(parsed.Records[0].body))
    record = notification.Records[0]
    assert record.eventName == "ObjectCreated:Put"
    assert record.s3.bucket.name == BUCKET
    assert record.s3.object.key == "incoming/sales/week+1.csv"  # URL-encoded, as AWS sends it


def test_partial_batch_failure_retries_only_the_failed_record_then_dead_letters_it(
    aws: dict[str, QueueInfo],
) -> None:
    sqs = boto3.client("sqs")
    info = aws[spec.INGEST_QUEUE.id]
    for body in ("good", "bad"):
        sqs.send_message(QueueUrl=info.url, MessageBody=body)
    seen: list[str] = []

    def handler(name: str, event: dict[str, Any]) -> dict[str, Any]:
        seen.extend(record["body"] for record in event["Records"])
        failures = [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "bad"]
        return {"batchItemFailures": failures}

    poller = QueuePoller([], handler)
    mapping = Mapping(function="ingest", queue=info, batch_size=10)
    for _ in range(spec.INGEST_QUEUE.max_receive_count + 1):
        messages = receive(sqs, info)
        if messages:
            poller.deliver(sqs, mapping, messages)

    assert seen.count("good") == 1
    assert seen.count("bad") == spec.INGEST_QUEUE.max_receive_count
    assert receive(sqs, info) == []
    assert [m["Body"] for m in receive(sqs, info, url=info.dlq_url)] == ["bad"]


def test_a_raising_function_fails_the_whole_batch(aws: dict[str, QueueInfo]) -> None:
    sqs = boto3.client("sqs")
    info = aws[spec.INGEST_QUEUE.id]
    sqs.send_message(QueueUrl=info.url, MessageBody="x")

    def handler(name: str, event: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    QueuePoller([], handler).deliver(sqs, Mapping("ingest", info, 1), receive(sqs, info))

    again = receive(sqs, info)
    assert [m["Body"] for m in again] == ["x"]
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"


def test_invalid_partial_responses_fail_the_whole_batch() -> None:
    messages = [{"MessageId": "a"}, {"MessageId": "b"}]

    assert failed_message_ids(None, messages) == set()
    assert failed_message_ids({"batchItemFailures": []}, messages) == set()
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "b"}]}, messages) == {"b"}
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, messages) == {"a", "b"}
    assert failed_message_ids({"batchItemFailures": "nope"}, messages) == {"a", "b"}


def test_dropbox_uploads_files_once_their_size_is_stable(aws: dict[str, QueueInfo], tmp_path: Path) -> None:
    s3 = boto3.client("s3")
    dropbox = Dropbox(tmp_path / "dropbox")
    dropbox.prepare()
    target = tmp_path / "dropbox" / "catalog" / "items.csv"
    target.write_text("item_id,title\n")

    assert dropbox.scan_once(s3) == []  # first sighting: maybe still being written
    with target.open("a") as handle:
        handle.write("i1,Mug\n")
    assert dropbox.scan_once(s3) == []  # it grew: still not stable
    assert dropbox.scan_once(s3) == ["incoming/catalog/items.csv"]

    body = s3.get_object(Bucket=BUCKET, Key="incoming/catalog/items.csv")
    assert body["Body"].read() == b"item_id,title\ni1,Mug\n"
    assert body["ContentType"] == "text/csv"
    assert not target.exists()
    assert (target.parent / LANDED_DIR / "items.csv").read_text() == "item_id,title\ni1,Mug\n"


def test_dropbox_keeps_every_delivery_of_the_same_name(aws: dict[str, QueueInfo], tmp_path: Path) -> None:
    s3 = boto3.client("s3")
    dropbox = Dropbox(tmp_path / "dropbox")
    dropbox.prepare()
    folder = tmp_path / "dropbox" / "sales"
    for content in ("v1", "v2"):
        (folder / "s.csv").write_text(content)
        dropbox.scan_once(s3)
        dropbox.scan_once(s3)

    landed = sorted(path.read_text() for path in (folder / LANDED_DIR).iterdir())
    assert landed == ["v1", "v2"]


def test_dropbox_leaves_files_of_unknown_kinds_in_place(
    aws: dict[str, QueueInfo], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    s3 = boto3.client("s3")
    dropbox = Dropbox(tmp_path / "dropbox")
    dropbox.prepare()
    stray = tmp_path / "dropbox" / "orders" / "o.csv"
    stray.parent.mkdir()
    stray.write_text("x")
    loose = tmp_path / "dropbox" / "loose.csv"
    loose.write_text("y")

    with caplog.at_level("WARNING", logger="shelfwise.local"):
        dropbox.scan_once(s3)
        dropbox.scan_once(s3)

    assert stray.exists() and loose.exists()
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0
    assert "unknown kind 'orders'" in caplog.text
    assert caplog.text.count("o.csv") == 1  # reported once, not on every poll
