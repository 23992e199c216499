"""Ingestion throughput: 1,000,000 interactions (~1% bad rows), 100,000 catalog rows, 100,000 chat messages.

Run: .venv/bin/python benchmarks/ingest_benchmark.py [--rows N] [--catalog-rows N] [--chat-rows N]
[--no-write]

No AWS account and no network: moto runs as a server in its own process (`python -m moto.server`) and every
file is ingested in a fresh process pointed at it through `AWS_ENDPOINT_URL`, running
`shelfwise.ingest.pipeline.ingest_object`, the code the ingest function runs. So the peak RSS reported is the
ingest process's own (`ru_maxrss`), not moto's copies of the objects and tables, and the generated files are
streamed to disk by this parent process without touching the measured one.

Wall time is split at the pipeline's `files_written` progress event: file work (reading from S3, validating,
curated Parquet, rejection report, uploads) and then the DynamoDB phase (activity merge, BatchGetItem and
BatchWriteItem calls). That phase measures moto, whose per-item cost is far above the real service's, so the
time the same requests would take against AWS is estimated from their count at a stated latency and from the
ingest process's own CPU in that phase.

The chat file (labelled messages, some carrying e-mail addresses, phone numbers and card numbers) measures the
redaction every chat training message passes through before it lands; the same messages are also redacted
alone in this process, so the report can say what share of the file work redaction is.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from _common import REPO_ROOT, cpu_model, write_section

DOCS = REPO_ROOT / "docs" / "benchmarks.md"
SECTION_TITLE = "Ingestion"
SUBSECTION_TITLE = "Throughput: interactions, catalog and chat messages"
BUCKET = "shelfwise-data"
CATALOG_TABLE = "shelfwise-catalog"
ACTIVITY_TABLE = "shelfwise-user-activity"
CUSTOMER_IDS_TABLE = "shelfwise-customer-ids"
# Customer ids are pseudonymized on the way in (HMAC-SHA256); the benchmark's key is as long as a real one.
PSEUDONYM_KEY = b"benchmark-pseudonym-key-" + b"k" * 40
GENERATE_ROWS_PER_BLOCK = 200_000
# Assumed round trips to real DynamoDB from a function in the same region (a batch of 25 items of 1-3 KB, or
# 100 keys); these are assumptions for the estimate, not measurements.
ASSUMED_BATCH_WRITE_SECONDS = 0.025
ASSUMED_BATCH_GET_SECONDS = 0.020
# A new on-demand table serves up to 4,000 write request units per second before it scales out.
NEW_ON_DEMAND_WRITE_UNITS_PER_SECOND = 4_000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def write_interactions_csv(path: Path, rows: int, seed: int = 7) -> int:
    """A realistic export: 50k users, 20k items, 30 days; about 1% of rows broken in one field."""
    rng = np.random.default_rng(seed)
    bad_rows = 0
    with path.open("w") as handle:
        handle.write("user_id,item_id,event_type,value,timestamp\n")
        for start in range(0, rows, GENERATE_ROWS_PER_BLOCK):
            size = min(GENERATE_ROWS_PER_BLOCK, rows - start)
            users = np.char.add("u", rng.integers(0, 50_000, size).astype(str))
            items = np.char.add("sku-", rng.integers(0, 20_000, size).astype(str))
            kinds = np.array(["view", "view", "view", "cart", "purchase", "rating"])[rng.integers(0, 6, size)]
            values = np.where(kinds == "purchase", np.round(rng.uniform(5, 200, size), 2).astype(str), "1")
            values = np.where(kinds == "rating", rng.integers(1, 6, size).astype(str), values)
            stamps = (1_761_955_200 + rng.integers(0, 30 * 86_400, size)).astype(str)
            bad = rng.random(size) < 0.01
            breakage = rng.integers(0, 3, size)
            kinds = np.where(bad & (breakage == 0), "click", kinds)
            items = np.where(bad & (breakage == 1), "", items)
            stamps = np.where(bad & (breakage == 2), "not-a-time", stamps)
            bad_rows += int(bad.sum())
            handle.writelines(
                ",".join(fields) + "\n" for fields in zip(users, items, kinds, values, stamps, strict=True)
            )
    return bad_rows


def write_catalog_csv(path: Path, rows: int, seed: int = 11) -> int:
    rng = np.random.default_rng(seed)
    with path.open("w") as handle:
        handle.write("item_id,title,category,brand,price,color\n")
        for start in range(0, rows, GENERATE_ROWS_PER_BLOCK):
            size = min(GENERATE_ROWS_PER_BLOCK, rows - start)
            handle.writelines(
                f"sku-{index},Item {index},{category},brand-{brand},{price:.2f},{color}\n"
                for index, category, brand, price, color in zip(
                    range(start, start + size),
                    np.array(["kitchen", "garden", "toys", "books"])[rng.integers(0, 4, size)],
                    rng.integers(0, 300, size),
                    rng.uniform(1, 500, size),
                    np.array(["red", "blue", "green"])[rng.integers(0, 3, size)],
                    strict=True,
                )
            )
    return 0


CHAT_TEMPLATES = (
    ("where is my order {n}? it was due on monday", "track_order"),
    ("Hi, I'd like to cancel order #{n} please, it hasn't shipped yet", "cancel_order"),
    ("the parcel arrived damaged, can I get a refund? call me on +44 20 7946 {d4}", "request_refund"),
    ("I was charged twice on card 4111 1111 1111 1111 for order {n}", "report_fraud"),
    ("please update my email to shopper{n}@example.com", "change_account"),
    ("do you ship to Ireland and how long does it take?", "delivery_options"),
    ("thanks, that sorted it out!", "thanks"),
    ("The size {n} jacket is too small, how do I exchange it for a bigger one", "exchange_item"),
)


def write_chat_training_csv(path: Path, rows: int, seed: int = 13) -> int:
    """Labelled messages from a few shapes; 3 of 8 carry PII to redact, about 1% lack their intent."""
    rng = np.random.default_rng(seed)
    bad_rows = 0
    with path.open("w") as handle:
        handle.write("text,intent\n")
        for start in range(0, rows, GENERATE_ROWS_PER_BLOCK):
            size = min(GENERATE_ROWS_PER_BLOCK, rows - start)
            shapes = rng.integers(0, len(CHAT_TEMPLATES), size)
            numbers = rng.integers(10_000, 99_999, size)
            bad = rng.random(size) < 0.01
            bad_rows += int(bad.sum())
            for shape, number, broken in zip(shapes, numbers, bad, strict=True):
                template, intent = CHAT_TEMPLATES[shape]
                text = template.format(n=number, d4=number % 10_000)
                handle.write(f'"{text}",{"" if broken else intent}\n')
    return bad_rows


def redaction_microseconds(path: Path, messages: int = 20_000) -> float:
    """Redaction alone, per message, on the file's first messages (the matchers loaded before timing)."""
    import csv

    from shelfwise.chat.redact import redact

    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        texts = [row[0] for _, row in zip(range(messages), reader, strict=False)]
    redact(texts[0])
    started = time.perf_counter()
    for text in texts:
        redact(text)
    return (time.perf_counter() - started) / len(texts) * 1e6


def peak_rss_mb() -> float:
    """This process's peak resident set: VmHWM, the figure `ru_maxrss` reports, but not inherited on exec.

    The ingest process is started by fork + exec from this script, and Linux carries `ru_maxrss` over exec, so
    it would report the generator's footprint instead of the pipeline's.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_moto_server() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, f"http://127.0.0.1:{port}"
        except OSError:
            if server.poll() is not None:
                raise RuntimeError("the moto server exited on start") from None
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("the moto server did not start within 30 s")


def create_resources() -> None:
    import boto3

    boto3.client("s3").create_bucket(Bucket=BUCKET)
    ddb = boto3.client("dynamodb")
    for table, key in (
        (CATALOG_TABLE, "item_id"),
        (ACTIVITY_TABLE, "user_id"),
        (CUSTOMER_IDS_TABLE, "pseudonym"),
    ):
        ddb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )


def ingest_in_this_process(key: str) -> dict[str, Any]:
    """Runs in a fresh process: ingests one object and measures that process alone."""
    import boto3
    from shelfwise.aws import dynamodb
    from shelfwise.ingest.pipeline import IngestTargets, ingest_object
    from shelfwise.privacy.pseudonyms import Pseudonymizer

    requests = {"BatchWriteItem": 0, "BatchGetItem": 0, "write_items": 0, "write_payload_bytes": 0}
    lock = threading.Lock()

    def count_request(params: dict[str, Any], model: Any, **_kwargs: Any) -> None:
        with lock:
            requests[model.name] += 1
            if model.name == "BatchWriteItem":
                requests["write_items"] += sum(len(batch) for batch in params["RequestItems"].values())

    def count_payload(request: Any, operation_name: str, **_kwargs: Any) -> None:
        if operation_name == "BatchWriteItem":
            with lock:
                requests["write_payload_bytes"] += len(request.body or b"")

    # Registered on the session before any client exists: every client copies the session's handlers when it
    # is created, including the one the pipeline creates for typed activity items.
    boto3.setup_default_session()
    events = boto3.DEFAULT_SESSION.events
    for operation in ("BatchWriteItem", "BatchGetItem"):
        events.register(f"provide-client-params.dynamodb.{operation}", count_request)
    events.register("request-created.dynamodb", count_payload)
    s3_client = boto3.client("s3")
    dynamo = dynamodb.resource()

    head = s3_client.head_object(Bucket=BUCKET, Key=key)
    targets = IngestTargets(
        data_bucket=BUCKET,
        catalog_table=CATALOG_TABLE,
        user_activity_table=ACTIVITY_TABLE,
        customer_ids_table=CUSTOMER_IDS_TABLE,
    )
    marks: dict[str, float] = {}

    def show_progress(progress: dict[str, Any]) -> None:
        if "chunk" in progress:
            print(
                f"  chunk {progress['chunk']}: {progress['rows_total']:,} rows read, "
                f"{progress['rows_landed']:,} landed, {progress['rows_rejected']:,} rejected",
                flush=True,
            )
        elif progress.get("phase") == "files_written":
            marks["files_written"] = time.perf_counter()
            marks["files_written_cpu"] = own_cpu_seconds()
            marks["file_peak_rss_mb"] = peak_rss_mb()
            print("  curated Parquet and report written; writing DynamoDB", flush=True)
        elif progress.get("phase") == "dynamodb":
            print(f"  DynamoDB: {progress['items_written']:,} items written", flush=True)

    baseline_rss_mb = current_rss_mb()
    started, started_cpu = time.perf_counter(), own_cpu_seconds()
    manifest = ingest_object(
        BUCKET,
        key,
        head["ETag"],
        targets,
        s3_client=s3_client,
        dynamo=dynamo,
        progress=show_progress,
        pseudonymizer=Pseudonymizer(PSEUDONYM_KEY),
    )
    finished, finished_cpu = time.perf_counter(), own_cpu_seconds()
    files_written = marks.get("files_written", finished)
    files_written_cpu = marks.get("files_written_cpu", finished_cpu)
    return {
        "rows": manifest.rows_total,
        "landed": manifest.rows_landed,
        "rejected": manifest.rows_rejected,
        "dynamodb_items": manifest.dynamodb_items_written,
        "seconds": finished - started,
        "file_seconds": files_written - started,
        "dynamodb_seconds": finished - files_written,
        "file_cpu_seconds": files_written_cpu - started_cpu,
        "dynamodb_cpu_seconds": finished_cpu - files_written_cpu,
        "requests": requests,
        "baseline_rss_mb": baseline_rss_mb,
        "file_peak_rss_mb": marks.get("file_peak_rss_mb", peak_rss_mb()),
        "peak_rss_mb": peak_rss_mb(),
    }


def estimated_aws_seconds(requests: dict[str, int], workers: int, client_cpu: float) -> dict[str, float]:
    """Lower bounds for the same requests against DynamoDB; the largest one is the estimate."""
    latency_bound = (
        requests["BatchWriteItem"] * ASSUMED_BATCH_WRITE_SECONDS
        + requests["BatchGetItem"] * ASSUMED_BATCH_GET_SECONDS
    ) / workers
    # Write units are billed per started KB of item; the JSON request is larger than the stored item, so this
    # overstates them somewhat.
    average_item_kb = requests["write_payload_bytes"] / max(requests["write_items"], 1) / 1024
    write_units = requests["write_items"] * max(float(np.ceil(average_item_kb)), 1.0)
    return {
        "estimate": max(latency_bound, client_cpu),
        "latency_bound": latency_bound,
        "client_cpu": client_cpu,
        "average_item_kb": average_item_kb,
        "write_units": float(write_units),
        "capacity_bound": write_units / NEW_ON_DEMAND_WRITE_UNITS_PER_SECOND,
    }


def run(rows: int, catalog_rows: int, chat_rows: int) -> dict[str, Any]:
    from shelfwise.aws.dynamodb import DEFAULT_WORKERS

    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    server, endpoint = start_moto_server()
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    results: dict[str, Any] = {}
    try:
        import boto3

        create_resources()
        s3_client = boto3.client("s3")
        with tempfile.TemporaryDirectory(prefix="shelfwise-bench-") as workdir:
            for name, rows_wanted, write_file in (
                ("interactions", rows, write_interactions_csv),
                ("catalog", catalog_rows, write_catalog_csv),
                ("chat-training", chat_rows, write_chat_training_csv),
            ):
                if rows_wanted <= 0:
                    continue
                path = Path(workdir) / f"{name}.csv"
                bad_rows = write_file(path, rows_wanted)
                redaction_us = redaction_microseconds(path) if name == "chat-training" else None
                key = f"incoming/{name}/benchmark.csv"
                s3_client.upload_file(str(path), BUCKET, key)
                size_mb = path.stat().st_size / 1024**2
                path.unlink()
                print(f"{name}: ingesting {key} ({size_mb:,.0f} MB) in a fresh process", flush=True)
                moto_cpu_before = process_cpu_seconds(server.pid)
                with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
                    result = pool.submit(ingest_in_this_process, key).result()
                result.update(
                    generated_bad_rows=bad_rows,
                    size_mb=size_mb,
                    moto_cpu_seconds=process_cpu_seconds(server.pid) - moto_cpu_before,
                    aws_estimate=estimated_aws_seconds(
                        result["requests"], DEFAULT_WORKERS, result["dynamodb_cpu_seconds"]
                    ),
                    workers=DEFAULT_WORKERS,
                    redaction_us=redaction_us,
                )
                results[name] = result
                print(f"  {result}", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return results


def markdown(results: dict[str, Any], command: str, load: str) -> str:
    workers = next(iter(results.values()))["workers"]
    lines = [
        f"Command: `{command}`",
        "",
        f"Machine: {os.cpu_count()} CPUs (`nproc`), {cpu_model()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}. Shared with other work: load average {load} at the "
        "start, so times are upper bounds.",
        "",
        "Setup: moto runs as a server in its own process; each file is ingested in a fresh "
        "process pointed at it with `AWS_ENDPOINT_URL`, running the pipeline the ingest function "
        "runs. Peak RSS is that process's own (VmHWM, what `ru_maxrss` reports): Python, pyarrow "
        "and boto3 loaded, then the pipeline; moto's copies of objects and tables live in the "
        "server process and are not counted. Wall time is split where the pipeline reports "
        "`files_written`: file work (ranged reads from S3, validate, curated Parquet, rejection report, "
        "uploads), then the DynamoDB phase (activity merge, BatchGetItem, BatchWriteItem).",
        "",
        "| file | rows | landed | rejected | wall (s) | file work (s) | file work rows/s "
        "| DynamoDB phase vs moto (s) | of it ingest CPU (s) | of it moto CPU (s) | peak RSS (MB) "
        "| RSS after imports (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, result in results.items():
        lines.append(
            f"| {name} ({result['size_mb']:,.0f} MB CSV) | {result['rows']:,} | {result['landed']:,} | "
            f"{result['rejected']:,} | {result['seconds']:.1f} | {result['file_seconds']:.1f} | "
            f"{result['rows'] / max(result['file_seconds'], 1e-9):,.0f} | {result['dynamodb_seconds']:.1f} | "
            f"{result['dynamodb_cpu_seconds']:.1f} | {result['moto_cpu_seconds']:.1f} | "
            f"{result['peak_rss_mb']:,.0f} | {result['baseline_rss_mb']:,.0f} |"
        )
    lines += [
        "",
        "moto's DynamoDB is not DynamoDB: it parses, validates and stores every item in Python on "
        "the same two cores, so the DynamoDB phase above says nothing about the service's speed. "
        "The AWS time below is an **estimate, not a measurement**: the largest of (a) request "
        f"count x an assumed round trip of {ASSUMED_BATCH_WRITE_SECONDS * 1000:.0f} ms per "
        f"BatchWriteItem (25 items) and {ASSUMED_BATCH_GET_SECONDS * 1000:.0f} ms per BatchGetItem "
        f"(100 keys), over the {workers} requests the adapter keeps in flight, and (b) the ingest "
        "process's own CPU in that phase as measured above (building and serializing requests, "
        "parsing responses; bound by one core). Not included: a brand-new on-demand table serves "
        f"up to {NEW_ON_DEMAND_WRITE_UNITS_PER_SECOND:,} write units/s before it scales, so a first "
        "load of these items needs at least the last column (write units from request size, "
        "which overstates the stored item size).",
        "",
        "| file | DynamoDB items | BatchGetItem requests | BatchWriteItem requests | request bytes/item "
        "| (a) latency (s) | (b) ingest CPU (s) | **estimated AWS time (s)** | new table, 4k WCU/s (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, result in results.items():
        requests, estimate = result["requests"], result["aws_estimate"]
        lines.append(
            f"| {name} | {result['dynamodb_items']:,} | {requests['BatchGetItem']:,} | "
            f"{requests['BatchWriteItem']:,} | {estimate['average_item_kb'] * 1024:,.0f} | "
            f"{estimate['latency_bound']:.1f} | {estimate['client_cpu']:.1f} | "
            f"**~{estimate['estimate']:.1f}** | {estimate['capacity_bound']:.0f} |"
        )
    chat = results.get("chat-training")
    if chat and chat["redaction_us"] is not None:
        redaction_seconds = chat["redaction_us"] * chat["landed"] / 1e6
        lines += [
            "",
            "Chat training messages are redacted (e-mail addresses, phone numbers, cards, IBANs) before they "
            f"land. Redacting the same messages alone in the benchmark's own process takes "
            f"{chat['redaction_us']:,.0f} µs per message, so about {redaction_seconds:.1f} s of the chat "
            f"file's {chat['file_seconds']:.1f} s of file work "
            f"({redaction_seconds / max(chat['file_seconds'], 1e-9):.0%}) is redaction.",
        ]
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--catalog-rows", type=int, default=100_000)
    parser.add_argument("--chat-rows", type=int, default=100_000)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    arguments = parser.parse_args()
    load = " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    results = run(arguments.rows, arguments.catalog_rows, arguments.chat_rows)
    command = " ".join(
        [
            ".venv/bin/python",
            "benchmarks/ingest_benchmark.py",
            *(a for a in sys.argv[1:] if a != "--no-write"),
        ]
    )
    body = markdown(results, command, load)
    print(body)
    if not arguments.no_write:
        write_section(SECTION_TITLE, SUBSECTION_TITLE, body, DOCS)
        print(f"wrote '{SUBSECTION_TITLE}' under '{SECTION_TITLE}' in {DOCS.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
