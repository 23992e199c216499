"""The documented (R, FM) → segment grid and the per-segment summary."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pyarrow as pa
import pytest
from shelfwise.curated import INTERACTIONS_SCHEMA
from shelfwise.segments.mapping import (
    ALL_SEGMENTS,
    PROSPECTS,
    RFM_SEGMENTS,
    combined_fm_score,
    segment_for,
)
from shelfwise.segments.scoring import score_customers, segments_for_scores
from shelfwise.segments.summary import summarize


@pytest.mark.parametrize(
    ("r", "f", "m", "segment"),
    [
        (5, 5, 5, "champions"),
        (4, 4, 5, "champions"),  # FM 4.5 rounds up to 5
        (5, 1, 1, "new_customers"),
        (5, 2, 3, "potential_loyalists"),
        (4, 1, 1, "promising"),
        (4, 3, 3, "loyal_customers"),
        (3, 5, 4, "loyal_customers"),
        (3, 2, 3, "need_attention"),
        (3, 1, 1, "about_to_sleep"),
        (2, 5, 5, "at_risk"),
        (1, 3, 3, "at_risk"),
        (1, 5, 4, "cannot_lose_them"),
        (2, 1, 2, "hibernating"),
        (1, 2, 1, "lost"),
    ],
)
def test_named_segments_for_typical_customers(r: int, f: int, m: int, segment: str) -> None:
    assert segment_for(r, f, m) == segment


def test_every_score_combination_maps_to_exactly_one_named_segment_and_all_are_used() -> None:
    seen = {segment_for(r, f, m) for r, f, m in itertools.product(range(1, 6), repeat=3)}

    assert seen == set(RFM_SEGMENTS)
    assert PROSPECTS not in seen


def test_combined_fm_rounds_half_up() -> None:
    assert [combined_fm_score(f, m) for f, m in [(1, 1), (1, 2), (2, 3), (4, 5), (5, 5)]] == [1, 2, 3, 5, 5]


@pytest.mark.parametrize(("r", "f", "m"), [(0, 3, 3), (3, 6, 3), (3, 3, -1)])
def test_scores_outside_one_to_five_are_refused(r: int, f: int, m: int) -> None:
    with pytest.raises(ValueError, match="between 1 and 5"):
        segment_for(r, f, m)


def test_vectorised_lookup_agrees_with_the_table() -> None:
    combos = np.array(list(itertools.product(range(1, 6), repeat=3)), dtype=np.int8)

    names = segments_for_scores(combos[:, 0], combos[:, 1], combos[:, 2])

    assert names.tolist() == [segment_for(int(r), int(f), int(m)) for r, f, m in combos]


def _store() -> pa.Table:
    day = dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC)
    rows = [
        ("big", "purchase", 300.0, day + dt.timedelta(days=29)),
        ("big", "purchase", 300.0, day + dt.timedelta(days=20)),
        ("mid", "purchase", 100.0, day + dt.timedelta(days=10)),
        ("old", "purchase", 100.0, day - dt.timedelta(days=200)),
        ("looker", "view", None, day),
    ]
    return pa.Table.from_pylist(
        [dict(zip(INTERACTIONS_SCHEMA.names, (u, "i", k, v, t), strict=True)) for u, k, v, t in rows],
        schema=INTERACTIONS_SCHEMA,
    )


def test_summary_counts_users_and_revenue_share_per_segment() -> None:
    scored = score_customers(_store(), dt.date(2024, 3, 31))

    summary = summarize(scored, scored_at="2024-04-01T01:30:00+00:00")

    assert (summary.users, summary.purchasers, summary.prospects) == (4, 3, 1)
    assert summary.revenue == 800.0
    assert list(summary.segments) == list(ALL_SEGMENTS)
    assert summary.segments["champions"].users == 1
    assert summary.segments["champions"].revenue_share == 0.75
    assert summary.segments["prospects"].users == 1
    assert summary.segments["prospects"].revenue == 0.0
    assert sum(stats.users for stats in summary.segments.values()) == 4
    assert sum(stats.revenue_share for stats in summary.segments.values()) == pytest.approx(1.0)
    assert summary.high_value_users == 1


def test_summary_of_nothing_is_all_zeros() -> None:
    summary = summarize(
        score_customers(INTERACTIONS_SCHEMA.empty_table(), dt.date(2024, 3, 31)), scored_at="x"
    )

    assert summary.users == 0 and summary.revenue == 0.0
    assert all(stats.users == 0 and stats.revenue_share == 0.0 for stats in summary.segments.values())
