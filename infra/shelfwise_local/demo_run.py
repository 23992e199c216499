"""`shelfwise demo`: a generated shop delivered through the drop folder into a running local cloud."""

from __future__ import annotations

import csv
import json
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from shelfwise_infra import spec

from shelfwise_local.cloud import LocalCloud
from shelfwise_local.tokens import DevKeys
from shelfwise_local.training import describe_registry_item, wait_for_registry_item

INGEST_TIMEOUT_SECONDS = 600.0
# Run in this order once the shop is ingested: segments, both models, then the forecast and plan.
DEMO_SCHEDULES = ("segment-customers", "train-recommender", "train-chat", "forecast")
# A few dozen SKUs at two warehouses over a year: enough for weekly seasonality and promotions, small enough
# that the forecast workflow finishes in a minute or two on a laptop.
DEMO_SKUS = 40
DEMO_SALES_DAYS = 365
REGISTRY_TIMEOUT_SECONDS = 300.0
WORKFLOW_TIMEOUT_SECONDS = 1800.0


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


def run_demo(
    *,
    state_dir: Path,
    port: int,
    seed: int,
    functions_dir: Path | None = None,
    training_dir: Path | None = None,
    function_log_path: Path | None = None,
) -> int:
    try:
        from shelfwise_local.demo import generate_shop
    except ImportError as missing:
        print(f"shelfwise: the demo data generator is not available ({missing})", file=sys.stderr)
        return 1

    cloud = LocalCloud(
        state_dir,
        port=port,
        functions_dir=functions_dir,
        training_dir=training_dir,
        function_log_path=function_log_path,
    )
    generated_dir = cloud.state_dir / "demo-data"
    files = generate_shop(generated_dir, seed, n_skus=DEMO_SKUS, sales_days=DEMO_SALES_DAYS)
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
        s3 = boto3.client("s3")
        print("\nlanded:")
        for kind in spec.INGEST_KINDS:
            curated = _count_objects(s3, f"{spec.CURATED_PREFIX}{kind}/")
            manifests = _count_objects(s3, f"{spec.CURATED_PREFIX}_manifests/{kind}/")
            rejected = _count_objects(s3, f"{spec.REJECTED_PREFIX}{kind}/")
            print(
                f"  {kind:<13} {curated} curated parts, {manifests} manifests, {rejected} rejection reports"
            )
        print("\nscheduled work (run now instead of waiting for the schedule):", flush=True)
        for name in DEMO_SCHEDULES:
            print(f"  {name:<18} {run_step(cloud, spec.schedule(name))}", flush=True)
        print_examples(cloud.api_url, files, cloud.keys)
        print("\nserving until Ctrl-C", flush=True)
    except BaseException:
        cloud.stop()
        raise
    cloud.run_until_signalled()
    return 0


def run_step(cloud: LocalCloud, schedule: spec.Schedule) -> str:
    """Run one schedule to the end and say how it went; a failing step never stops the demo."""
    try:
        run_id = cloud.scheduler.trigger(schedule)
        record = _wait_for_run(cloud, run_id, schedule_timeout(schedule))
    except Exception as problem:  # the demo goes on with whatever works
        return f"could not start: {type(problem).__name__}: {problem}"
    if record is None:
        return f"still running after {schedule_timeout(schedule):g} s (run {run_id}; see the log)"
    if record["status"] == "failed":
        return f"FAILED — {record.get('error')} (run {run_id}; the other steps go on)"
    target_type, _ = schedule.target
    if target_type == "training_job":
        return _registry_outcome(record)
    if target_type == "workflow":
        summary = _result(record)
        return f"succeeded: {summary.get('shards', '?')} shards, {summary.get('failed_shards', '?')} failed"
    return "succeeded"


def _result(record: dict[str, Any]) -> dict[str, Any]:
    try:
        result = json.loads(record.get("result") or "null")
    except json.JSONDecodeError:
        return {}
    return result if isinstance(result, dict) else {}


def _registry_outcome(record: dict[str, Any]) -> str:
    job_name = _result(record).get("training_job_name")
    if not job_name:
        return "trained, but the run record names no model archive"
    table = boto3.resource("dynamodb").Table(spec.MODELS_TABLE.local_name)
    item = wait_for_registry_item(table, job_name, REGISTRY_TIMEOUT_SECONDS)
    if item is None:
        return (
            f"trained ({job_name}); the model registry gave no verdict within {REGISTRY_TIMEOUT_SECONDS:g} s"
        )
    return f"trained; model registry: {describe_registry_item(item)}"


def _first_csv_row(files: dict[str, Path], kind: str) -> dict[str, str] | None:
    path = files.get(kind)
    if path is None or path.suffix.lower() != ".csv":
        return None
    with path.open("r", encoding="utf-8", newline="") as handle:
        return next(csv.DictReader(handle), None)


def _some_item_and_sku(files: dict[str, Path]) -> tuple[str, str, str]:
    """An item id, a replenished SKU and its location from the generated files, for the example calls: a SKU
    with a planned promotion when there is one, so its forecast shows the promotion days (`"promo": true`)."""
    catalog, inventory = _first_csv_row(files, "catalog"), _first_csv_row(files, "inventory")
    promotion = _first_csv_row(files, "promotions")
    item = (catalog or {}).get("item_id") or "<item_id>"
    sku = (inventory or {}).get("sku") or "<sku>"
    location = (inventory or {}).get("location") or "<location>"
    if promotion and promotion.get("sku"):
        sku = promotion["sku"]
        # A promotion without a location runs everywhere the SKU is stocked; the first such location serves.
        location = promotion.get("location") or _location_of(files, sku) or location
    return item, sku, location


def _location_of(files: dict[str, Path], sku: str) -> str | None:
    path = files.get("inventory")
    if path is None or path.suffix.lower() != ".csv":
        return None
    with path.open("r", encoding="utf-8", newline="") as handle:
        return next((row.get("location") for row in csv.DictReader(handle) if row.get("sku") == sku), None)


def print_examples(api: str, files: dict[str, Path], keys: DevKeys) -> None:
    customer = _some_customer(files) or "<user_id>"
    item, sku, location = _some_item_and_sku(files)
    now = datetime.now(UTC)
    event = json.dumps(
        {
            "events": [
                {
                    "user_id": customer,
                    "item_id": item,
                    "event_type": "view",
                    "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            ]
        }
    )
    chat = json.dumps({"session_id": "demo-1", "text": "Where is my order 123456? It is two weeks late!"})
    json_post = "-X POST -H 'Content-Type: application/json' -d"
    shopper = '-H "Authorization: Bearer $SHOPPER_TOKEN"'
    ops = '-H "Authorization: Bearer $OPS_TOKEN"'
    print("\ncredentials (7 days; more with `shelfwise token customer ID` / `shelfwise token ops`):")
    print(f"  export SHOPPER_TOKEN={keys.customer_token(customer)}   # the shopper {customer}")
    print(f"  export OPS_TOKEN={keys.operator_token()}   # an operator")
    print("\ntry:")
    print(f"  curl -s {api}/v1/health")
    print(f"  curl -s {api}/v1/openapi.json")
    print(f"  curl -s {shopper} '{api}/v1/users/{customer}/recommendations?k=10'")
    print(f"  curl -s {shopper} '{api}/v1/items/{item}/similar?k=10'")
    print(f"  curl -s {shopper} {json_post} '{event}' {api}/v1/events")
    print(f"  curl -s {shopper} {json_post} '{chat}' {api}/v1/chat/messages")
    print(f"  curl -s {ops} {api}/v1/models")
    print(f"  curl -s {ops} {api}/v1/customers/{customer}/segment")
    print(f"  curl -s {ops} '{api}/v1/forecasts/{sku}?location={location}'")
    print(f"  curl -s {ops} '{api}/v1/replenishment/plan'")
    print(f"  curl -s {ops} '{api}/v1/replenishment/report' > report.html")


def schedule_timeout(schedule: spec.Schedule) -> float:
    target_type, target = schedule.target
    if target_type == "training_job":
        return float(spec.training_job(target).max_runtime_seconds)
    if target_type == "workflow":
        return WORKFLOW_TIMEOUT_SECONDS
    return float(spec.function(target).timeout_seconds)
