"""`shelfwise demo`: a generated shop delivered through the drop folder into a running local cloud.

The demo serves as soon as the shop is ingested and its customers scored: it prints the credentials and the
`curl` lines then, and runs the forecast and the model training in the background, one after the other (so
they do not fight over a laptop's cores), saying how each goes and when each new model version is served.
Until the recommender's first version is served, recommendations come from the popularity fallback.
"""

from __future__ import annotations

import contextvars
import csv
import json
import shutil
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import boto3
from shelfwise.privacy.identities import CustomerIdVault
from shelfwise_infra import spec

from shelfwise_local.cloud import LocalCloud
from shelfwise_local.tokens import DevKeys
from shelfwise_local.training import (
    HYPERPARAMETERS_DIR,
    describe_duration,
    describe_registry_item,
    wait_for_registry_item,
)

INGEST_TIMEOUT_SECONDS = 600.0
# Run before the demo serves: customer scoring takes seconds and the segment route needs it.
FOREGROUND_SCHEDULES = ("segment-customers",)
# Run after the curl lines, one at a time: the forecast first (quick, and its routes answer 404 until it has
# run), then the recommender (recommendations come from the popularity fallback until then), chat last (the
# shipped default model answers until the retrained one is served).
BACKGROUND_SCHEDULES = ("forecast", "train-recommender", "train-chat")
# A few dozen SKUs at two warehouses over a year: enough for weekly seasonality and promotions, small enough
# that the forecast workflow finishes in a minute or two on a laptop.
DEMO_SKUS = 40
DEMO_SALES_DAYS = 365
REGISTRY_TIMEOUT_SECONDS = 300.0
WORKFLOW_TIMEOUT_SECONDS = 1800.0
# Serving looks for a newly promoted version every 30 s (SHELFWISE_MODEL_REFRESH_SECONDS); allow for a few.
SERVED_TIMEOUT_SECONDS = 120.0
# A background step that says nothing of its own gets a line from the demo this often.
PROGRESS_SECONDS = 30.0
SERVED_CHAT_SESSION = "demo-model-check"
# Scored customers read to pick the one the example calls name (about one in five is a champion).
CUSTOMER_SAMPLE = 200
# What changes for a caller once a model's new version is served.
SERVED_BY = {
    "recommender": "recommendations and similar items now come from it (model_version in the answer)",
    "chat": "chat messages are now classified by it (model_version in the answer)",
}


class DemoConsole:
    """The demo's own output: whole lines, from the foreground and the background thread alike."""

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out
        self._lock = threading.Lock()

    def say(self, text: str = "") -> None:
        with self._lock:
            print(text, file=self._out or sys.stdout, flush=True)

    def note(self, text: str) -> None:
        self.say(f"[demo] {text}")


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
    # A sample is enough to find a champion; the local DynamoDB scans the whole demo shop in about 10 s.
    scored = table.scan(
        Limit=CUSTOMER_SAMPLE,
        ProjectionExpression="user_id, #segment",
        ExpressionAttributeNames={"#segment": "segment"},
    ).get("Items", [])
    # The table holds pseudonyms; the calls name customers by the shop's own ids, from the vault.
    customer_ids = CustomerIdVault(spec.CUSTOMER_IDS_TABLE.local_name).customer_ids(
        str(item["user_id"]) for item in scored
    )
    known = [item for item in scored if str(item["user_id"]) in customer_ids]
    champions = sorted(
        customer_ids[str(item["user_id"])] for item in known if item.get("segment") == "champions"
    )
    if champions or known:
        return champions[0] if champions else customer_ids[str(known[0]["user_id"])]
    interactions = files.get("interactions")
    if interactions is not None and interactions.suffix.lower() == ".csv":
        with interactions.open("r", encoding="utf-8") as handle:
            header = handle.readline().strip().split(",")
            first = handle.readline().strip().split(",")
        if "user_id" in header and len(first) == len(header):
            return first[header.index("user_id")]
    return None


def _wait_for_run(
    cloud: LocalCloud,
    run_id: str,
    timeout: float,
    on_progress: Callable[[float], None] | None = None,
) -> dict[str, Any] | None:
    """The run's record once it ended (None on timeout); `on_progress(seconds)` every `PROGRESS_SECONDS`."""
    started = time.monotonic()
    deadline = started + timeout
    next_progress = started + PROGRESS_SECONDS
    while time.monotonic() < deadline:
        record = cloud.run_log.get(run_id)
        if record and record["status"] != "running":
            return record
        now = time.monotonic()
        if on_progress is not None and now >= next_progress:
            on_progress(now - started)
            next_progress = now + PROGRESS_SECONDS
        time.sleep(0.5)
    return None


def generate_demo_shop(out_dir: Path, seed: int) -> dict[str, Path]:
    """The demo's shop: the generator's full catalog and customers, a year of sales for `DEMO_SKUS` SKUs."""
    from shelfwise_local.demo import generate_shop

    return generate_shop(out_dir, seed, n_skus=DEMO_SKUS, sales_days=DEMO_SALES_DAYS)


def deliver_shop(cloud: LocalCloud, files: dict[str, Path], console: DemoConsole) -> None:
    """Place the shop's files in the drop folder and wait until ingestion is done, saying what landed."""
    for kind, path in files.items():
        if kind not in spec.INGEST_KINDS:
            print(f"skipping generated {kind} file {path.name}: not an ingest kind", file=sys.stderr)
            continue
        # Copy next to the target first, then rename: the drop folder never sees a half-written file.
        target = cloud.dropbox.root / kind / path.name
        partial = target.with_name(f".{path.name}.partial")
        shutil.copyfile(path, partial)
        partial.replace(target)
    console.say(f"placed {len(files)} demo files in {cloud.dropbox.root}; ingesting ...")
    if not cloud.wait_until_idle(INGEST_TIMEOUT_SECONDS):
        print("ingestion did not finish in time; the platform keeps running", file=sys.stderr)
    s3 = boto3.client("s3")
    console.say("\nlanded:")
    for kind in spec.INGEST_KINDS:
        curated = _count_objects(s3, f"{spec.CURATED_PREFIX}{kind}/")
        manifests = _count_objects(s3, f"{spec.CURATED_PREFIX}_manifests/{kind}/")
        rejected = _count_objects(s3, f"{spec.REJECTED_PREFIX}{kind}/")
        console.say(
            f"  {kind:<13} {curated} curated parts, {manifests} manifests, {rejected} rejection reports"
        )


@dataclass
class RunningDemo:
    """A demo that is serving: its cloud, and the thread running the background steps."""

    cloud: LocalCloud
    background: threading.Thread
    customer: str
    seconds_to_serving: float


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
        from shelfwise_local.demo import generate_shop  # noqa: F401 — the generator's imports must work
    except ImportError as missing:
        print(f"shelfwise: the demo data generator is not available ({missing})", file=sys.stderr)
        return 1
    demo = start_demo(
        state_dir=state_dir,
        port=port,
        seed=seed,
        functions_dir=functions_dir,
        training_dir=training_dir,
        function_log_path=function_log_path,
    )
    demo.cloud.run_until_signalled()
    return 0


# The demo shop's recommender: EASE with the low-rank head scores as the default EASE + Mult-VAE blend on this
# shop once the ranking stage is on (hold-out nDCG@10 0.1947 vs 0.1946) in about a third of the time, so the
# demo serves its first model sooner. A file already there (the retailer's own choice) is left alone.
DEMO_HYPERPARAMETERS = {"recommender": {"model": "ease_lowrank"}}


def choose_demo_hyperparameters(state_dir: Path) -> None:
    for job, values in DEMO_HYPERPARAMETERS.items():
        path = Path(state_dir) / HYPERPARAMETERS_DIR / f"{job}.json"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")


def start_demo(
    *,
    state_dir: Path,
    port: int,
    seed: int,
    functions_dir: Path | None = None,
    training_dir: Path | None = None,
    function_log_path: Path | None = None,
    out: TextIO | None = None,
    background_schedules: tuple[str, ...] = BACKGROUND_SCHEDULES,
) -> RunningDemo:
    """Generate the shop, start the cloud, ingest, score customers, print the calls to try, and return
    while `background_schedules` run one after the other on a background thread."""
    started = time.monotonic()
    console = DemoConsole(out)
    cloud = LocalCloud(
        state_dir,
        port=port,
        functions_dir=functions_dir,
        training_dir=training_dir,
        function_log_path=function_log_path,
    )
    files = generate_demo_shop(cloud.state_dir / "demo-data", seed)
    choose_demo_hyperparameters(cloud.state_dir)
    cloud.start()
    console.say(cloud.banner())
    try:
        deliver_shop(cloud, files, console)
        console.say("\nscheduled work (run now instead of waiting for the schedule):")
        for name in FOREGROUND_SCHEDULES:
            console.say(f"  {name:<18} {run_step(cloud, spec.schedule(name))}")
        customer = _some_customer(files) or "<user_id>"
        print_examples(cloud.api_url, files, cloud.keys, customer=customer, console=console)
        seconds_to_serving = time.monotonic() - started
        console.say(
            f"\nserving, {describe_duration(seconds_to_serving)} after start, until Ctrl-C. In the "
            f"background, one after the other: {', '.join(background_schedules) or 'nothing'} ([demo] lines)."
        )
        # In this context's copy: the console is whatever this thread's stdout is (see function_logs.py).
        background = threading.Thread(
            target=contextvars.copy_context().run,
            args=(run_background, cloud, background_schedules, console, customer),
            name="demo-background",
            daemon=True,
        )
        background.start()
    except BaseException:
        cloud.stop()
        raise
    return RunningDemo(
        cloud=cloud, background=background, customer=customer, seconds_to_serving=seconds_to_serving
    )


def run_background(
    cloud: LocalCloud, schedule_names: tuple[str, ...], console: DemoConsole, customer: str
) -> None:
    """Run each schedule to the end, one at a time, and say when a new model version is served."""
    for name in schedule_names:
        schedule = spec.schedule(name)
        label = _label(schedule)
        started = time.monotonic()
        console.note(f"{label}: started")
        try:
            outcome = _run(cloud, schedule, console, label)
            if isinstance(outcome, dict):
                _report_model(cloud, console, label, outcome, customer, started)
            else:
                console.note(f"{label}: {outcome} ({describe_duration(time.monotonic() - started)})")
        except Exception as problem:  # a failing step never stops the demo or the steps after it
            console.note(f"{label}: {type(problem).__name__}: {problem}")
    if schedule_names:
        console.note("background work done; serving until Ctrl-C")


def _label(schedule: spec.Schedule) -> str:
    target_type, target = schedule.target
    return f"{target} training" if target_type == "training_job" else schedule.name


def _run(
    cloud: LocalCloud, schedule: spec.Schedule, console: DemoConsole, label: str
) -> str | dict[str, Any]:
    """Run one schedule to its end: the model registry's item for a training job, else how it went."""
    target_type, _ = schedule.target
    run_id = cloud.scheduler.trigger(schedule)

    def progress(seconds: float) -> None:
        console.note(f"{label}: running, {describe_duration(seconds)} so far")

    # A training job's own lines and the runner's heartbeat already show its progress on the console.
    record = _wait_for_run(
        cloud, run_id, schedule_timeout(schedule), None if target_type == "training_job" else progress
    )
    if record is None:
        return f"still running after {schedule_timeout(schedule):g} s (run {run_id}; see the log)"
    if record["status"] == "failed":
        return f"FAILED — {record.get('error')} (run {run_id}; the other steps go on)"
    if target_type != "training_job":
        return _describe_success(schedule, record)
    job_name = _result(record).get("training_job_name")
    if not job_name:
        return "trained, but the run record names no model archive"
    table = boto3.resource("dynamodb").Table(spec.MODELS_TABLE.local_name)
    item = wait_for_registry_item(table, job_name, REGISTRY_TIMEOUT_SECONDS)
    if item is None:
        return (
            f"trained ({job_name}); the model registry gave no verdict within {REGISTRY_TIMEOUT_SECONDS:g} s"
        )
    return item


def _report_model(
    cloud: LocalCloud,
    console: DemoConsole,
    label: str,
    item: dict[str, Any],
    customer: str,
    started: float,
) -> None:
    took = describe_duration(time.monotonic() - started)
    if item.get("status") != "promoted":
        console.note(f"{label}: done in {took}; model registry: {describe_registry_item(item)}")
        return
    name, version = str(item.get("model_name")), str(item.get("version"))
    console.note(
        f"{label}: done in {took}; {name} version {version} promoted, waiting for serving to load it"
    )
    served = _wait_until_served(cloud, name, version, customer)
    if served is None:
        console.note(f"{name} version {version}: the API can not tell which version it serves")
    elif served:
        console.note(
            f"{name} version {version} is served: {SERVED_BY.get(name, 'its route answers with it')}"
        )
    else:
        console.note(
            f"{name} version {version}: not served within {SERVED_TIMEOUT_SECONDS:g} s (see the function log)"
        )


def _wait_until_served(cloud: LocalCloud, model_name: str, version: str, customer: str) -> bool | None:
    """Ask the API until it answers with `version`: True when it does, False on timeout, None when the
    model has no route that names its version."""
    token = cloud.keys.customer_token(customer)
    if model_name == "recommender":
        request = lambda: _call(cloud.api_url, f"/v1/users/{customer}/recommendations?k=1", token)  # noqa: E731
    elif model_name == "chat":
        body = {"session_id": SERVED_CHAT_SESSION, "text": "Hello, is anyone there?"}
        request = lambda: _call(cloud.api_url, "/v1/chat/messages", token, body)  # noqa: E731
    else:
        return None
    deadline = time.monotonic() + SERVED_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        answer = request()
        if isinstance(answer, dict) and str(answer.get("model_version")) == version:
            return True
        time.sleep(2.0)
    return False


def _call(api: str, path: str, token: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        f"{api}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")
    except (urllib.error.URLError, TimeoutError, json.JSONDecodeError):
        return None


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
    return _describe_success(schedule, record)


def _describe_success(schedule: spec.Schedule, record: dict[str, Any]) -> str:
    target_type, _ = schedule.target
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


def print_examples(
    api: str,
    files: dict[str, Path],
    keys: DevKeys,
    *,
    customer: str | None = None,
    console: DemoConsole | None = None,
) -> None:
    """The credentials and the calls to try: those that answer now, then those that need the forecast."""
    say = (console or DemoConsole()).say
    customer = customer or _some_customer(files) or "<user_id>"
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
    say("\ncredentials (7 days; more with `shelfwise token customer ID` / `shelfwise token ops`):")
    say(f"  export SHOPPER_TOKEN={keys.customer_token(customer)}   # the shopper {customer}")
    say(f"  export OPS_TOKEN={keys.operator_token()}   # an operator")
    say(
        "\ntry (recommendations come from the popular items until the recommender's first version is served):"
    )
    say(f"  curl -s {api}/v1/health")
    say(f"  curl -s {api}/v1/openapi.json")
    say(f"  curl -s {shopper} '{api}/v1/users/{customer}/recommendations?k=10'")
    say(f"  curl -s {shopper} '{api}/v1/items/{item}/similar?k=10'")
    say(f"  curl -s {shopper} {json_post} '{event}' {api}/v1/events")
    say(f"  curl -s {shopper} {json_post} '{chat}' {api}/v1/chat/messages")
    say(f"  curl -s {ops} {api}/v1/models")
    say(f"  curl -s {ops} {api}/v1/customers/{customer}/segment")
    say(f"  curl -s {ops} {api}/v1/customers/{customer}/data   # everything held about the shopper")
    say("\nonce the forecast has run (the `[demo] forecast: succeeded` line below; 404 until then):")
    say(f"  curl -s {ops} '{api}/v1/forecasts/{sku}?location={location}'")
    say(f"  curl -s {ops} '{api}/v1/replenishment/plan'")
    say(f"  curl -s {ops} '{api}/v1/replenishment/report' > report.html")


def schedule_timeout(schedule: spec.Schedule) -> float:
    target_type, target = schedule.target
    if target_type == "training_job":
        return float(spec.training_job(target).max_runtime_seconds)
    if target_type == "workflow":
        return WORKFLOW_TIMEOUT_SECONDS
    return float(spec.function(target).timeout_seconds)
