"""Ingest reads dropped files in place in S3: same rows as reading a local copy, and no local copy is made."""

from __future__ import annotations

import gzip
import io
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from moto_platform import pseudonymizer
from shelfwise.aws import s3 as s3_adapter
from shelfwise.ingest import reader
from shelfwise.ingest.contracts import CONTRACTS
from shelfwise.ingest.pipeline import IngestOptions, IngestTargets, ingest_object
from shelfwise.ingest.reader import TableFile
from shelfwise.ingest.validate import validate_chunk
from shelfwise.privacy.columns import pseudonymize_column

pytestmark = pytest.mark.integration

BUCKET = "shelfwise-data"  # the bucket the shared `ingest_s3` fixture creates
TARGETS = IngestTargets(
    data_bucket=BUCKET,
    catalog_table="catalog",
    user_activity_table="activity",
    customer_ids_table="customer-ids",
)
HEADER = "user_id,item_id,event_type,value,timestamp\n"
COLUMNS = HEADER.strip().split(",")
DAY = 86_400
FIRST_DAY = 1_763_596_800  # 2025-11-20


def interactions_csv(rows: int, *, days: int, bad_every: int) -> bytes:
    """Rows over `days` days from 200 users; every `bad_every`-th row has an event type that is refused."""
    lines = [HEADER]
    for row in range(rows):
        kind = "click" if row % bad_every == 0 else ("view", "cart", "purchase")[row % 3]
        value = "12.50" if kind == "purchase" else "1"
        stamp = FIRST_DAY + (row * days // rows) * DAY + row % DAY
        lines.append(f"u{row % 200},sku-{row % 5_000},{kind},{value},{stamp}\n")
    return "".join(lines).encode()


def drop(s3: Any, key: str, body: bytes, **options: Any) -> Any:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    etag = s3.head_object(Bucket=BUCKET, Key=key)["ETag"]
    return ingest_object(
        BUCKET,
        key,
        etag,
        TARGETS,
        s3_client=s3,
        options=IngestOptions(**options),
        pseudonymizer=pseudonymizer(),
    )


def landed(s3: Any, keys: list[str]) -> list[dict[str, Any]]:
    tables = [pq.read_table(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())) for key in keys]
    table = pa.concat_tables(tables).select(["user_id", "item_id", "event_type", "value", "timestamp"])
    return sorted(table.to_pylist(), key=lambda row: (row["timestamp"], row["user_id"], row["item_id"]))


def test_gzip_csv_and_parquet_land_the_same_rows_as_reading_a_local_copy(
    ingest_s3: Any, tmp_path: Path
) -> None:
    body = interactions_csv(30_000, days=3, bad_every=50)
    local = tmp_path / "export.csv"
    local.write_bytes(body)
    # What ingest landed when it read a downloaded copy: the same reader and validator over a local file,
    # customer ids pseudonymized.
    results = [validate_chunk(CONTRACTS["interactions"], chunk) for chunk in TableFile(local).chunks()]
    valid, _ = pseudonymize_column(pa.concat_tables([result.valid for result in results]), pseudonymizer())
    expected = sorted(
        valid.select(["user_id", "item_id", "event_type", "value", "timestamp"]).to_pylist(),
        key=lambda row: (row["timestamp"], row["user_id"], row["item_id"]),
    )
    expected_rejected = sum(result.rows_rejected for result in results)
    as_text = pa_csv.read_csv(
        io.BytesIO(body),
        convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(COLUMNS, pa.string())),
    )
    parquet = io.BytesIO()
    pq.write_table(as_text, parquet, row_group_size=7_000)

    # Small blocks: many chunks and many ranged reads per file.
    gz = drop(ingest_s3, "incoming/interactions/export.csv.gz", gzip.compress(body), block_size=64 * 1024)
    pa_file = drop(
        ingest_s3, "incoming/interactions/export.parquet", parquet.getvalue(), block_size=64 * 1024
    )

    assert (gz.format, pa_file.format) == ("csv.gz", "parquet")
    assert expected_rejected == 600
    for manifest in (gz, pa_file):
        assert manifest.status == "partially_rejected"
        assert (manifest.rows_total, manifest.rows_rejected) == (30_000, expected_rejected)
        assert len(manifest.curated_keys) == 3  # one part per day
        assert landed(ingest_s3, manifest.curated_keys) == expected
    reports = [
        ingest_s3.get_object(Bucket=BUCKET, Key=manifest.rejection_report_key)["Body"].read()
        for manifest in (gz, pa_file)
    ]
    assert reports[0] == reports[1]
    assert len(reports[0].splitlines()) == 1 + expected_rejected


def test_a_multi_mb_file_is_ingested_without_a_local_copy(
    ingest_s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where ingest's working directory goes
    body = interactions_csv(300_000, days=2, bad_every=10)
    largest_seen = {"total": 0, "file": 0}

    def watch_scratch(_progress: dict[str, Any]) -> None:
        sizes = [path.stat().st_size for path in scratch.rglob("*") if path.is_file()]
        largest_seen["total"] = max(largest_seen["total"], sum(sizes))
        largest_seen["file"] = max([largest_seen["file"], *sizes])

    key = "incoming/interactions/big.csv"
    ingest_s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    etag = ingest_s3.head_object(Bucket=BUCKET, Key=key)["ETag"]
    manifest = ingest_object(
        BUCKET, key, etag, TARGETS, s3_client=ingest_s3, progress=watch_scratch, pseudonymizer=pseudonymizer()
    )

    assert len(body) > 8 * 1024 * 1024
    assert (manifest.rows_total, manifest.rows_rejected) == (300_000, 30_000)
    report = ingest_s3.get_object(Bucket=BUCKET, Key=manifest.rejection_report_key)["Body"].read()
    assert len(report.splitlines()) == 1 + 30_000
    # Scratch held curated Parquet and the report in progress (each under a multipart part), never the file.
    assert 0 < largest_seen["total"] < len(body) / 2
    assert largest_seen["file"] < s3_adapter.DEFAULT_PART_BYTES
    assert list(scratch.iterdir()) == []


def test_a_file_replaced_while_it_is_read_fails_the_attempt_instead_of_landing_a_mix(ingest_s3: Any) -> None:
    body = interactions_csv(120_000, days=1, bad_every=1_000)
    key = "incoming/interactions/moving.csv"
    ingest_s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    etag = ingest_s3.head_object(Bucket=BUCKET, Key=key)["ETag"]

    def replace_once(progress: dict[str, Any]) -> None:
        if progress.get("chunk") == 1:
            ingest_s3.put_object(
                Bucket=BUCKET, Key=key, Body=HEADER.encode() + b"u1,sku-1,view,1,1763596800\n"
            )

    with pytest.raises(s3_adapter.ObjectChanged):
        ingest_object(
            BUCKET, key, etag, TARGETS, s3_client=ingest_s3, progress=replace_once,
            options=IngestOptions(block_size=64 * 1024), pseudonymizer=pseudonymizer(),
        )  # fmt: skip
    # Nothing landed and no manifest: the message is retried and reads the new version from the start.
    assert s3_adapter.list_keys(BUCKET, "curated/", s3_client=ingest_s3) == []
    assert ingest_s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_a_file_rejected_halfway_lands_nothing_of_what_it_had_written(
    ingest_s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Parquet file whose last row group is damaged: the first two are validated and written to their
    # partitions (uploads in progress) before reading the third fails. One batch per row group here.
    monkeypatch.setattr(reader, "PARQUET_BATCH_ROWS", 20_000)
    rows = pa_csv.read_csv(
        io.BytesIO(interactions_csv(60_000, days=3, bad_every=1_000)),
        convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(COLUMNS, pa.string())),
    )
    buffer = io.BytesIO()
    pq.write_table(rows, buffer, row_group_size=20_000)
    damaged = bytearray(buffer.getvalue())
    offset = pq.ParquetFile(io.BytesIO(damaged)).metadata.row_group(2).column(0).data_page_offset
    damaged[offset : offset + 16] = b"\xff" * 16
    key = "incoming/interactions/damaged.parquet"
    ingest_s3.put_object(Bucket=BUCKET, Key=key, Body=bytes(damaged))
    chunks_written = []
    manifest = ingest_object(
        BUCKET, key, ingest_s3.head_object(Bucket=BUCKET, Key=key)["ETag"], TARGETS, s3_client=ingest_s3,
        progress=lambda update: chunks_written.append(update["chunk"]) if "chunk" in update else None,
        options=IngestOptions(), pseudonymizer=pseudonymizer(),
    )  # fmt: skip
    assert chunks_written == [1, 2]
    assert manifest.status == "rejected" and manifest.file_error is not None
    assert manifest.file_error.code == "unreadable"
    assert manifest.curated_keys == []
    curated = s3_adapter.list_keys(BUCKET, "curated/", s3_client=ingest_s3)
    assert [key for key in curated if "_manifests" not in key] == []
    assert ingest_s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
