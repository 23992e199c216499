"""Per-segment counts and revenue shares: what a marketer reads before pulling a list."""

from __future__ import annotations

import datetime as dt

import pyarrow.compute as pc
from pydantic import BaseModel, Field

from shelfwise.segments.mapping import ALL_SEGMENTS
from shelfwise.segments.scoring import ScoredCustomers


class SegmentStats(BaseModel):
    users: int = Field(description="Customers in the segment.")
    user_share: float = Field(description="Fraction of all scored users, 0-1.")
    revenue: float = Field(description="Sum of the segment's purchases up to as_of.")
    revenue_share: float = Field(description="Fraction of all revenue, 0-1 (0 when there is no revenue).")
    high_value_users: int


class SegmentSummary(BaseModel):
    as_of: dt.date
    scored_at: str = Field(description="ISO-8601 UTC time of the scoring run.")
    users: int = Field(description="Everyone scored: purchasers and prospects.")
    purchasers: int
    prospects: int
    high_value_users: int
    revenue: float
    # Every segment is listed, empty ones with zeros, so reports from different days line up.
    segments: dict[str, SegmentStats]


def summarize(scored: ScoredCustomers, *, scored_at: str) -> SegmentSummary:
    table = scored.table
    total_users = table.num_rows
    total_revenue = round(float(pc.sum(table["monetary"]).as_py() or 0.0), 2)
    per_segment = {
        row["segment"]: row
        for row in table.group_by("segment")
        .aggregate([("user_id", "count"), ("monetary", "sum"), ("high_value", "sum")])
        .to_pylist()
    }
    segments: dict[str, SegmentStats] = {}
    for name in ALL_SEGMENTS:
        row = per_segment.get(name, {})
        users = int(row.get("user_id_count") or 0)
        revenue = round(float(row.get("monetary_sum") or 0.0), 2)
        segments[name] = SegmentStats(
            users=users,
            user_share=round(users / total_users, 4) if total_users else 0.0,
            revenue=revenue,
            revenue_share=round(revenue / total_revenue, 4) if total_revenue else 0.0,
            high_value_users=int(row.get("high_value_sum") or 0),
        )
    prospects = segments["prospects"].users
    return SegmentSummary(
        as_of=scored.as_of,
        scored_at=scored_at,
        users=total_users,
        purchasers=total_users - prospects,
        prospects=prospects,
        high_value_users=sum(stats.high_value_users for stats in segments.values()),
        revenue=total_revenue,
        segments=segments,
    )
