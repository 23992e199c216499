"""Fault injection: SIGKILL the local cloud while it ingests, restart it, check that every file landed once.

One trial: start `shelfwise local up` as a subprocess on a fresh state dir, place the files in its drop
folder, SIGKILL the process at a seeded random moment of the ingestion, start it again on the same state dir,
wait until every file has a manifest and the cloud is idle, then read what it holds (`Outcome`). A reference
run does the same without the kill. A trial passes when its outcome equals the reference:

- one manifest per file, with the reference's counts and status;
- curated rows per file equal to the manifest's rows landed, no curated part without a manifest;
- the same rejection reports, byte for byte;
- the same DynamoDB catalog and user-activity items;
- at most one ingested-files log item per file (written with the FileIngested/FileRejected event).

Used by tests/integration/test_crash_recovery.py (CI-sized files) and benchmarks/crash_recovery.py (a
1,000,000-row file).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pyarrow.parquet as pq
from shelfwise_infra import spec

from shelfwise_local.cloud import free_port_pair
from shelfwise_local.tokens import KEYS_DIR, PSEUDONYM_KEY_FILE

STARTUP_TIMEOUT = 180.0
BUCKET = spec.DATA_BUCKET.local_name
# The generated interactions fall on the three days before this one, fixed for the whole process so the
# reference run and every trial drop the same bytes: recent enough that no user activity expires (the
# local cloud's housekeeping sweep applies the retention TTL) while a trial runs.
FIRST_EVENT_DAY = (datetime.now(UTC) - timedelta(days=3)).date()


@dataclass(frozen=True)
class DropFile:
    kind: str
    name: str
    content: bytes


def interactions_csv(rows: int, seed: int, users: int, bad_every: int = 97) -> bytes:
    """Interactions over three days with one bad row in `bad_every` (an unknown event type)."""
    rng = random.Random(seed)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["user_id", "item_id", "event_type", "value", "timestamp"])
    for index in range(rows):
        event = "click" if index % bad_every == bad_every - 1 else rng.choice(("view", "cart", "purchase"))
        writer.writerow(
            [
                f"u{rng.randrange(users)}",
                f"i{rng.randrange(5000)}",
                event,
                "1",
                f"{FIRST_EVENT_DAY + timedelta(days=rng.randrange(3))}"
                f"T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z",
            ]
        )
    return buffer.getvalue().encode()


def catalog_csv(rows: int) -> bytes:
    lines = ["item_id,title,category,brand,price"]
    lines += [f"i{n},Item {n},cat{n % 9},brand{n % 13},{1 + n % 50}.99" for n in range(rows)]
    lines.append("i-bad,Broken,cat1,brand1,not-a-price")
    return ("\n".join(lines) + "\n").encode()


def ci_files(rows: int = 20_000, seed: int = 7) -> list[DropFile]:
    """Several files of several kinds, one rejected whole; users overlap between the interactions files."""
    return [
        DropFile("interactions", "clicks-a.csv", interactions_csv(rows, seed, users=2_000)),
        DropFile("interactions", "clicks-b.csv", interactions_csv(rows // 2, seed + 1, users=2_000)),
        DropFile("catalog", "catalog.csv", catalog_csv(5_000)),
        DropFile("sales", "no-header.csv", b"this is not the sales export\n1,2,3\n"),
    ]


@dataclass
class Outcome:
    manifests: dict[str, list[dict[str, Any]]]  # source key -> manifests (counts and status only)
    curated_rows: dict[str, int]  # source key -> curated rows of its file_id
    orphan_parts: list[str]  # curated parts whose file_id has no manifest
    reports: dict[str, str]  # rejection report key -> sha256
    dynamodb: dict[str, str]  # table -> sha256 of its items
    log_items: dict[str, int]  # file_id -> ingested-files log items

    def comparable(self) -> dict[str, Any]:
        return {
            "manifests": self.manifests,
            "curated_rows": self.curated_rows,
            "orphan_parts": self.orphan_parts,
            "reports": self.reports,
            "dynamodb": self.dynamodb,
        }


@dataclass
class TrialResult:
    seed: int
    kill_after_seconds: float
    manifests_before_kill: int
    recovery_seconds: float
    outcome: Outcome
    differences: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.differences


def share_pseudonym_key(state_dir: Path, log_dir: Path) -> None:
    """Give every cloud run that writes to `log_dir` one pseudonym key (`<log_dir>/pseudonym.key`).

    Pseudonyms are keyed per state dir: with a key of its own each run would store every customer under other
    pseudonyms, and a trial's activity table could never equal its reference's.
    """
    shared = log_dir / PSEUDONYM_KEY_FILE
    if not shared.is_file():
        shared.write_text(secrets.token_urlsafe(48) + "\n", "utf-8")
    own = state_dir / KEYS_DIR / PSEUDONYM_KEY_FILE
    if not own.is_file():
        own.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared, own)


class CloudProcess:
    """`shelfwise local up` as a subprocess on `state_dir`."""

    def __init__(self, state_dir: Path, log_dir: Path) -> None:
        self.state_dir = state_dir
        share_pseudonym_key(state_dir, log_dir)
        self.port = free_port_pair()
        self.log_path = log_dir / f"local-up-{self.port}.log"
        (state_dir / "local.json").unlink(missing_ok=True)
        environment = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
        environment["PYTHONUNBUFFERED"] = "1"
        with self.log_path.open("w") as log_file:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "shelfwise_local.cli", "local", "up", "--port", str(self.port),
                 "--state-dir", str(state_dir)],
                env=environment,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.api_url = f"http://127.0.0.1:{self.port}"
        self.endpoint_url = self._wait_until_up()

    def _wait_until_up(self) -> str:
        import requests

        deadline = time.monotonic() + STARTUP_TIMEOUT
        description_path = self.state_dir / "local.json"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the local cloud exited early:\n{self.log()[-4000:]}")
            try:
                description = json.loads(description_path.read_text()) if description_path.is_file() else {}
                ours = description.get("api_url") == self.api_url
                if ours and requests.get(f"{self.api_url}/v1/health", timeout=2).status_code == 200:
                    return str(description["aws_endpoint_url"])
            except (requests.RequestException, ValueError, OSError):
                pass
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"the local cloud did not come up:\n{self.log()[-4000:]}")

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def drop(self, file: DropFile) -> None:
        """As a copy tool does: written aside under a hidden name, then renamed into the drop folder."""
        folder = self.state_dir / "dropbox" / file.kind
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{file.name}.partial"
        partial.write_bytes(file.content)
        partial.replace(folder / file.name)

    def manifest_count(self) -> int:
        listing = (
            self.client("s3")
            .get_paginator("list_objects_v2")
            .paginate(Bucket=BUCKET, Prefix="curated/_manifests/")
        )
        return sum(len(page.get("Contents", [])) for page in listing)

    def wait_for_manifests(self, expected: int, timeout: float) -> None:
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the local cloud exited:\n{self.log()[-4000:]}")
            if self.manifest_count() >= expected:
                status = requests.get(
                    f"{self.api_url}/_local/status", headers=self._operator_headers(), timeout=10
                ).json()
                queue = status["queues"][spec.INGEST_QUEUE.local_name]
                if not status["dropbox"]["pending"] and queue["visible"] == 0 and queue["in_flight"] == 0:
                    return
            time.sleep(0.3)
        raise RuntimeError(
            f"{self.manifest_count()} of {expected} manifests after {timeout:.0f} s:\n{self.log()[-4000:]}"
        )

    def _operator_headers(self) -> dict[str, str]:
        # The control routes answer only this machine's operator (a token signed with the state dir's keys).
        from shelfwise_local.tokens import issue_operator_token

        return {"Authorization": f"Bearer {issue_operator_token(self.state_dir)}"}

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace") if self.log_path.is_file() else ""

    def outcome(self) -> Outcome:
        s3 = self.client("s3")
        keys = [
            entry["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
            for entry in page.get("Contents", [])
        ]
        manifests: dict[str, list[dict[str, Any]]] = {}
        file_ids: dict[str, str] = {}
        for key in keys:
            if key.startswith("curated/_manifests/"):
                manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
                file_ids[manifest["file_id"]] = manifest["source_key"]
                manifests.setdefault(manifest["source_key"], []).append(
                    {
                        name: manifest.get(name)
                        for name in (
                            "file_id",
                            "status",
                            "rows_total",
                            "rows_landed",
                            "rows_rejected",
                            "problems_reported",
                            "rejection_report_key",
                            "curated_keys",
                        )
                    }
                )
        curated_rows: Counter[str] = Counter()
        orphans = []
        for key in keys:
            if key.startswith("curated/") and key.endswith(".parquet") and "/part-" in key:
                file_id = key.rsplit("/part-", 1)[1].removesuffix(".parquet")
                if file_id not in file_ids:
                    orphans.append(key)
                    continue
                body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
                curated_rows[file_ids[file_id]] += pq.read_metadata(io.BytesIO(body)).num_rows
        reports = {
            key: hashlib.sha256(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()).hexdigest()
            for key in keys
            if key.startswith("rejected/")
        }
        dynamodb = self.client("dynamodb")
        tables = {}
        for table in (spec.CATALOG_TABLE.local_name, spec.USER_ACTIVITY_TABLE.local_name):
            items = [
                item
                for page in dynamodb.get_paginator("scan").paginate(TableName=table)
                for item in page.get("Items", [])
            ]
            canonical = sorted(json.dumps(item, sort_keys=True) for item in items)
            tables[table] = (
                f"{len(items)} items, sha256 {hashlib.sha256(''.join(canonical).encode()).hexdigest()}"
            )
        log_items: Counter[str] = Counter()
        log_table = next((t for t in spec.TABLES if t.id == "IngestFilesTable"), None)
        if log_table is not None:
            for page in dynamodb.get_paginator("scan").paginate(TableName=log_table.local_name):
                for item in page.get("Items", []):
                    log_items[item.get("file_key", {}).get("S", "").rsplit("#", 1)[-1]] += 1
        return Outcome(
            manifests=dict(sorted(manifests.items())),
            curated_rows=dict(sorted(curated_rows.items())),
            orphan_parts=sorted(orphans),
            reports=reports,
            dynamodb=tables,
            log_items=dict(log_items),
        )


def differences(reference: Outcome, trial: Outcome) -> list[str]:
    found = []
    for source_key, manifests in trial.manifests.items():
        if len(manifests) != 1:
            found.append(f"{source_key}: {len(manifests)} manifests")
    for source_key, manifests in reference.manifests.items():
        landed = manifests[0]["rows_landed"]
        if trial.curated_rows.get(source_key, 0) != landed:
            found.append(
                f"{source_key}: {trial.curated_rows.get(source_key, 0)} curated rows, expected {landed}"
            )
    expected, actual = reference.comparable(), trial.comparable()
    for name in expected:
        if expected[name] != actual[name]:
            found.append(f"{name} differ: expected {expected[name]!r}, got {actual[name]!r}")
    duplicated = {file_id: count for file_id, count in trial.log_items.items() if count > 1}
    if duplicated:
        found.append(f"files announced more than once: {duplicated}")
    manifested = {entry["file_id"] for entries in trial.manifests.values() for entry in entries}
    unannounced = sorted(manifested - set(trial.log_items))
    if unannounced:
        found.append(f"files landed but never announced: {unannounced}")
    return found


def run_files(state_dir: Path, log_dir: Path, files: list[DropFile], timeout: float) -> tuple[Outcome, float]:
    """The reference: drop every file and wait until all landed; the outcome and the seconds it took."""
    cloud = CloudProcess(state_dir, log_dir)
    try:
        started = time.monotonic()
        for file in files:
            cloud.drop(file)
        cloud.wait_for_manifests(len(files), timeout)
        return cloud.outcome(), time.monotonic() - started
    finally:
        cloud.kill()  # the state dir is thrown away; a graceful stop would only cost time


def run_trial(
    state_dir: Path,
    log_dir: Path,
    files: list[DropFile],
    *,
    seed: int,
    kill_window: float,
    reference: Outcome,
    timeout: float,
) -> TrialResult:
    """Drop the files, SIGKILL the cloud after a seeded random delay in `kill_window`, restart, compare."""
    kill_after = random.Random(seed).uniform(0.0, kill_window)
    cloud = CloudProcess(state_dir, log_dir)
    try:
        for file in files:
            cloud.drop(file)
        time.sleep(kill_after)
        before = cloud.manifest_count()
    finally:
        cloud.kill()
    restarted_at = time.monotonic()
    cloud = CloudProcess(state_dir, log_dir)
    try:
        cloud.wait_for_manifests(len(files), timeout)
        recovery_seconds = time.monotonic() - restarted_at
        outcome = cloud.outcome()
    finally:
        cloud.kill()
    return TrialResult(
        seed=seed,
        kill_after_seconds=kill_after,
        manifests_before_kill=before,
        recovery_seconds=recovery_seconds,
        outcome=outcome,
        differences=differences(reference, outcome),
    )
