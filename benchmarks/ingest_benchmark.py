"""Ingestion throughput: a 1,000,000-row interactions CSV (~1% bad rows) and a 100,000-row catalog.

Run: .venv/bin/python benchmarks/ingest_benchmark.py [--rows N] [--catalog-rows N] [--no-write]

Everything runs in one process against in-process moto (no AWS account, no network): the generated files
are uploaded to the data bucket and ingested by `shelfwise.ingest.pipeline.ingest_object`, the same code the
ingest function runs. Time spent in DynamoDB calls is measured separately: moto's in-process DynamoDB is far
slower per item than the real service, so it is reported apart from the file work. Results are printed and
written to the "Ingestion" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS = REPO_ROOT / "docs" / "benchmarks.md"
SECTION_TITLE = "## Ingestion"
BUCKET = "shelfwise-data"
CATALOG_TABLE = "shelfwise-catalog"
ACTIVITY_TABLE = "shelfwise-user-activity"


def interactions_csv(rows: int, seed: int = 7) -> tuple[bytes, int]:
    """A realistic export: 50k users, 20k items, 30 days; about 1% of rows broken in one field."""
    rng = np.random.default_rng(seed)
    users = np.char.add("u", rng.integers(0, 50_000, rows).astype(str))
    items = np.char.add("sku-", rng.integers(0, 20_000, rows).astype(str))
    kinds = np.array(["view", "view", "view", "cart", "purchase", "rating"])[rng.integers(0, 6, rows)]
    values = np.where(kinds == "purchase", np.round(rng.uniform(5, 200, rows), 2).astype(str), "1")
    values = np.where(kinds == "rating", rng.integers(1, 6, rows).astype(str), values)
    stamps = (1_761_955_200 + rng.integers(0, 30 * 86_400, rows)).astype(str)
    bad = rng.random(rows) < 0.01
    breakage = rng.integers(0, 3, rows)
    kinds = np.where(bad & (breakage == 0), "click", kinds)
    items = np.where(bad & (breakage == 1), "", items)
    stamps = np.where(bad & (breakage == 2), "not-a-time", stamps)
    lines = [",".join(fields) for fields in zip(users, items, kinds, values, stamps, strict=True)]
    body = "user_id,item_id,event_type,value,timestamp\n" + "\n".join(lines) + "\n"
    return body.encode(), int(bad.sum())


def catalog_csv(rows: int, seed: int = 11) -> bytes:
    rng = np.random.default_rng(seed)
    lines = [
        f"sku-{index},Item {index},{category},brand-{brand},{price:.2f},{color}"
        for index, category, brand, price, color in zip(
            range(rows),
            np.array(["kitchen", "garden", "toys", "books"])[rng.integers(0, 4, rows)],
            rng.integers(0, 300, rows),
            rng.uniform(1, 500, rows),
            np.array(["red", "blue", "green"])[rng.integers(0, 3, rows)],
            strict=True,
        )
    ]
    return ("item_id,title,category,brand,price,color\n" + "\n".join(lines) + "\n").encode()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(rows: int, catalog_rows: int) -> dict[str, Any]:
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    import boto3
    from moto import mock_aws
    from shelfwise.aws import dynamodb
    from shelfwise.ingest.pipeline import IngestTargets, ingest_object

    dynamodb_seconds = [0.0]
    for name in ("batch_put", "batch_get"):
        original = getattr(dynamodb, name)

        def timed(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                dynamodb_seconds[0] += time.perf_counter() - started

        setattr(dynamodb, name, timed)

    def show_progress(progress: dict[str, Any]) -> None:
        print(
            f"  chunk {progress['chunk']}: {progress['rows_total']:,} rows read, "
            f"{progress['rows_landed']:,} landed, {progress['rows_rejected']:,} rejected",
            flush=True,
        )

    results: dict[str, Any] = {}
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        ddb = boto3.client("dynamodb")
        for table, key in ((CATALOG_TABLE, "item_id"), (ACTIVITY_TABLE, "user_id")):
            ddb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        targets = IngestTargets(
            data_bucket=BUCKET, catalog_table=CATALOG_TABLE, user_activity_table=ACTIVITY_TABLE
        )
        for name, key, make in (
            ("interactions", "incoming/interactions/benchmark.csv", lambda: interactions_csv(rows)),
            ("catalog", "incoming/catalog/benchmark.csv", lambda: (catalog_csv(catalog_rows), 0)),
        ):
            body, bad_rows = make()
            s3.put_object(Bucket=BUCKET, Key=key, Body=body)
            etag = s3.head_object(Bucket=BUCKET, Key=key)["ETag"]
            del body
            print(f"{name}: ingesting {key}", flush=True)
            dynamodb_seconds[0] = 0.0
            started = time.perf_counter()
            manifest = ingest_object(BUCKET, key, etag, targets, s3_client=s3, progress=show_progress)
            seconds = time.perf_counter() - started
            results[name] = {
                "rows": manifest.rows_total,
                "landed": manifest.rows_landed,
                "rejected": manifest.rows_rejected,
                "generated_bad_rows": bad_rows,
                "dynamodb_items": manifest.dynamodb_items_written,
                "seconds": seconds,
                "rows_per_second": manifest.rows_total / seconds,
                "dynamodb_seconds": dynamodb_seconds[0],
                "file_rows_per_second": manifest.rows_total / max(seconds - dynamodb_seconds[0], 1e-9),
                "peak_rss_mb": peak_rss_mb(),
            }
            print(f"  {results[name]}", flush=True)
    return results


def markdown(results: dict[str, Any], command: str) -> str:
    lines = [
        SECTION_TITLE,
        "",
        f"Command: `{command}` — one process, in-process moto (S3 + DynamoDB), generated files.",
        f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.platform()}.",
        "",
        "| file | rows | landed | rejected | DynamoDB items | wall (s) | rows/s | of which DynamoDB (s) "
        "| rows/s without DynamoDB | peak RSS (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, result in results.items():
        lines.append(
            f"| {name} | {result['rows']:,} | {result['landed']:,} | {result['rejected']:,} | "
            f"{result['dynamodb_items']:,} | {result['seconds']:.1f} | {result['rows_per_second']:,.0f} | "
            f"{result['dynamodb_seconds']:.1f} | {result['file_rows_per_second']:,.0f} | "
            f"{result['peak_rss_mb']:,.0f} |"
        )
    lines += [
        "",
        "Wall time covers download from S3, reading, validation, curated Parquet, the rejection report, the "
        "manifest and DynamoDB writes (one activity item per user, one catalog item per row). Peak RSS: "
        "the process maximum (ru_maxrss) after each file, including moto's in-memory copies of every object.",
        "",
    ]
    return "\n".join(lines)


def write_section(section: str) -> None:
    existing = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n\n"
    pattern = re.compile(rf"^{re.escape(SECTION_TITLE)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    updated = (
        pattern.sub(lambda _match: section, existing)
        if pattern.search(existing)
        else existing.rstrip() + "\n\n" + section
    )
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(updated)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--catalog-rows", type=int, default=100_000)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    arguments = parser.parse_args()
    results = run(arguments.rows, arguments.catalog_rows)
    command = ".venv/bin/python benchmarks/ingest_benchmark.py" + (
        " " + " ".join(sys.argv[1:]) if sys.argv[1:] else ""
    )
    section = markdown(results, command.replace(" --no-write", ""))
    print(section)
    if not arguments.no_write:
        write_section(section)
        print(f"wrote the Ingestion section of {DOCS.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
