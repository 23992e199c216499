"""Retention through the running local cloud: the lifecycle rules and TTLs expire data as they do in AWS."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from shelfwise_infra import spec
from test_local_cloud import BUCKET, RunningCloud, manifests_for, start_cloud, wait_for_manifest

pytestmark = pytest.mark.integration

SOURCE_KEY = "incoming/interactions/old-and-new.csv"
ACTIVITY = spec.USER_ACTIVITY_TABLE.local_name


def interactions(now: datetime) -> bytes:
    """Two customers: one whose newest event is 40 days old, one active today."""
    lines = ["user_id,item_id,event_type,value,timestamp"]
    for customer, age_days in (("c-lapsed", 40), ("c-active", 0)):
        for index in range(3):
            stamp = now - timedelta(days=age_days, hours=index + 1)
            lines.append(f"{customer},sku-{index},view,1,{stamp:%Y-%m-%dT%H:%M:%SZ}")
    return ("\n".join(lines) + "\n").encode()


def activity_items(cloud: RunningCloud) -> int:
    return cloud.client("dynamodb").scan(TableName=ACTIVITY, Select="COUNT")["Count"]


def wait_for(condition: object, timeout: float, what: str, cloud: RunningCloud) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.3)
    raise AssertionError(f"{what} within {timeout} s:\n{cloud.log()[-4000:]}")


def object_keys(cloud: RunningCloud, prefix: str) -> set[str]:
    listing = cloud.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {entry["Key"] for entry in listing}


def age_in_snapshot(state_dir: Path, key: str, days: int) -> None:
    """What the laptop would hold after `days` switched off: the snapshot's record of the file's write."""
    path = state_dir / "snapshot" / "state.json"
    state = json.loads(path.read_text())
    (entry,) = [entry for entry in state["s3"][BUCKET] if entry["key"] == key]
    entry["last_modified"] = (datetime.now(UTC) - timedelta(days=days)).isoformat()
    path.write_text(json.dumps(state))


def test_an_overridden_retention_expires_raw_files_and_activity_but_keeps_curated_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHELFWISE_RETENTION_INCOMING_DAYS", "14")
    monkeypatch.setenv("SHELFWISE_RETENTION_ACTIVITY_DAYS", "30")
    monkeypatch.setenv("SHELFWISE_LOCAL_HOUSEKEEPING_SECONDS", "1")
    state_dir = tmp_path / "state"
    landed = state_dir / "dropbox" / "interactions" / ".landed"

    cloud = start_cloud(state_dir, tmp_path)
    try:
        rules = cloud.client("s3").get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
        assert {rule["Filter"]["Prefix"]: rule["Expiration"]["Days"] for rule in rules} == {
            spec.INCOMING_PREFIX: 14,
            spec.REJECTED_PREFIX: 90,
            spec.SEGMENTS_PREFIX: 90,
        }
        cloud.drop("interactions", "old-and-new.csv", interactions(datetime.now(UTC)))
        manifest = wait_for_manifest(cloud, "interactions", SOURCE_KEY, timeout=30)
        assert manifest["rows_landed"] == 6
        # Ingestion wrote both customers' activity; the lapsed one's expiry (newest event + 30 days) has
        # passed, so the periodic sweep removes it, as DynamoDB TTL would.
        wait_for(lambda: activity_items(cloud) == 1, 30, "the lapsed activity was not expired", cloud)
        assert SOURCE_KEY in object_keys(cloud, spec.INCOMING_PREFIX)  # 14 days have not passed
        assert (landed / "old-and-new.csv").is_file()
    finally:
        assert cloud.stop() == 0

    age_in_snapshot(state_dir, SOURCE_KEY, days=20)
    cloud = start_cloud(state_dir, tmp_path)
    try:
        # The start-up sweep expired the raw file and its drop-folder copy ...
        assert SOURCE_KEY not in object_keys(cloud, spec.INCOMING_PREFIX)
        assert not (landed / "old-and-new.csv").exists()
        status = requests.get(
            f"{cloud.api_url}/_local/status", headers=cloud.operator_headers(), timeout=5
        ).json()
        assert status["last_housekeeping"]["objects"] >= 1
        # ... and kept what it was curated into, with the manifest that says it was ingested.
        assert len(manifests_for(cloud, "interactions", SOURCE_KEY)) == 1
        assert set(manifest["curated_keys"]) <= object_keys(cloud, spec.CURATED_PREFIX)
        assert activity_items(cloud) == 1
        # Nothing brought the expired file back: not the drop folder's recovery, not reconciliation.
        time.sleep(2)
        assert SOURCE_KEY not in object_keys(cloud, spec.INCOMING_PREFIX)
        assert "uploaded it again" not in cloud.log()
        assert "re-drove" not in cloud.log()
    finally:
        assert cloud.stop() == 0
