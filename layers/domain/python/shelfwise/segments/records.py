"""How scored customers are stored and served: segments-table items, the API response, the exports.

Segments-table item (pk `user_id`, which holds the customer's pseudonym, never the retailer's id): segment,
high_value, r, f, m (1-5), recency_days, frequency, monetary (Decimal, cents), scored_at (ISO-8601 UTC), as_of
(YYYY-MM-DD). Prospects have no purchase to score, so their items carry no r, f, m or recency_days, and
frequency and monetary are 0.

The marketing export (`segments.csv`) is meant for the retailer's CRM and carries the retailer's own customer
ids (column `customer_id`), looked up in the vault of customer ids (`shelfwise.privacy.identities`); it is the
one output of scoring that names customers.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from pydantic import BaseModel, Field, StringConstraints, TypeAdapter, ValidationError

from shelfwise.segments.mapping import ALL_SEGMENTS
from shelfwise.segments.scoring import ScoredCustomers
from shelfwise.segments.summary import SegmentSummary

SEGMENTS_PREFIX = "segments/"
LATEST = "latest"
CSV_NAME = "segments.csv"
SUMMARY_NAME = "summary.json"
# The export's id column: the retailer's customer id (not the pseudonym the platform stores).
CRM_ID_COLUMN = "customer_id"

USER_ID_MAX_LENGTH = 128
# Printable text only: control characters in an identifier are always a client bug or an injection attempt.
USER_ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"
UserId = Annotated[
    str, StringConstraints(min_length=1, max_length=USER_ID_MAX_LENGTH, pattern=USER_ID_PATTERN)
]

_SCORE_ATTRIBUTES = ("r", "f", "m", "recency_days")


class RfmScores(BaseModel):
    r: int | None = Field(default=None, ge=1, le=5, description="Recency score, 5 = bought most recently.")
    f: int | None = Field(default=None, ge=1, le=5, description="Frequency score, 5 = most orders.")
    m: int | None = Field(default=None, ge=1, le=5, description="Monetary score, 5 = spent the most.")


class CustomerSegmentResponse(BaseModel):
    """A customer's RFM segment as of the last scoring run."""

    user_id: str
    segment: str = Field(description=f"One of: {', '.join(ALL_SEGMENTS)}.")
    high_value: bool = Field(description="In the top decile of customers by money spent.")
    scores: RfmScores = Field(description="Quintile scores 1-5; null for prospects, who have not bought yet.")
    recency_days: int | None = Field(description="Days from the last purchase to as_of; null for prospects.")
    frequency: int = Field(description="Orders (distinct purchase days).")
    monetary: float = Field(description="Total spent up to as_of.")
    scored_at: str = Field(description="ISO-8601 UTC time of the scoring run.")
    as_of: str | None = Field(default=None, description="Last day of data the scores cover (YYYY-MM-DD).")


def table_items(scored: ScoredCustomers, *, scored_at: str) -> Iterator[dict[str, Any]]:
    """One segments-table item per scored user, ready for a DynamoDB batch writer."""
    as_of = scored.as_of.isoformat()
    for batch in scored.table.to_batches(max_chunksize=5000):
        for row in batch.to_pylist():
            item: dict[str, Any] = {
                "user_id": row["user_id"],
                "segment": row["segment"],
                "high_value": bool(row["high_value"]),
                "frequency": int(row["frequency"]),
                "monetary": Decimal(f"{row['monetary']:.2f}"),
                "scored_at": scored_at,
                "as_of": as_of,
            }
            for name in _SCORE_ATTRIBUTES:
                if row[name] is not None:
                    item[name] = int(row[name])
            yield item


def response_from_item(item: Mapping[str, Any]) -> CustomerSegmentResponse:
    def optional_int(name: str) -> int | None:
        value = item.get(name)
        return None if value is None else int(value)

    return CustomerSegmentResponse(
        user_id=str(item["user_id"]),
        segment=str(item["segment"]),
        high_value=bool(item.get("high_value", False)),
        scores=RfmScores(r=optional_int("r"), f=optional_int("f"), m=optional_int("m")),
        recency_days=optional_int("recency_days"),
        frequency=int(item.get("frequency", 0)),
        monetary=float(item.get("monetary", 0)),
        scored_at=str(item["scored_at"]),
        as_of=str(item["as_of"]) if item.get("as_of") else None,
    )


def export_key(folder: str, name: str) -> str:
    """`segments/<folder>/<name>`, where folder is an as_of date or `latest`."""
    return f"{SEGMENTS_PREFIX}{folder}/{name}"


@dataclass(frozen=True)
class CrmExport:
    body: bytes
    rows: int
    # Scored pseudonyms the vault has no customer id for (left out: the CRM could not match them).
    unmatched: int


def segments_csv(scored: ScoredCustomers, customer_ids: Mapping[str, str]) -> CrmExport:
    """The marketing export for the CRM: one row per customer, named by the retailer's id (`customer_id`,
    from `customer_ids`: pseudonym -> id), sorted by it; a prospect's score cells are empty."""
    table = scored.table
    mapped = pa.array(
        [customer_ids.get(pseudonym) for pseudonym in table.column("user_id").to_pylist()], pa.string()
    )
    position = table.schema.get_field_index("user_id")
    named = table.set_column(position, pa.field(CRM_ID_COLUMN, pa.string(), nullable=False), mapped)
    matched = named.filter(pc.is_valid(mapped)).sort_by(CRM_ID_COLUMN)
    sink = io.BytesIO()
    pa_csv.write_csv(matched, sink)
    return CrmExport(body=sink.getvalue(), rows=matched.num_rows, unmatched=table.num_rows - matched.num_rows)


def summary_json(summary: SegmentSummary) -> bytes:
    return summary.model_dump_json(indent=2).encode("utf-8")


def user_id_errors(value: object) -> list[str]:
    """Why `value` is not an acceptable user id (empty list when it is)."""
    try:
        _USER_ID_ADAPTER.validate_python(value)
    except ValidationError as error:
        return [str(issue["msg"]) for issue in error.errors()]
    return []


_USER_ID_ADAPTER: TypeAdapter[str] = TypeAdapter(UserId)
