"""Segments-table items, the API response built from them, the CSV export and the run's as_of."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pyarrow as pa
import pytest
from pydantic import TypeAdapter, ValidationError
from shelfwise.curated import INTERACTIONS_SCHEMA
from shelfwise.segments.records import UserId, response_from_item, segments_csv, table_items
from shelfwise.segments.schedule import AsOfInFutureError, SegmentRunDetail, resolve_as_of
from shelfwise.segments.scoring import score_customers

SCORED_AT = "2024-04-01T01:30:00+00:00"


def _scored():
    day = dt.datetime(2024, 3, 20, 8, tzinfo=dt.UTC)
    rows = [
        ("u1", "purchase", 19.99, day),
        ("u1", "purchase", 0.01, day + dt.timedelta(days=3)),
        ("u2", "purchase", 5.5, day - dt.timedelta(days=40)),
        ("u3", "cart", None, day),
    ]
    table = pa.Table.from_pylist(
        [dict(zip(INTERACTIONS_SCHEMA.names, (u, "i", k, v, t), strict=True)) for u, k, v, t in rows],
        schema=INTERACTIONS_SCHEMA,
    )
    return score_customers(table, dt.date(2024, 3, 31))


def test_items_carry_the_shared_attributes_and_prospects_carry_no_scores() -> None:
    items = {item["user_id"]: item for item in table_items(_scored(), scored_at=SCORED_AT)}

    assert items["u1"] == {
        "user_id": "u1",
        "segment": "champions",
        "high_value": True,
        "r": 5,
        "f": 5,
        "m": 5,
        "recency_days": 8,
        "frequency": 2,
        "monetary": Decimal("20.00"),
        "scored_at": SCORED_AT,
        "as_of": "2024-03-31",
    }
    assert items["u3"]["segment"] == "prospects"
    assert not {"r", "f", "m", "recency_days"} & set(items["u3"])


def test_api_response_round_trips_from_an_item() -> None:
    items = {item["user_id"]: item for item in table_items(_scored(), scored_at=SCORED_AT)}

    purchaser = response_from_item(items["u2"]).model_dump()
    prospect = response_from_item(items["u3"]).model_dump()

    assert purchaser["scores"] == {"r": 1, "f": 1, "m": 1}
    assert purchaser["monetary"] == 5.5 and purchaser["recency_days"] == 51
    assert purchaser["segment"] == "lost"
    assert prospect["scores"] == {"r": None, "f": None, "m": None}
    assert prospect["recency_days"] is None and prospect["frequency"] == 0


def test_csv_export_has_a_header_and_one_row_per_user() -> None:
    export = segments_csv(_scored(), {"u1": "C-1", "u2": "C-2", "u3": "C-3"})
    rows = list(csv.DictReader(io.StringIO(export.body.decode("utf-8"))))

    assert [row["customer_id"] for row in rows] == ["C-1", "C-2", "C-3"]
    assert "user_id" not in rows[0]
    assert rows[0]["segment"] == "champions" and rows[0]["monetary"] == "20"
    assert rows[2]["segment"] == "prospects" and rows[2]["r"] == ""
    assert (export.rows, export.unmatched) == (3, 0)


def test_the_crm_export_names_customers_by_the_retailers_ids_and_leaves_out_the_unmatched() -> None:
    # The scored ids are pseudonyms in the platform; the vault maps them back for the CRM.
    export = segments_csv(_scored(), {"u3": "A-3", "u1": "Z-1"})
    rows = list(csv.DictReader(io.StringIO(export.body.decode("utf-8"))))

    assert [(row["customer_id"], row["segment"]) for row in rows] == [
        ("A-3", "prospects"),
        ("Z-1", "champions"),
    ]
    assert (export.rows, export.unmatched) == (2, 1)


def test_a_run_scores_the_last_complete_day_unless_told_otherwise() -> None:
    fired = dt.datetime(2024, 4, 1, 1, 30, tzinfo=dt.UTC)

    assert resolve_as_of(fired, None) == dt.date(2024, 3, 31)
    assert resolve_as_of(fired, dt.date(2024, 1, 15)) == dt.date(2024, 1, 15)
    assert SegmentRunDetail.model_validate({}).as_of is None
    assert SegmentRunDetail.model_validate({"as_of": "2024-02-29"}).as_of == dt.date(2024, 2, 29)
    with pytest.raises(ValidationError):
        SegmentRunDetail.model_validate({"as_of": "yesterday"})


def test_a_run_cannot_score_a_day_after_it_was_sent() -> None:
    fired = dt.datetime(2024, 4, 1, 1, 30, tzinfo=dt.UTC)

    assert resolve_as_of(fired, dt.date(2024, 4, 1)) == dt.date(2024, 4, 1)
    with pytest.raises(AsOfInFutureError, match="2024-04-02"):
        resolve_as_of(fired, dt.date(2024, 4, 2))


@pytest.mark.parametrize("bad", ["", "x" * 129, "bad\x00id", "tab\tid", "del\x7f"])
def test_user_ids_that_are_empty_too_long_or_have_control_characters_are_refused(bad: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(UserId).validate_python(bad)


@pytest.mark.parametrize("good", ["u1", "x" * 128, "ana.maría@example.com", "客户-42"])
def test_ordinary_user_ids_are_accepted(good: str) -> None:
    assert TypeAdapter(UserId).validate_python(good) == good
