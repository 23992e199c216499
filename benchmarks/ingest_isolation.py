"""API latency while the local cloud ingests a row bomb, against the same API idle. One run.

    .venv/bin/python benchmarks/ingest_isolation.py [--idle-seconds 20] [--bomb-gib 5]

Starts `shelfwise local up` in a fresh state dir, calls `GET /v1/models` (operator token, DynamoDB behind it)
back to back for `--idle-seconds`, then drops a gzip that inflates to `--bomb-gib` GiB of catalog rows (a few
MB on disk: one compressed block of rows repeated as gzip members) and keeps calling until the file's
manifest exists. Ingestion runs in its memory-capped worker process (shelfwise_local/isolation.py); the
numbers say what that buys the API. Writes the "Isolation from hostile files" subsection of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO_ROOT, command_line, machine_line, markdown_table, write_section

sys.path.insert(0, str(REPO_ROOT / "tests" / "integration"))
from test_local_cloud import start_cloud

CHUNK_ROWS = 1_000_000
ROW = b"sku-%07d,Stoneware mug,kitchen,Acme,12.50\n"
HEADER = b"item_id,title,category,brand,price\n"
MAX_BOMB_WAIT_SECONDS = 900.0


def write_bomb(path: Path, gib: float) -> int:
    """A gzip of `gib` GiB of rows; returns the inflated size."""
    # The rows repeat within deflate's 32 KiB window, so the file is tiny on disk, as a hostile one is.
    chunk = b"".join(ROW % (index % 400) for index in range(CHUNK_ROWS))
    member = gzip.compress(chunk, compresslevel=9)
    members = max(1, int(gib * 1024**3 // len(chunk)))
    with path.open("wb") as out:
        out.write(gzip.compress(HEADER, compresslevel=9))
        for _ in range(members):
            out.write(member)
    return len(HEADER) + members * len(chunk)


def call(session: requests.Session, url: str, token: str) -> float:
    started = time.perf_counter()
    response = session.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:300]}")
    return elapsed


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def worker_peak_rss_mb(parent_pid: int) -> float | None:
    """Peak resident memory of the local cloud's ingest worker (a child process), from /proc."""
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        if int(fields.get("PPid", "0").strip() or 0) != parent_pid:
            continue
        cmdline = (status.parent / "cmdline").read_bytes()
        if b"spawn_main" in cmdline and "VmHWM" in fields:  # not multiprocessing's resource tracker
            return int(fields["VmHWM"].split()[0]) / 1024
    return None


def summary(values: list[float]) -> list[str]:
    return [
        str(len(values)),
        f"{statistics.median(values) * 1000:.1f}",
        f"{percentile(values, 0.99) * 1000:.1f}",
        f"{max(values) * 1000:.1f}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--bomb-gib", type=float, default=5.0)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="shelfwise-isolation-") as temporary:
        workspace = Path(temporary)
        bomb = workspace / "bomb.csv.gz"
        inflated = write_bomb(bomb, args.bomb_gib)
        bomb_mb = bomb.stat().st_size / 1e6
        print(f"bomb: {bomb_mb:.1f} MB inflating to {inflated / 1024**3:.2f} GiB", flush=True)
        cloud = start_cloud(workspace / "state", workspace)
        try:
            from shelfwise_local.tokens import issue_operator_token

            token = issue_operator_token(cloud.state_dir)
            url = f"{cloud.api_url}/v1/models"
            session = requests.Session()
            for _ in range(20):  # warm: handler imports, first DynamoDB table scan
                call(session, url, token)
            idle: list[float] = []
            deadline = time.monotonic() + args.idle_seconds
            while time.monotonic() < deadline:
                idle.append(call(session, url, token))

            s3 = cloud.client("s3")
            key = "incoming/catalog/bomb.csv.gz"
            from shelfwise import curated
            from shelfwise.ingest.pipeline import file_id_for

            # One PUT, as `shelfwise drop` does (a multipart upload would have another kind of ETag).
            etag = s3.put_object(Bucket="shelfwise-data", Key=key, Body=bomb.read_bytes())["ETag"]
            dropped_at = time.monotonic()
            manifest_key = curated.manifest_key("catalog", file_id_for("shelfwise-data", key, etag))
            during: list[float] = []
            manifest = None
            last_check = 0.0
            while time.monotonic() - dropped_at < MAX_BOMB_WAIT_SECONDS:
                during.append(call(session, url, token))
                if time.monotonic() - last_check > 1.0:
                    last_check = time.monotonic()
                    listed = s3.list_objects_v2(Bucket="shelfwise-data", Prefix=manifest_key).get(
                        "KeyCount", 0
                    )
                    if listed:
                        manifest = json.loads(
                            s3.get_object(Bucket="shelfwise-data", Key=manifest_key)["Body"].read()
                        )
                        break
            bomb_seconds = time.monotonic() - dropped_at
            peak = worker_peak_rss_mb(cloud.process.pid)
        finally:
            cloud.stop()

    if manifest is None:
        print(f"no manifest for the bomb within {MAX_BOMB_WAIT_SECONDS:g} s", file=sys.stderr)
        return 1
    error = manifest.get("file_error") or {}
    table = markdown_table(
        ["phase", "requests", "p50 ms", "p99 ms", "max ms"],
        [["idle", *summary(idle)], ["during the row bomb", *summary(during)]],
    )
    body = f"""
`GET /v1/models` (operator token; the local gateway, the `api` handler and moto's DynamoDB all in the local
cloud's process), one client calling back to back. The row bomb: `bomb.csv.gz`, {bomb_mb:.1f} MB of gzip
inflating to {inflated / 1024**3:.2f} GiB of catalog rows, dropped into `incoming/catalog/`.

{table}

The bomb ended as `{manifest["status"]}` (`{error.get("code")}`: {error.get("reason")}) after
{bomb_seconds:.0f} s in the ingest worker process; its peak resident memory was
{f"{peak:.0f} MB" if peak is not None else "not measured"} (the worker's address-space cap is the function's
`memory_mb`). Every request answered 200. One run.

{machine_line()}

Command: `{command_line()}`
"""
    print(body)
    write_section("Ingestion", "Isolation from hostile files", body)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
