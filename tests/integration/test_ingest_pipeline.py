"""`ingest_object` against in-process moto: whole-file outcomes and reprocessing."""

from __future__ import annotations

import gzip
import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from shelfwise import curated
from shelfwise.ingest.pipeline import IngestTargets, ingest_object

pytestmark = pytest.mark.integration

BUCKET = "shelfwise-data"  # the bucket the shared `ingest_s3` fixture creates
TARGETS = IngestTargets(data_bucket=BUCKET, catalog_table="catalog", user_activity_table="activity")


@pytest.fixture
def s3(ingest_s3: Any) -> Any:
    return ingest_s3


def drop(s3: Any, key: str, body: bytes) -> Any:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return ingest_object(BUCKET, key, s3.head_object(Bucket=BUCKET, Key=key)["ETag"], TARGETS, s3_client=s3)


def report_lines(s3: Any, key: str) -> list[str]:
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode().splitlines()


def test_wrong_header_rejects_the_file_naming_the_missing_columns(s3: Any) -> None:
    manifest = drop(s3, "incoming/sales/sales.csv", b"product,store,day,qty\na,b,2026-11-20,1\n")
    assert manifest.status == "rejected" and manifest.rows_landed == 0
    assert manifest.file_error is not None
    assert "missing required column(s): sku, location, date, units" in manifest.file_error.reason
    lines = report_lines(s3, manifest.rejection_report_key)
    assert lines[1].startswith('1,"(header)"')


def test_header_only_file_is_recorded_as_empty_without_a_report(s3: Any) -> None:
    manifest = drop(s3, "incoming/sales/empty.csv", b"sku,location,date,units\n")
    assert manifest.status == "empty" and manifest.rows_total == 0
    assert manifest.rejection_report_key is None
    stored = json.loads(
        s3.get_object(Bucket=BUCKET, Key=curated.manifest_key("sales", manifest.file_id))["Body"].read()
    )
    assert stored["status"] == "empty"


def test_gzip_and_parquet_sales_land_in_month_partitions(s3: Any) -> None:
    drop(
        s3, "incoming/sales/a.csv.gz", gzip.compress(b"sku,location,date,units,promo\ns1,w1,2026-10-31,3,1\n")
    )
    buffer = io.BytesIO()
    pq.write_table(
        pa.table({"sku": ["s2"], "location": ["w1"], "date": pa.array([20423], pa.date32()), "units": [2]}),
        buffer,
    )
    manifest = drop(s3, "incoming/sales/b.parquet", buffer.getvalue())
    assert manifest.format == "parquet" and manifest.curated_keys[0].startswith(
        "curated/sales/month=2025-12/"
    )
    sales = curated.read_curated("sales", bucket=BUCKET, s3_client=s3).sort_by("sku")
    assert sales.column("sku").to_pylist() == ["s1", "s2"]
    assert sales.column("promo").to_pylist() == [True, False]


def test_reprocessing_the_same_object_overwrites_its_parts(s3: Any) -> None:
    body = b"sku,location,date,units\ns1,w1,2026-11-20,3\n"
    first = drop(s3, "incoming/sales/again.csv", body)
    second = ingest_object(BUCKET, "incoming/sales/again.csv", first.etag, TARGETS, s3_client=s3)
    assert first.curated_keys == second.curated_keys
    assert curated.read_curated("sales", bucket=BUCKET, s3_client=s3).num_rows == 1
