"""`shelfwise demo`: a generated shop delivered through the drop folder into a running local cloud."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

import boto3
from shelfwise_infra import spec

from shelfwise_local.cloud import LocalCloud

INGEST_TIMEOUT_SECONDS = 600.0
SEGMENT_SCHEDULE = "segment-customers"


def _count_objects(s3: Any, prefix: str) -> int:
    total = 0
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=spec.DATA_BUCKET.local_name, Prefix=prefix
    ):
        total += len(page.get("Contents", []))
    return total


def _some_customer(files: dict[str, Path]) -> str | None:
    """A customer id to show in the example calls: a champion if segments exist, else one from the data."""
    table = boto3.resource("dynamodb").Table(spec.SEGMENTS_TABLE.local_name)
    scored = table.scan(
        ProjectionExpression="user_id, #segment", ExpressionAttributeNames={"#segment": "segment"}
    ).get("Items", [])
    champions = sorted(str(item["user_id"]) for item in scored if item.get("segment") == "champions")
    if champions or scored:
        return champions[0] if champions else str(scored[0]["user_id"])
    interactions = files.get("interactions")
    if interactions is not None and interactions.suffix.lower() == ".csv":
        with interactions.open("r", encoding="utf-8") as handle:
            header = handle.readline().strip().split(",")
            first = handle.readline().strip().split(",")
        if "user_id" in header and len(first) == len(header):
            return first[header.index("user_id")]
    return None


def _wait_for_run(cloud: LocalCloud, run_id: str, timeout: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = cloud.run_log.get(run_id)
        if record and record["status"] != "running":
            return record
        time.sleep(0.5)
    return None


def run_demo(*, state_dir: Path, port: int, seed: int, functions_dir: Path | None = None) -> int:
    try:
        from shelfwise_local.demo import generate_shop
    except ImportError as missing:
        print(f"shelfwise: the demo data generator is not available ({missing})", file=sys.stderr)
        return 1

    cloud = LocalCloud(state_dir, port=port, functions_dir=functions_dir)
    generated_dir = cloud.state_dir / "demo-data"
    files = generate_shop(generated_dir, seed)
    cloud.start()
    print(cloud.banner(), flush=True)
    try:
        for kind, path in files.items():
            if kind not in spec.INGEST_KINDS:
                print(f"skipping generated {kind} file {path.name}: not an ingest kind", file=sys.stderr)
                continue
            # Copy next to the target first, then rename: the drop folder never sees a half-written file.
            target = cloud.dropbox.root / kind / path.name
            partial = target.with_name(f".{path.name}.partial")
            shutil.copyfile(path, partial)
            partial.replace(target)
        print(f"placed {len(files)} demo files in {cloud.dropbox.root}; ingesting ...", flush=True)
        if not cloud.wait_until_idle(INGEST_TIMEOUT_SECONDS):
            print("ingestion did not finish in time; the platform keeps running", file=sys.stderr)
        schedule = spec.schedule(SEGMENT_SCHEDULE)
        record = _wait_for_run(cloud, cloud.scheduler.trigger(schedule), schedule_timeout(schedule))
        s3 = boto3.client("s3")
        print("\nlanded:")
        for kind in spec.INGEST_KINDS:
            curated = _count_objects(s3, f"{spec.CURATED_PREFIX}{kind}/")
            manifests = _count_objects(s3, f"{spec.CURATED_PREFIX}_manifests/{kind}/")
            rejected = _count_objects(s3, f"{spec.REJECTED_PREFIX}{kind}/")
            print(
                f"  {kind:<13} {curated} curated parts, {manifests} manifests, {rejected} rejection reports"
            )
        outcome = record["status"] if record else "still running"
        print(f"  segments      {SEGMENT_SCHEDULE} run: {outcome}")
        customer = _some_customer(files) or "<user_id>"
        api = cloud.api_url
        print("\ntry:")
        print(f"  curl -s {api}/v1/health")
        print(f"  curl -s {api}/v1/models")
        print(f"  curl -s {api}/v1/openapi.json")
        print(f"  curl -s {api}/v1/customers/{customer}/segment")
        print("\nserving until Ctrl-C", flush=True)
    except BaseException:
        cloud.stop()
        raise
    cloud.run_until_signalled()
    return 0


def schedule_timeout(schedule: spec.Schedule) -> float:
    return float(spec.function(schedule.function).timeout_seconds)
