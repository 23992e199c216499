"""The local cloud's housekeeping sweep expires what S3 lifecycle rules and DynamoDB TTL expire in AWS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from shelfwise.ingest.reconcile import reconcile
from shelfwise_infra import spec
from shelfwise_infra.retention import Retention
from shelfwise_local.housekeeping import (
    ExpirationRule,
    Housekeeping,
    apply_lifecycle,
    housekeeping_interval,
    sweep,
)
from shelfwise_local.recovery import reupload_lost_drops
from shelfwise_local.resources import create_buckets, create_tables
from shelfwise_local.snapshot import restore_snapshot, take_snapshot

BUCKET = spec.DATA_BUCKET.local_name
SESSIONS = spec.CHAT_SESSIONS_TABLE.local_name
ACTIVITY = spec.USER_ACTIVITY_TABLE.local_name
CATALOG = spec.CATALOG_TABLE.local_name


pytestmark = pytest.mark.usefixtures("aws_credentials")


def keys(s3: Any) -> set[str]:
    return {entry["Key"] for entry in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def written_at(s3: Any, key: str) -> datetime:
    return s3.head_object(Bucket=BUCKET, Key=key)["LastModified"]


def put(s3: Any, *object_keys: str) -> None:
    for key in object_keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"user_id,item_id\nc-1042,sku-1\n")


def test_expiry_is_the_rules_days_after_the_write_rounded_up_to_midnight_utc() -> None:
    rule = ExpirationRule(prefix="incoming/", days=1)
    assert rule.due(datetime(2026, 3, 1, 10, 0, tzinfo=UTC)) == datetime(2026, 3, 3, tzinfo=UTC)
    assert rule.due(datetime(2026, 3, 1, 0, 0, tzinfo=UTC)) == datetime(2026, 3, 2, tzinfo=UTC)


def test_raw_files_reports_and_exports_expire_after_their_retention_curated_data_never(
    spec_cloud: tuple[Any, Any],
) -> None:
    s3, dynamodb = spec_cloud
    apply_lifecycle(s3, Retention())
    put(
        s3,
        "incoming/interactions/daily.csv",
        "rejected/interactions/abc.csv",
        "curated/interactions/date=2026-03-01/abc.parquet",
        "curated/_manifests/interactions/abc.json",
        "segments/2026-03-01/segments.csv",
    )
    written = written_at(s3, "incoming/interactions/daily.csv")

    assert sweep(s3=s3, dynamodb=dynamodb, now=written + timedelta(days=30)).objects == []
    after_a_month = sweep(s3=s3, dynamodb=dynamodb, now=written + timedelta(days=31))
    assert after_a_month.objects == ["incoming/interactions/daily.csv"]
    assert {"rejected/interactions/abc.csv", "segments/2026-03-01/segments.csv"} <= keys(s3)

    sweep(s3=s3, dynamodb=dynamodb, now=written + timedelta(days=91))
    assert keys(s3) == {
        "curated/interactions/date=2026-03-01/abc.parquet",
        "curated/_manifests/interactions/abc.json",
    }
    sweep(s3=s3, dynamodb=dynamodb, now=written + timedelta(days=5000))
    assert len(keys(s3)) == 2


def test_an_overridden_retention_is_the_one_applied(spec_cloud: tuple[Any, Any]) -> None:
    s3, dynamodb = spec_cloud
    apply_lifecycle(s3, Retention(incoming_days=14, rejected_days=20))
    put(s3, "incoming/sales/daily.csv", "rejected/sales/abc.csv")
    written = written_at(s3, "incoming/sales/daily.csv")

    assert sweep(s3=s3, dynamodb=dynamodb, now=written + timedelta(days=15)).objects == [
        "incoming/sales/daily.csv"
    ]
    assert sweep(s3=s3, dynamodb=dynamodb, now=written + timedelta(days=21)).objects == [
        "rejected/sales/abc.csv"
    ]


def test_landed_copies_go_with_their_expired_file_and_are_not_uploaded_again(
    spec_cloud: tuple[Any, Any], tmp_path: Path
) -> None:
    s3, dynamodb = spec_cloud
    apply_lifecycle(s3, Retention())
    dropbox = tmp_path / "dropbox"
    landed = dropbox / "interactions" / ".landed"
    landed.mkdir(parents=True)
    for name in ("daily.csv", "20260301T100000-1-daily.csv", "other.csv"):
        (landed / name).write_bytes(b"user_id,item_id\nc-1042,sku-1\n")
    put(s3, "incoming/interactions/daily.csv", "incoming/interactions/other.csv")
    written = written_at(s3, "incoming/interactions/daily.csv")

    sweep(s3=s3, dynamodb=dynamodb, now=written + timedelta(days=29), dropbox_root=dropbox)
    assert len(list(landed.iterdir())) == 3  # nothing is due yet: the copies stay with their files

    s3.delete_object(Bucket=BUCKET, Key="incoming/interactions/other.csv")  # e.g. removed by hand
    now = written + timedelta(days=31)
    result = sweep(s3=s3, dynamodb=dynamodb, now=now, dropbox_root=dropbox)

    assert "incoming/interactions/daily.csv" in result.objects
    assert not (landed / "daily.csv").exists()
    assert not (landed / "20260301T100000-1-daily.csv").exists()
    # Only the expired file's copies: a landed file whose object is gone for another reason is kept.
    assert (landed / "other.csv").exists()
    # At the next start the local cloud uploads missing landed files again: nothing expired comes back,
    # and reconciliation, which lists incoming/, has no expired file to re-drive.
    assert "incoming/interactions/daily.csv" not in reupload_lost_drops(dropbox, s3)
    assert "incoming/interactions/daily.csv" not in keys(s3)
    redriven = reconcile(BUCKET, older_than=timedelta(0), s3_client=s3, now=now, max_redrives=None).redriven
    assert "incoming/interactions/daily.csv" not in redriven


def test_items_past_their_ttl_attribute_are_deleted_and_others_kept(spec_cloud: tuple[Any, Any]) -> None:
    s3, dynamodb = spec_cloud
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    epoch = int(now.timestamp())
    dynamodb.put_item(TableName=SESSIONS, Item={"session_id": {"S": "old"}, "expires_at": {"N": str(epoch)}})
    dynamodb.put_item(
        TableName=SESSIONS, Item={"session_id": {"S": "live"}, "expires_at": {"N": str(epoch + 1)}}
    )
    dynamodb.put_item(TableName=SESSIONS, Item={"session_id": {"S": "no-ttl"}})
    # As DynamoDB does, a TTL more than five years past is ignored (historical data written as such).
    six_years_ago = str(epoch - 6 * 365 * 86400)
    dynamodb.put_item(
        TableName=SESSIONS, Item={"session_id": {"S": "ancient"}, "expires_at": {"N": six_years_ago}}
    )
    dynamodb.put_item(
        TableName=ACTIVITY, Item={"user_id": {"S": "ps_old"}, "expires_at": {"N": str(epoch - 86400)}}
    )
    # The catalog has no TTL: an attribute that happens to share the name means nothing there.
    dynamodb.put_item(TableName=CATALOG, Item={"item_id": {"S": "sku-1"}, "expires_at": {"N": "1"}})

    result = sweep(s3=s3, dynamodb=dynamodb, now=now)

    assert result.items[SESSIONS] == 1 and result.items[ACTIVITY] == 1
    remaining = {item["session_id"]["S"] for item in dynamodb.scan(TableName=SESSIONS)["Items"]}
    assert remaining == {"live", "no-ttl", "ancient"}
    assert dynamodb.scan(TableName=ACTIVITY)["Items"] == []
    assert len(dynamodb.scan(TableName=CATALOG)["Items"]) == 1


def test_the_sweep_uses_the_injected_clock_and_reports_what_it_removed(
    spec_cloud: tuple[Any, Any], tmp_path: Path
) -> None:
    s3, dynamodb = spec_cloud
    apply_lifecycle(s3, Retention())
    put(s3, "incoming/catalog/items.csv")
    later = written_at(s3, "incoming/catalog/items.csv") + timedelta(days=40)
    housekeeping = Housekeeping(s3=s3, dynamodb=dynamodb, dropbox_root=tmp_path, clock=lambda: later)

    housekeeping.run_once()

    assert keys(s3) == set()
    assert housekeeping.last_sweep == {"at": later.isoformat(), "objects": 1, "landed_copies": 0, "items": 0}


def test_a_restored_snapshot_keeps_each_objects_write_time_so_restarts_do_not_renew_retention(
    tmp_path: Path,
) -> None:
    with mock_aws():
        s3, dynamodb = boto3.client("s3"), boto3.client("dynamodb")
        create_buckets(s3)
        create_tables(dynamodb)
        put(s3, "incoming/interactions/daily.csv")
        written = written_at(s3, "incoming/interactions/daily.csv")
        take_snapshot(tmp_path / "snapshot", s3=s3)
    with mock_aws():  # a restart: a new, empty moto
        s3, dynamodb = boto3.client("s3"), boto3.client("dynamodb")
        create_buckets(s3)
        create_tables(dynamodb)
        restore_snapshot(tmp_path / "snapshot", s3=s3)
        assert written_at(s3, "incoming/interactions/daily.csv") == written
        apply_lifecycle(s3, Retention())
        assert sweep(s3=s3, dynamodb=dynamodb, now=written + timedelta(days=31)).objects == [
            "incoming/interactions/daily.csv"
        ]


def test_the_sweep_interval_can_be_shortened_for_a_demo_but_not_to_zero() -> None:
    assert housekeeping_interval({}) == 60.0
    assert housekeeping_interval({"SHELFWISE_LOCAL_HOUSEKEEPING_SECONDS": "5"}) == 5.0
    with pytest.raises(ValueError, match="positive"):
        housekeeping_interval({"SHELFWISE_LOCAL_HOUSEKEEPING_SECONDS": "0"})
