"""Validation rules: every problem names its line, field and reason; valid rows come out typed."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from shelfwise import curated
from shelfwise.ingest.contracts import CONTRACTS, contracts_markdown, describe
from shelfwise.ingest.reader import TableFile
from shelfwise.ingest.validate import ValidatedChunk, validate_chunk

INTERACTIONS_HEADER = "user_id,item_id,event_type,value,timestamp"
INVENTORY_HEADER = (
    "sku,location,on_hand,on_order,lead_time_days,lead_time_sd_days,unit_cost,order_cost,"
    "holding_cost_rate,service_level,moq,pack_size"
)


def validate_text(tmp_path: Path, kind: str, text: str | bytes) -> ValidatedChunk:
    path = tmp_path / "drop.csv"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    chunks = [validate_chunk(CONTRACTS[kind], chunk) for chunk in TableFile(path).chunks()]
    assert chunks, "expected at least one chunk"
    return ValidatedChunk(
        valid=pa.concat_tables([chunk.valid for chunk in chunks]),
        rejections=pa.concat_tables([chunk.rejections for chunk in chunks]),
        rows_total=sum(chunk.rows_total for chunk in chunks),
        rows_rejected=sum(chunk.rows_rejected for chunk in chunks),
        blank_rows=sum(chunk.blank_rows for chunk in chunks),
    )


def problems(result: ValidatedChunk) -> list[tuple[int, str, str]]:
    return [(row["line"], row["field"], row["reason"]) for row in result.rejections.to_pylist()]


def test_good_interactions_come_out_typed_with_defaults(tmp_path: Path) -> None:
    result = validate_text(
        tmp_path,
        "interactions",
        f"{INTERACTIONS_HEADER}\n u1 ,i1,VIEW,,2026-11-20T08:15:00+01:00\nu2,i2,purchase,49.9,1763626500\n"
        "u3,i3,rating,4,2026-11-20\n",
    )
    assert problems(result) == []
    assert result.valid.schema.equals(curated.SCHEMAS["interactions"])
    rows = result.valid.to_pylist()
    assert [row["user_id"] for row in rows] == ["u1", "u2", "u3"]
    assert rows[0]["event_type"] == "view" and rows[0]["value"] == 1.0
    assert rows[0]["timestamp"] == datetime(2026, 11, 20, 7, 15, tzinfo=UTC)
    assert rows[1]["timestamp"] == datetime.fromtimestamp(1763626500, UTC)
    assert rows[2]["timestamp"] == datetime(2026, 11, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    ("row", "field", "reason"),
    [
        ("u1,i1,click,1,2026-11-20", "event_type", "not one of view, cart, purchase, rating"),
        (",i1,view,1,2026-11-20", "user_id", "required value is missing"),
        ("u1,i1,view,abc,2026-11-20", "value", "not a number"),
        ("u1,i1,view,-1,2026-11-20", "value", "quantity must be > 0"),
        ("u1,i1,purchase,,2026-11-20", "value", "purchase needs a value (the line amount)"),
        ("u1,i1,purchase,-3,2026-11-20", "value", "purchase amount must be >= 0"),
        ("u1,i1,rating,11,2026-11-20", "value", "rating must be between 0 and 10"),
        ("u1,i1,view,1,2026-02-30", "timestamp", "not a valid timestamp (ISO-8601 or epoch seconds)"),
        ("u1,i1,view,1,20/11/2026", "timestamp", "not a valid timestamp (ISO-8601 or epoch seconds)"),
        (
            "u1,i1,view,1,1763626500000",
            "timestamp",
            "timestamp outside 1970-2100 (epoch seconds expected, not milliseconds)",
        ),
        (f"{'u' * 129},i1,view,1,2026-11-20", "user_id", "longer than 128 characters"),
    ],
)
def test_each_interactions_rule_names_line_field_and_reason(
    tmp_path: Path, row: str, field: str, reason: str
) -> None:
    good = "u0,i0,view,1,2026-11-20"
    result = validate_text(tmp_path, "interactions", f"{INTERACTIONS_HEADER}\n{good}\n{row}\n{good}\n")
    assert problems(result) == [(3, field, reason)]
    assert result.valid.num_rows == 2
    assert result.rows_rejected == 1


def test_one_row_with_several_problems_gets_one_line_per_field(tmp_path: Path) -> None:
    result = validate_text(tmp_path, "interactions", f"{INTERACTIONS_HEADER}\n,,click,x,never\n")
    assert problems(result) == [
        (2, "user_id", "required value is missing"),
        (2, "item_id", "required value is missing"),
        (2, "event_type", "not one of view, cart, purchase, rating"),
        (2, "value", "not a number"),
        (2, "timestamp", "not a valid timestamp (ISO-8601 or epoch seconds)"),
    ]
    assert result.rows_rejected == 1


def test_inventory_ranges_and_whole_numbers(tmp_path: Path) -> None:
    good = "s1,w1,10,0,7,2,3.5,20,0.2,0.95,12,6"
    rows = [
        good,
        "s2,w1,10,0,7,2,3.5,20,0.2,1,12,6",  # service level must be < 1
        "s3,w1,10,0,-1,2,3.5,20,0.2,0.9,12,6",  # negative lead time
        "s4,w1,10,0,7,2,3.5,20,0.2,0.9,0,6",  # moq must be >= 1
        "s5,w1,10,0,7,2,3.5,20,0.2,0.9,12,2.5",  # pack size must be whole
        "s6,w1,10,0,7,2,3.5,20,0.2,0.9,12.0,6",  # 12.0 is a whole number
    ]
    result = validate_text(tmp_path, "inventory", INVENTORY_HEADER + "\n" + "\n".join(rows) + "\n")
    assert problems(result) == [
        (3, "service_level", "must be < 1"),
        (4, "lead_time_days", "must be >= 0"),
        (5, "moq", "must be >= 1"),
        (6, "pack_size", "not a whole number"),
    ]
    assert result.valid.column("sku").to_pylist() == ["s1", "s6"]
    assert result.valid.column("moq").to_pylist() == [12, 12]
    assert result.valid.schema.equals(curated.SCHEMAS["inventory"])


def test_inventory_service_level_may_be_left_blank_or_left_out(tmp_path: Path) -> None:
    # Blank means "use the class default" downstream, so it lands as null rather than being refused.
    rows = ["s1,w1,10,0,7,2,3.5,20,0.2,,12,6", "s2,w1,10,0,7,2,3.5,20,0.2,0.97,12,6"]
    result = validate_text(tmp_path, "inventory", INVENTORY_HEADER + "\n" + "\n".join(rows) + "\n")
    assert result.rows_rejected == 0
    assert result.valid.column("service_level").to_pylist() == [None, 0.97]

    without = INVENTORY_HEADER.replace(",service_level", "") + "\ns3,w1,10,0,7,2,3.5,20,0.2,12,6\n"
    result = validate_text(tmp_path, "inventory", without)
    assert result.rows_rejected == 0
    assert result.valid.column("service_level").to_pylist() == [None]
    assert result.valid.schema.equals(curated.SCHEMAS["inventory"])


def test_sales_optional_columns_get_defaults_and_dates_parse(tmp_path: Path) -> None:
    result = validate_text(
        tmp_path,
        "sales",
        "sku,location,date,units\ns1,w1,2026-11-20,3\ns1,w1,2026-13-01,3\ns1,w1,2026-11-21,-2\n",
    )
    assert problems(result) == [(3, "date", "not a valid date (YYYY-MM-DD)"), (4, "units", "must be >= 0")]
    (row,) = result.valid.to_pylist()
    assert row == {
        "sku": "s1",
        "location": "w1",
        "date": date(2026, 11, 20),
        "units": 3.0,
        "promo": False,
        "price": None,
    }


def test_sales_promo_accepts_common_spellings_and_rejects_others(tmp_path: Path) -> None:
    result = validate_text(
        tmp_path,
        "sales",
        "sku,location,date,units,promo\ns,w,2026-11-20,1,Yes\ns,w,2026-11-20,1,0\ns,w,2026-11-20,1,maybe\n",
    )
    assert result.valid.column("promo").to_pylist() == [True, False]
    assert problems(result) == [(4, "promo", "not a boolean (true/false, yes/no, 1/0)")]


def test_catalog_keeps_extra_attributes_as_text(tmp_path: Path) -> None:
    result = validate_text(
        tmp_path, "catalog", "item_id,title,price,Colour\ni1,Mug,19.99,red\ni2,Pan,-1,blue\n"
    )
    assert problems(result) == [(3, "price", "must be >= 0")]
    assert result.valid.to_pylist() == [
        {"item_id": "i1", "title": "Mug", "category": None, "brand": None, "price": 19.99, "colour": "red"}
    ]


def test_invalid_utf8_rejects_that_row_and_field_only(tmp_path: Path) -> None:
    body = f"{INTERACTIONS_HEADER}\nu1,i1,view,1,2026-11-20\nu2,caf\xe9,view,1,2026-11-20\n".encode("latin-1")
    result = validate_text(tmp_path, "interactions", body)
    assert problems(result) == [(3, "item_id", "not valid UTF-8")]
    assert result.rejections.column("value").to_pylist() == ["caf\ufffd"]
    assert result.valid.column("user_id").to_pylist() == ["u1"]


def test_line_numbers_count_quoted_newlines_and_blank_lines(tmp_path: Path) -> None:
    text = (
        f"{INTERACTIONS_HEADER}\n"
        '"u1","i\n1",view,1,2026-11-20\n'  # lines 2-3
        "\n"  # line 4, blank
        "u3,i3,nope,1,2026-11-20\n"  # line 5
    )
    result = validate_text(tmp_path, "interactions", text)
    assert problems(result) == [
        (2, "item_id", "contains control characters"),
        (5, "event_type", "not one of view, cart, purchase, rating"),
    ]
    assert result.blank_rows == 1 and result.rows_total == 2


def test_rows_with_the_wrong_number_of_columns_are_reported_with_exact_lines(tmp_path: Path) -> None:
    text = (
        f"{INTERACTIONS_HEADER}\n"
        "u1,i1,view,1,2026-11-20\n"  # line 2
        "u2,i2,view\n"  # line 3, too few columns
        '"u\n3",i3,view,1,2026-11-20,extra\n'  # lines 4-5, too many columns
        "u4,i4,nope,1,2026-11-20\n"  # line 6
    )
    result = validate_text(tmp_path, "interactions", text)
    assert problems(result) == [
        (3, "(row)", "expected 5 columns, found 3"),
        (4, "(row)", "expected 5 columns, found 6"),
        (6, "event_type", "not one of view, cart, purchase, rating"),
    ]
    assert result.valid.column("user_id").to_pylist() == ["u1"]
    assert result.rows_total == 4 and result.rows_rejected == 3


def test_contracts_are_documented_from_the_code() -> None:
    described = describe()
    interactions = described["contracts"]["interactions"]  # type: ignore[index]
    assert [column["name"] for column in interactions["columns"]] == [
        "user_id",
        "item_id",
        "event_type",
        "value",
        "timestamp",
    ]
    markdown = contracts_markdown()
    assert "## `incoming/inventory/`" in markdown
    assert "| service_level | float | no | > 0, < 1 |" in markdown
