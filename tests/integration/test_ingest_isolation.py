"""A file whose ingestion runs out of memory, or whose worker dies, still ends as a manifest and a report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto_platform import local_platform
from shelfwise import curated
from shelfwise.ingest import pipeline
from shelfwise.ingest.pipeline import IngestTargets, ingest_object
from shelfwise_infra import spec
from shelfwise_local.isolation import reject_batch

pytestmark = pytest.mark.integration

BUCKET = spec.DATA_BUCKET.local_name
TARGETS = IngestTargets(
    data_bucket=BUCKET,
    catalog_table=spec.CATALOG_TABLE.local_name,
    user_activity_table=spec.USER_ACTIVITY_TABLE.local_name,
)
SQS_EVENT = spec.EVENTS_DIR / "ingest" / "sqs-s3-object-created.json"
CATALOG = b"item_id,title,category,brand,price\nsku-1,Mug,kitchen,Acme,5\n"


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with local_platform(monkeypatch, "ingest"):
        yield boto3.client("s3")


def put(s3: Any, key: str, body: bytes) -> str:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return s3.head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"')


def test_running_out_of_memory_rejects_the_file_and_lands_nothing(
    platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    etag = put(platform, "incoming/catalog/huge.csv", CATALOG)

    def exhausted(*_args: Any, **_kwargs: Any) -> Any:
        raise MemoryError

    monkeypatch.setattr(pipeline, "validate_chunk", exhausted)
    manifest = ingest_object(BUCKET, "incoming/catalog/huge.csv", etag, TARGETS, s3_client=platform)

    assert manifest.status == "rejected"
    assert manifest.file_error is not None and manifest.file_error.code == "memory_limit"
    report = platform.get_object(Bucket=BUCKET, Key=manifest.rejection_report_key)["Body"].read().decode()
    assert "more memory than ingestion may use" in report
    assert curated.read_curated("catalog", bucket=BUCKET, s3_client=platform).num_rows == 0
    assert boto3.resource("dynamodb").Table(spec.CATALOG_TABLE.local_name).scan()["Items"] == []


def test_a_batch_whose_worker_died_is_rejected_with_the_reason_and_announced(platform: Any) -> None:
    etag = put(platform, "incoming/catalog/bomb.csv.gz", CATALOG)
    event = json.loads(SQS_EVENT.read_text("utf-8"))
    body = json.loads(event["Records"][0]["body"])
    body["Records"][0]["s3"]["object"].update(key="incoming/catalog/bomb.csv.gz", eTag=etag)
    event["Records"][0]["body"] = json.dumps(body)

    result = reject_batch(event, "the ingestion worker was stopped by SIGKILL while reading the file")

    assert result == {"batchItemFailures": []}
    manifest_key = curated.manifest_key(
        "catalog", pipeline.file_id_for(BUCKET, "incoming/catalog/bomb.csv.gz", etag)
    )
    manifest = json.loads(platform.get_object(Bucket=BUCKET, Key=manifest_key)["Body"].read())
    assert manifest["status"] == "rejected"
    assert manifest["file_error"] == {
        "code": "worker_died",
        "reason": "the ingestion worker was stopped by SIGKILL while reading the file",
    }
    report = platform.get_object(Bucket=BUCKET, Key=manifest["rejection_report_key"])["Body"].read().decode()
    assert "SIGKILL" in report
    (logged,) = boto3.resource("dynamodb").Table(spec.INGEST_FILES_TABLE.local_name).scan()["Items"]
    assert logged["error_code"] == "worker_died"
