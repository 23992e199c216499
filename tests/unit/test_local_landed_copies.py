"""A drop-folder copy goes when its raw file was ingested and then removed (erased); never re-uploaded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from shelfwise.curated import manifest_key
from shelfwise.ingest.reconcile import file_id_for
from shelfwise_infra import spec
from shelfwise_local.housekeeping import sweep
from shelfwise_local.recovery import reupload_lost_drops
from shelfwise_local.resources import create_buckets, create_tables

BUCKET = spec.DATA_BUCKET.local_name
ROWS = b"user_id,item_id,event_type,value,timestamp\nc-1042,sku-1,view,,2026-12-01T10:00:00Z\n"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3, dynamodb = boto3.client("s3"), boto3.client("dynamodb")
        create_buckets(s3)
        create_tables(dynamodb)
        yield s3, dynamodb


def test_a_copy_of_an_ingested_file_removed_since_goes_and_a_lost_upload_comes_back(
    aws: tuple[Any, Any], tmp_path: Path
) -> None:
    s3, dynamodb = aws
    dropbox = tmp_path / "dropbox"
    landed = dropbox / "interactions" / ".landed"
    landed.mkdir(parents=True)
    for name in ("erased.csv", "lost.csv", "kept.csv"):
        (landed / name).write_bytes(ROWS + name.encode() + b",sku-2,view,,2026-12-01T11:00:00Z\n")
    # erased.csv was uploaded and ingested (its manifest exists), then the erasure job deleted the raw file.
    key = "incoming/interactions/erased.csv"
    etag = s3.put_object(Bucket=BUCKET, Key=key, Body=(landed / "erased.csv").read_bytes())["ETag"]
    s3.put_object(Bucket=BUCKET, Key=manifest_key("interactions", file_id_for(BUCKET, key, etag)), Body=b"{}")
    s3.delete_object(Bucket=BUCKET, Key=key)
    # kept.csv is in the bucket; lost.csv's upload was cut off by a crash (no object, no manifest).
    s3.put_object(
        Bucket=BUCKET, Key="incoming/interactions/kept.csv", Body=(landed / "kept.csv").read_bytes()
    )

    result = sweep(s3=s3, dynamodb=dynamodb, now=datetime.now(UTC), dropbox_root=dropbox)

    assert result.landed_copies == [str(landed / "erased.csv")]
    assert sorted(path.name for path in landed.iterdir()) == ["kept.csv", "lost.csv"]
    assert reupload_lost_drops(dropbox, s3) == ["incoming/interactions/lost.csv"]
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=key)["KeyCount"] == 0
