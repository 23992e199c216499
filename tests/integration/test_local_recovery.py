"""The local cloud's start-up recovery after an unclean stop, against in-process moto."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto_platform import local_platform
from shelfwise_infra import spec
from shelfwise_local.recovery import release_interrupted_attempts, reupload_lost_drops

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
