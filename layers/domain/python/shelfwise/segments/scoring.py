"""RFM scoring of customers from curated interactions (pure pyarrow/numpy; no AWS, no pandas).

Definitions, all computed from `purchase` events up to and including the `as_of` day (UTC):

- recency_days: days from the user's last purchase day to `as_of` (0 = bought on `as_of`);
- frequency: distinct purchase days, i.e. orders (two lines bought the same day are one order);
- monetary: sum of `value` (the line amount), rounded to cents; a missing value counts as 0.

Scores 1-5 are quintiles by percent rank, computed in exact integer arithmetic so they never depend on
floating-point noise or input order:

    below = number of customers strictly worse on this axis
    score = 1 + min(4, floor(5 * below / (n - 1)))

Ties share the score of their group's lowest position, so the many one-order customers always get F = 1.
Recency is reversed: "worse" means an older last purchase, so the most recent buyers score 5. An axis on
which every customer has the same value (including a population of one) carries no ranking information,
and everyone gets the neutral 3 on it.

`high_value` marks the top decile by monetary: fewer than 10 % of customers spent strictly more. Ties at
the cut-off are all included, so a tie can make the group slightly larger than a tenth.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shelfwise.segments.mapping import ALL_SEGMENTS, PROSPECTS, SEGMENT_GRID

PURCHASE = "purchase"
NEUTRAL_SCORE = 3

SCORED_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("segment", pa.string(), nullable=False),
        pa.field("high_value", pa.bool_(), nullable=False),
        pa.field("r", pa.int8()),
        pa.field("f", pa.int8()),
        pa.field("m", pa.int8()),
        pa.field("recency_days", pa.int32()),
        pa.field("frequency", pa.int32(), nullable=False),
        pa.field("monetary", pa.float64(), nullable=False),
    ]
)

# Segment names indexed by (r - 1, fm - 1) as positions into ALL_SEGMENTS, for a vectorised lookup.
_SEGMENT_INDEX_GRID = np.array(
    [[ALL_SEGMENTS.index(name) for name in row] for row in SEGMENT_GRID], dtype=np.int64
)


@dataclass(frozen=True)
class ScoredCustomers:
    """One row per user seen in the interactions (purchasers and prospects), sorted by user_id."""

    as_of: dt.date
    table: pa.Table

    @property
    def user_count(self) -> int:
        return self.table.num_rows


def quintile_scores(values: np.ndarray, *, higher_is_better: bool = True) -> np.ndarray:
    """Scores 1-5 by percent rank; see the module docstring for ties and tiny populations."""
    values = np.asarray(values)
    count = values.shape[0]
    if count == 0:
        return np.empty(0, dtype=np.int8)
    ordered = np.sort(values)
    if ordered[0] == ordered[-1]:
        return np.full(count, NEUTRAL_SCORE, dtype=np.int8)
    if higher_is_better:
        below = np.searchsorted(ordered, values, side="left")
    else:
        below = count - np.searchsorted(ordered, values, side="right")
    scores = 1 + np.minimum(4, (5 * below.astype(np.int64)) // (count - 1))
    return scores.astype(np.int8)


def top_decile(values: np.ndarray) -> np.ndarray:
    """True where fewer than a tenth of all values are strictly greater."""
    values = np.asarray(values)
    count = values.shape[0]
    if count == 0:
        return np.empty(0, dtype=bool)
    ordered = np.sort(values)
    strictly_greater = count - np.searchsorted(ordered, values, side="right")
    return 10 * strictly_greater < count


def segments_for_scores(r: np.ndarray, f: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Vectorised `mapping.segment_for`: segment names for arrays of scores."""
    fm = (f.astype(np.int64) + m.astype(np.int64) + 1) // 2
    indices = _SEGMENT_INDEX_GRID[r.astype(np.int64) - 1, fm - 1]
    return np.asarray(ALL_SEGMENTS, dtype=object)[indices]


def score_customers(interactions: pa.Table, as_of: dt.date) -> ScoredCustomers:
    """RFM scores and segments for every user in `interactions` (curated schema) as of the end of `as_of`."""
    events = _events_up_to(interactions, as_of)
    all_users = pc.unique(events["user_id"]).to_pylist()

    purchases = events.filter(pc.equal(events["event_type"], PURCHASE))
    per_user = (
        pa.table(
            {
                "user_id": purchases["user_id"],
                "day": pc.cast(purchases["timestamp"], pa.date32()),
                "value": pc.fill_null(purchases["value"], 0.0),
            }
        )
        .group_by("user_id")
        .aggregate([("day", "max"), ("day", "count_distinct"), ("value", "sum")])
        .sort_by("user_id")
    )

    purchaser_ids = per_user["user_id"].to_pylist()
    last_day = np.asarray(per_user["day_max"].cast(pa.int32()).to_numpy(zero_copy_only=False), dtype=np.int64)
    as_of_day = (as_of - dt.date(1970, 1, 1)).days
    recency_days = (as_of_day - last_day).astype(np.int32)
    frequency = np.asarray(per_user["day_count_distinct"].to_numpy(zero_copy_only=False), dtype=np.int32)
    monetary = np.round(np.asarray(per_user["value_sum"].to_numpy(zero_copy_only=False), dtype=np.float64), 2)

    r = quintile_scores(recency_days, higher_is_better=False)
    f = quintile_scores(frequency)
    m = quintile_scores(monetary)
    purchasers = pa.table(
        {
            "user_id": pa.array(purchaser_ids, pa.string()),
            "segment": pa.array(segments_for_scores(r, f, m).tolist(), pa.string()),
            "high_value": pa.array(top_decile(monetary)),
            "r": pa.array(r),
            "f": pa.array(f),
            "m": pa.array(m),
            "recency_days": pa.array(recency_days),
            "frequency": pa.array(frequency),
            "monetary": pa.array(monetary),
        },
        schema=SCORED_SCHEMA,
    )

    purchaser_set = set(purchaser_ids)
    prospect_ids = sorted(user for user in all_users if user not in purchaser_set)
    prospect_count = len(prospect_ids)
    prospects = pa.table(
        {
            "user_id": pa.array(prospect_ids, pa.string()),
            "segment": pa.array([PROSPECTS] * prospect_count, pa.string()),
            "high_value": pa.array([False] * prospect_count, pa.bool_()),
            "r": pa.nulls(prospect_count, pa.int8()),
            "f": pa.nulls(prospect_count, pa.int8()),
            "m": pa.nulls(prospect_count, pa.int8()),
            "recency_days": pa.nulls(prospect_count, pa.int32()),
            "frequency": pa.array([0] * prospect_count, pa.int32()),
            "monetary": pa.array([0.0] * prospect_count, pa.float64()),
        },
        schema=SCORED_SCHEMA,
    )
    scored = pa.concat_tables([purchasers, prospects]).sort_by("user_id")
    return ScoredCustomers(as_of=as_of, table=scored)


def _events_up_to(interactions: pa.Table, as_of: dt.date) -> pa.Table:
    """Rows with a user and a timestamp no later than the end of `as_of` (UTC)."""
    end_of_day = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    cutoff = pa.scalar(end_of_day, type=pa.timestamp("ms", tz="UTC"))
    timestamps = interactions["timestamp"].cast(pa.timestamp("ms", tz="UTC"))
    keep = pc.and_(
        pc.and_(pc.is_valid(interactions["user_id"]), pc.is_valid(timestamps)),
        pc.less(timestamps, cutoff),
    )
    keep = pc.and_(keep, pc.not_equal(interactions["user_id"], ""))
    selected = interactions.filter(pc.fill_null(keep, False))
    return pa.table(
        {
            "user_id": selected["user_id"],
            "event_type": selected["event_type"],
            "value": selected["value"].cast(pa.float64()),
            "timestamp": selected["timestamp"].cast(pa.timestamp("ms", tz="UTC")),
        }
    )
