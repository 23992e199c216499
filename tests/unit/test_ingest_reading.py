"""Reading dropped files: formats detected from content, whole-file problems named, reports safe to open."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from shelfwise.ingest.contracts import CONTRACTS
from shelfwise.ingest.reader import FileRejected, TableFile
from shelfwise.ingest.report import RejectionReportWriter
from shelfwise.ingest.validate import REJECTIONS_SCHEMA, validate_chunk

CSV_TEXT = b"user_id,item_id,event_type,value,timestamp\nu1,i1,view,1,2026-11-20\nu2,i2,cart,2,2026-11-21\n"


def landed_user_ids(path: Path) -> list[str]:
    table_file = TableFile(path)
    return [
        user_id
        for chunk in table_file.chunks()
        for user_id in validate_chunk(CONTRACTS["interactions"], chunk).valid.column("user_id").to_pylist()
    ]


def test_gzip_is_detected_by_content_even_with_a_plain_csv_name(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(gzip.compress(CSV_TEXT))
    assert TableFile(path).format == "csv.gz"
    assert landed_user_ids(path) == ["u1", "u2"]


def test_parquet_with_typed_columns_reads_like_the_same_csv(tmp_path: Path) -> None:
    path = tmp_path / "export.parquet"
    table = pa.table(
        {
            "user_id": ["u1", "u2"],
            "item_id": ["i1", "i2"],
            "event_type": ["view", "rating"],
            "value": [1.0, float("nan")],
            "timestamp": pa.array([1763626500000, 1763626600000], pa.timestamp("ms", tz="UTC")),
        }
    )
    pq.write_table(table, path)
    table_file = TableFile(path)
    assert table_file.format == "parquet"
    (chunk,) = list(table_file.chunks())
    result = validate_chunk(CONTRACTS["interactions"], chunk)
    assert result.valid.column("user_id").to_pylist() == ["u1"]
    assert result.valid.column("timestamp").to_pylist()[0].timestamp() == 1763626500
    assert [(row["line"], row["field"], row["reason"]) for row in result.rejections.to_pylist()] == [
        (3, "value", "not a number")
    ]


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "empty_file"),
        (b"\n\n  \n", "empty_file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01", "not_a_table"),
        (b"PAR1 this is not really parquet", "unreadable"),
        (b"\x1f\x8b\x08\x00garbage", "corrupt_gzip"),
        ("usér_id,item_id\n".encode("latin-1"), "not_utf8"),
        (b"user_id,user_id,item_id\n", "bad_header"),
    ],
)
def test_files_that_are_not_tables_are_rejected_with_a_reason(
    tmp_path: Path, content: bytes, code: str
) -> None:
    path = tmp_path / "drop.csv"
    path.write_bytes(content)
    with pytest.raises(FileRejected) as rejected:
        TableFile(path)
    assert rejected.value.code == code
    assert rejected.value.reason


def test_a_gzip_bomb_stops_at_the_documented_limit(tmp_path: Path) -> None:
    path = tmp_path / "bomb.csv.gz"
    path.write_bytes(gzip.compress(CSV_TEXT + b"u1,i1,view,1,2026-11-20\n" * 200_000))
    with pytest.raises(FileRejected) as rejected:
        list(TableFile(path, max_decompressed_bytes=1_000_000, block_size=256 * 1024).chunks())
    assert rejected.value.code == "too_large"
    assert "1,000,000" in rejected.value.reason


def test_header_only_file_has_columns_and_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "drop.csv"
    path.write_bytes(b"\xef\xbb\xbfUser_ID,Item_ID,event_type,value,timestamp\r\n")
    table_file = TableFile(path)
    assert table_file.columns == ["user_id", "item_id", "event_type", "value", "timestamp"]
    assert sum(chunk.columns.num_rows for chunk in table_file.chunks()) == 0


def test_big_files_stream_in_several_chunks_with_continuous_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    rows = [f"u{index},i{index},view,1,2026-11-20" for index in range(20_000)]
    rows[15_000] = "u,i,bad,1,2026-11-20"
    path.write_text("user_id,item_id,event_type,value,timestamp\n" + "\n".join(rows) + "\n")
    chunks = list(TableFile(path, block_size=64 * 1024).chunks())
    assert len(chunks) > 3
    rejections = [validate_chunk(CONTRACTS["interactions"], chunk).rejections for chunk in chunks]
    assert pa.concat_tables(rejections).column("line").to_pylist() == [15_002]


def test_report_neutralizes_formulas_truncates_and_shows_control_characters(tmp_path: Path) -> None:
    writer = RejectionReportWriter(tmp_path / "report.csv")
    writer.write(
        pa.table(
            {
                "line": [2, 3, 4],
                "field": ["user_id", "title", "=evil"],
                "value": ['=cmd|" /C calc"!A0', "x" * 500, "two\nlines"],
                "reason": ["r1", "r2", "r3"],
            },
            schema=REJECTIONS_SCHEMA,
        )
    )
    assert writer.close()
    rows = list(csv.DictReader(io.StringIO((tmp_path / "report.csv").read_text())))
    assert rows[0]["value"] == '\'=cmd|" /C calc"!A0'
    assert rows[1]["value"] == "x" * 200 + "…"
    assert rows[2]["value"] == "two\\nlines"
    assert rows[2]["field"] == "'=evil"
    assert [row["line"] for row in rows] == ["2", "3", "4"]


def test_hostile_values_are_kept_as_text_in_curated_data(tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_text('item_id,title,price\ni1,"=HYPERLINK(""http://x"")",1\n')
    (chunk,) = list(TableFile(path).chunks())
    result = validate_chunk(CONTRACTS["catalog"], chunk)
    assert result.valid.column("title").to_pylist() == ['=HYPERLINK("http://x")']
