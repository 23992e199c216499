"""The promotions contract: planned campaigns come out typed; bad rows are reported by line and field."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
from shelfwise import curated
from shelfwise.ingest.contracts import CONTRACTS
from shelfwise.ingest.pipeline import kind_of
from shelfwise.ingest.reader import TableFile
from shelfwise.ingest.validate import validate_chunk
from shelfwise_infra import spec

HEADER = "sku,location,start_date,end_date,discount_pct"


def validate(tmp_path: Path, text: str) -> tuple[list[dict], list[tuple[int, str, str, str]]]:
    path = tmp_path / "promotions.csv"
    path.write_text(text, encoding="utf-8")
    chunks = [validate_chunk(CONTRACTS["promotions"], chunk) for chunk in TableFile(path).chunks()]
    valid = pa.concat_tables([chunk.valid for chunk in chunks])
    assert valid.schema.equals(curated.SCHEMAS["promotions"])
    rejections = pa.concat_tables([chunk.rejections for chunk in chunks]).to_pylist()
    return valid.to_pylist(), [(r["line"], r["field"], r["value"], r["reason"]) for r in rejections]


def test_promotions_is_an_ingest_kind_with_a_curated_schema() -> None:
    assert "promotions" in spec.INGEST_KINDS
    assert kind_of("incoming/promotions/spring.csv") == "promotions"
    assert curated.part_key("promotions", "abc") == "curated/promotions/part-abc.parquet"


def test_good_rows_are_typed_and_a_blank_location_means_every_location(tmp_path: Path) -> None:
    rows, problems = validate(
        tmp_path,
        f"{HEADER}\nA1,WH-NORTH,2026-03-05,2026-03-11,20\n A2 ,,2026-03-10,2026-03-10,\n"
        "A3,WH-SOUTH,2026-01-01,2026-12-31,0\n",
    )
    assert problems == []
    assert rows == [
        {
            "sku": "A1",
            "location": "WH-NORTH",
            "start_date": date(2026, 3, 5),
            "end_date": date(2026, 3, 11),
            "discount_pct": 20.0,
        },
        {
            "sku": "A2",
            "location": None,
            "start_date": date(2026, 3, 10),
            "end_date": date(2026, 3, 10),
            "discount_pct": None,
        },
        {
            "sku": "A3",
            "location": "WH-SOUTH",
            "start_date": date(2026, 1, 1),
            "end_date": date(2026, 12, 31),
            "discount_pct": 0.0,
        },
    ]


def test_the_discount_and_location_columns_may_be_left_out(tmp_path: Path) -> None:
    rows, problems = validate(tmp_path, "sku,start_date,end_date\nA1,2026-03-05,2026-03-06\n")
    assert problems == []
    assert rows[0]["location"] is None and rows[0]["discount_pct"] is None


def test_bad_rows_are_rejected_naming_line_field_and_reason(tmp_path: Path) -> None:
    rows, problems = validate(
        tmp_path,
        f"{HEADER}\n"
        "OK,WH-NORTH,2026-03-05,2026-03-11,20\n"  # line 2: lands
        "B1,WH-NORTH,2026-03-11,2026-03-05,20\n"  # end before start
        "B2,WH-NORTH,05/03/2026,2026-03-11,20\n"  # not ISO
        "B3,WH-NORTH,2026-03-05,2026-03-11,120\n"  # discount above 100
        "B4,WH-NORTH,2026-03-05,2026-03-11,-5\n"  # negative discount
        "B5,WH-NORTH,2026-01-01,2027-01-02,10\n"  # 367 days
        ",WH-NORTH,2026-03-05,2026-03-11,10\n"  # no SKU
        "B7,WH-NORTH,2026-02-30,2026-03-11,10\n",  # impossible date
    )
    assert [row["sku"] for row in rows] == ["OK"]
    assert problems == [
        (3, "end_date", "2026-03-05", "end_date is before start_date"),
        (4, "start_date", "05/03/2026", "not a valid date (YYYY-MM-DD)"),
        (5, "discount_pct", "120", "must be <= 100"),
        (6, "discount_pct", "-5", "must be >= 0"),
        (7, "end_date", "2027-01-02", "a promotion spans at most 366 days"),
        (8, "sku", "", "required value is missing"),
        (9, "start_date", "2026-02-30", "not a valid date (YYYY-MM-DD)"),
    ]


def test_the_contract_documents_its_row_rules() -> None:
    contract = CONTRACTS["promotions"]
    assert contract.required_columns == ("sku", "start_date", "end_date")
    assert {rule.name for rule in contract.row_rules} == {"date_order", "promotion_length"}
