"""Reconciliation against in-process moto: files without a manifest are re-driven through S3 -> SQS -> ingest,
a retry after a crash overwrites what the dead attempt left, and a dead attempt's idempotency record does not
block the retry once it is past the function timeout."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto_platform import local_platform, pseudonymizer
from shelfwise import curated
from shelfwise.ingest import reconcile
from shelfwise.ingest.pipeline import IngestTargets, file_id_for, ingest_object
from shelfwise_infra import spec
from shelfwise_local.event_sources import sqs_event
from shelfwise_local.s3_events import complete_moto_s3_events

pytestmark = pytest.mark.integration

BUCKET = spec.DATA_BUCKET.local_name
TARGETS = IngestTargets(
    data_bucket=BUCKET,
    catalog_table=spec.CATALOG_TABLE.local_name,
    user_activity_table=spec.USER_ACTIVITY_TABLE.local_name,
    customer_ids_table=spec.CUSTOMER_IDS_TABLE.local_name,
)
LATER = timedelta(hours=1)


@dataclass
class Context:
    remaining_ms: int = 900_000
    function_name: str = "shelfwise-ingest"
    memory_limit_in_mb: int = 2048
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:shelfwise-ingest"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def queue_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The platform in moto, with incoming/ notifications going to an ingest queue as in AWS."""
    complete_moto_s3_events()  # records in the shape AWS sends them (the local cloud does the same)
    with local_platform(monkeypatch, "ingest", "reconcile", POWERTOOLS_TRACE_DISABLED="true"):
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName="ingest")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        boto3.client("s3").put_bucket_notification_configuration(
            Bucket=BUCKET,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": arn,
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}},
                    }
                ]
            },
        )
        _drain(url)  # the s3:TestEvent sent when notifications are configured
        yield url


def _drain(url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    sqs = boto3.client("sqs")
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        messages.extend(batch)
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return messages


def _notified(messages: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    records = [record for message in messages for record in json.loads(message["Body"]).get("Records", [])]
    return [(r["eventName"], r["s3"]["object"]["key"], r["s3"]["object"]["eTag"]) for r in records]


def _csv(rows: int) -> bytes:
    lines = ["user_id,item_id,event_type,value,timestamp"]
    lines += [f"u{n % 7},i{n % 11},view,1,2026-11-{1 + n % 3:02d}T10:00:{n % 60:02d}Z" for n in range(rows)]
    lines.append("u1,i1,click,1,2026-11-01T10:00:00Z")  # one bad row, so there is a rejection report
    return ("\n".join(lines) + "\n").encode()


def _put(key: str, body: bytes) -> str:
    s3 = boto3.client("s3")
    s3.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType="text/csv")
    return s3.head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"')


def _load_ingest() -> ModuleType:
    module_spec = importlib.util.spec_from_file_location(
        f"shelfwise_fn_ingest_{uuid.uuid4().hex}", spec.function("ingest").directory / "app.py"
    )
    assert module_spec and module_spec.loader
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def _keys(prefix: str) -> list[str]:
    listing = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(entry["Key"] for entry in listing.get("Contents", []))


def test_a_file_without_a_manifest_is_redriven_as_a_fresh_object_created(queue_url: str) -> None:
    etag = _put("incoming/interactions/lost.csv", _csv(50))
    ingest_object(
        BUCKET,
        "incoming/interactions/done.csv",
        _put("incoming/interactions/done.csv", _csv(5)),
        TARGETS,
        pseudonymizer=pseudonymizer(),
    )
    _drain(queue_url)

    result = reconcile.reconcile(BUCKET, older_than=timedelta(minutes=15), now=datetime.now(UTC) + LATER)

    assert (result.checked, result.redriven, result.still_stuck) == (
        2,
        ["incoming/interactions/lost.csv"],
        [],
    )
    notified = _notified(_drain(queue_url))
    assert [(name.split(":")[0], key) for name, key, _ in notified] == [
        ("ObjectCreated", "incoming/interactions/lost.csv")
    ]
    head = boto3.client("s3").head_object(Bucket=BUCKET, Key="incoming/interactions/lost.csv")
    assert head["Metadata"] == {reconcile.FIRST_ETAG_METADATA: etag, reconcile.REDRIVES_METADATA: "1"}
    assert head["ContentType"] == "text/csv"  # a metadata-replacing copy keeps what the upload said


def test_a_young_file_is_left_to_its_own_message(queue_url: str) -> None:
    _put("incoming/interactions/new.csv", _csv(5))
    _drain(queue_url)

    result = reconcile.reconcile(BUCKET, older_than=timedelta(minutes=15))

    assert (result.waiting, result.redriven) == (1, [])
    assert _drain(queue_url) == []


def test_a_retry_after_a_crash_before_the_manifest_overwrites_instead_of_adding(queue_url: str) -> None:
    key = "incoming/interactions/crashed.csv"
    etag = _put(key, _csv(300))
    _drain(queue_url)
    # The dead attempt got as far as the curated parts and the report, not the manifest.
    first = ingest_object(BUCKET, key, etag, TARGETS, pseudonymizer=pseudonymizer())
    boto3.client("s3").delete_object(Bucket=BUCKET, Key=curated.manifest_key("interactions", first.file_id))
    outputs = _keys("curated/interactions/") + _keys("rejected/")

    reconcile.reconcile(BUCKET, older_than=timedelta(0), now=datetime.now(UTC) + LATER)
    (message,) = _drain(queue_url)
    ingest = _load_ingest()
    assert ingest.handler(sqs_event([message], "arn:aws:sqs:us-east-1:123456789012:ingest"), Context()) == {
        "batchItemFailures": []
    }

    assert _keys("curated/interactions/") + _keys("rejected/") == outputs
    assert curated.read_curated("interactions", bucket=BUCKET).num_rows == 300
    (manifest_key,) = _keys(curated.MANIFESTS_PREFIX)
    assert manifest_key == curated.manifest_key("interactions", first.file_id)


def test_a_redriven_copy_with_a_new_etag_keeps_the_first_file_id(queue_url: str) -> None:
    """A multipart upload (or a new version) gets a new ETag when copied; its outputs must not move."""
    key = "incoming/interactions/multipart.csv"
    _put(key, _csv(20))
    s3 = boto3.client("s3")
    # What a copy of a multipart upload looks like: same bytes, another ETag, the first one in the metadata.
    s3.put_object(Bucket=BUCKET, Key=key, Body=_csv(20), Metadata={reconcile.FIRST_ETAG_METADATA: "abc-2"})
    etag = s3.head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"')

    manifest = ingest_object(BUCKET, key, etag, TARGETS, pseudonymizer=pseudonymizer())

    assert manifest.file_id == file_id_for(BUCKET, key, "abc-2")
    assert reconcile.reconcile(BUCKET, older_than=timedelta(0), now=datetime.now(UTC) + LATER).redriven == []


def test_a_file_a_redrive_did_not_land_is_still_stuck_and_given_up_after_the_limit(queue_url: str) -> None:
    _put("incoming/interactions/poison.csv", _csv(5))
    runs = [
        reconcile.reconcile(BUCKET, older_than=timedelta(0), now=datetime.now(UTC) + LATER)
        for _ in range(reconcile.MAX_REDRIVES + 1)
    ]

    assert [len(run.redriven) for run in runs] == [1, 1, 1, 0]
    assert [len(run.still_stuck) for run in runs] == [0, 1, 1, 1]
    assert runs[-1].given_up == ["incoming/interactions/poison.csv"]
    unlimited = reconcile.reconcile(
        BUCKET, older_than=timedelta(0), now=datetime.now(UTC) + LATER, max_redrives=None
    )
    assert unlimited.redriven == ["incoming/interactions/poison.csv"]


def test_a_dead_attempts_inprogress_record_blocks_until_the_function_timeout_then_the_retry_runs(
    queue_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "incoming/interactions/killed.csv"
    _put(key, _csv(40))
    (message,) = _drain(queue_url)
    event = sqs_event([message], "arn:aws:sqs:us-east-1:123456789012:ingest")
    ingest = _load_ingest()
    real_ingest = ingest.ingest_object

    def killed(*args: Any, **kwargs: Any) -> Any:
        raise SystemExit("the process died")  # not an Exception: Powertools leaves the INPROGRESS record

    monkeypatch.setattr(ingest, "ingest_object", killed)
    with pytest.raises(SystemExit):
        ingest.handler(event, Context(remaining_ms=50))  # the attempt's timeout: 50 ms from now
    monkeypatch.setattr(ingest, "ingest_object", real_ingest)
    records = boto3.resource("dynamodb").Table(spec.IDEMPOTENCY_TABLE.local_name).scan()["Items"]
    assert [record["status"] for record in records] == ["INPROGRESS"]

    time.sleep(0.1)  # past that attempt's timeout: Lambda has certainly stopped it
    reconcile.reconcile(BUCKET, older_than=timedelta(0), now=datetime.now(UTC) + LATER)
    (redriven,) = _drain(queue_url)
    result = ingest.handler(sqs_event([redriven], "arn:aws:sqs:us-east-1:123456789012:ingest"), Context())

    assert result == {"batchItemFailures": []}
    assert curated.read_curated("interactions", bucket=BUCKET).num_rows == 40


def test_the_reconcile_function_reports_metrics_for_redriven_and_still_stuck_files(
    queue_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _put("incoming/interactions/lost.csv", _csv(5))
    name = f"shelfwise_fn_reconcile_{uuid.uuid4().hex}"
    module_spec = importlib.util.spec_from_file_location(
        name, spec.function("reconcile").directory / "app.py"
    )
    assert module_spec and module_spec.loader
    app = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = app  # as the local cloud loads it: pydantic resolves the models' annotations there
    module_spec.loader.exec_module(app)
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-01T10:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/shelfwise-reconcile-ingest"],
        "detail": {"older_than_seconds": "0"},
    }

    result = app.handler(event, Context(function_name="shelfwise-reconcile"))

    assert (result["status"], result["redriven"], result["still_stuck"]) == ("succeeded", 1, 0)
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    emf = next(document for document in documents if "_aws" in document)
    assert (emf["FilesRedriven"], emf["FilesStillStuck"]) == ([1.0], [0.0])
    assert app.handler({**event, "detail": {"older_than_seconds": "-1"}}, Context())["status"] == "rejected"


def test_the_reconciler_runs_without_the_data_layer() -> None:
    """In AWS the reconcile function ships with the domain layer only: no pyarrow."""
    assert reconcile.MANIFESTS_PREFIX == curated.MANIFESTS_PREFIX
    app_path = str(spec.function("reconcile").directory / "app.py")
    code = (
        "import sys, importlib.util\n"
        "sys.modules['pyarrow'] = None  # any import of pyarrow now fails\n"
        f"module_spec = importlib.util.spec_from_file_location('app', {app_path!r})\n"
        "app = importlib.util.module_from_spec(module_spec)\n"
        "sys.modules['app'] = app\n"
        "module_spec.loader.exec_module(app)\n"
    )
    environment = {
        **os.environ,
        **spec.local_environment(spec.function("reconcile")),
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    result = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
