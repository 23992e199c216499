"""RFM scoring on small hand-made tables whose answers are worked out by hand."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from shelfwise.curated import INTERACTIONS_SCHEMA
from shelfwise.segments.scoring import quintile_scores, score_customers, top_decile

AS_OF = dt.date(2024, 3, 31)


def at(day: str, hour: int = 12) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=dt.UTC)


def interactions(rows: list[tuple[str, str, float | None, dt.datetime]]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {"user_id": user, "item_id": f"item-{index}", "event_type": kind, "value": value, "timestamp": ts}
            for index, (user, kind, value, ts) in enumerate(rows)
        ],
        schema=INTERACTIONS_SCHEMA,
    )


# Recency (days before AS_OF) / orders / spend, per user:
#   ann 1 / 4 / 500   bob 2 / 1 / 20   eve 29 / 2 / 100   cat 59 / 3 / 400   dan 121 / 1 / 10
# fay only browsed; gus browsed before AS_OF and bought after it, so both are prospects on AS_OF.
STORE = interactions(
    [
        ("ann", "purchase", 100.0, at("2024-03-30")),
        ("ann", "purchase", 150.0, at("2024-03-20")),
        ("ann", "purchase", 50.0, at("2024-03-10", 9)),
        ("ann", "purchase", 50.0, at("2024-03-10", 18)),  # same day: one order, two lines
        ("ann", "purchase", 150.0, at("2024-03-01")),
        ("ann", "view", None, at("2024-03-31", 23)),
        ("bob", "purchase", 20.0, at("2024-03-29")),
        ("eve", "purchase", 60.0, at("2024-03-01")),
        ("eve", "purchase", 40.0, at("2024-03-02")),
        ("cat", "purchase", 100.0, at("2024-01-05")),
        ("cat", "purchase", 100.0, at("2024-01-15")),
        ("cat", "purchase", 200.0, at("2024-02-01")),
        ("cat", "cart", None, at("2024-03-30")),
        ("dan", "purchase", 10.0, at("2023-12-01")),
        ("fay", "view", None, at("2024-03-15")),
        ("fay", "cart", None, at("2024-03-16")),
        ("fay", "rating", 4.0, at("2024-03-17")),
        ("gus", "view", None, at("2024-03-30")),
        ("gus", "purchase", 999.0, at("2024-04-01")),
        ("hal", "purchase", 50.0, at("2024-04-02")),  # first seen after AS_OF: not scored at all
    ]
)


def by_user(table: pa.Table) -> dict[str, dict]:
    return {row["user_id"]: row for row in table.to_pylist()}


def test_recency_frequency_monetary_follow_the_definitions() -> None:
    rows = by_user(score_customers(STORE, AS_OF).table)

    assert {user: rows[user]["recency_days"] for user in ("ann", "bob", "eve", "cat", "dan")} == {
        "ann": 1,
        "bob": 2,
        "eve": 29,
        "cat": 59,
        "dan": 121,
    }
    assert rows["ann"]["frequency"] == 4  # two lines on 2024-03-10 are one order
    assert rows["ann"]["monetary"] == 500.0
    assert rows["cat"]["frequency"] == 3


def test_scores_and_segments_for_the_hand_made_store() -> None:
    rows = by_user(score_customers(STORE, AS_OF).table)

    scores = {user: (row["r"], row["f"], row["m"], row["segment"]) for user, row in rows.items()}
    assert scores == {
        "ann": (5, 5, 5, "champions"),
        "bob": (4, 1, 2, "potential_loyalists"),  # FM = (1 + 2 + 1) // 2 = 2
        "eve": (3, 3, 3, "need_attention"),
        "cat": (2, 4, 4, "at_risk"),
        "dan": (1, 1, 1, "lost"),
        "fay": (None, None, None, "prospects"),
        "gus": (None, None, None, "prospects"),
    }
    assert [user for user, row in rows.items() if row["high_value"]] == ["ann"]


def test_users_without_a_purchase_by_as_of_are_prospects_with_no_scores() -> None:
    rows = by_user(score_customers(STORE, AS_OF).table)

    for user in ("fay", "gus"):
        assert rows[user]["segment"] == "prospects"
        assert rows[user]["recency_days"] is None
        assert rows[user]["frequency"] == 0
        assert rows[user]["monetary"] == 0.0
        assert rows[user]["high_value"] is False
    assert "hal" not in rows


def test_as_of_cuts_off_later_events_and_moves_recency() -> None:
    rows = by_user(score_customers(STORE, dt.date(2024, 3, 29)).table)

    assert rows["ann"]["recency_days"] == 9  # the 2024-03-30 order has not happened yet
    assert rows["ann"]["frequency"] == 3
    assert rows["ann"]["monetary"] == 400.0
    assert rows["bob"]["recency_days"] == 0  # bought on the as_of day itself
    assert "gus" not in rows  # first seen on 2024-03-30


def test_as_of_after_every_event_counts_everything() -> None:
    rows = by_user(score_customers(STORE, dt.date(2024, 4, 30)).table)

    assert rows["gus"]["segment"] != "prospects"
    assert rows["gus"]["monetary"] == 999.0
    assert rows["hal"]["recency_days"] == 28


def test_output_is_sorted_and_independent_of_row_order() -> None:
    shuffled = STORE.take(np.random.default_rng(7).permutation(STORE.num_rows))

    assert score_customers(shuffled, AS_OF).table.equals(score_customers(STORE, AS_OF).table)
    assert score_customers(STORE, AS_OF).table["user_id"].to_pylist() == sorted(
        ["ann", "bob", "cat", "dan", "eve", "fay", "gus"]
    )


def test_a_missing_purchase_value_counts_as_an_order_worth_nothing() -> None:
    table = interactions(
        [("ann", "purchase", None, at("2024-03-01")), ("bob", "purchase", 5.0, at("2024-03-01"))]
    )

    rows = by_user(score_customers(table, AS_OF).table)

    assert rows["ann"]["frequency"] == 1
    assert rows["ann"]["monetary"] == 0.0
    assert rows["ann"]["m"] == 1 and rows["bob"]["m"] == 5


def test_no_interactions_scores_nobody() -> None:
    scored = score_customers(INTERACTIONS_SCHEMA.empty_table(), AS_OF)

    assert scored.user_count == 0
    assert scored.table.column_names[:3] == ["user_id", "segment", "high_value"]


def test_a_single_customer_is_neutral_on_every_axis() -> None:
    table = interactions([("solo", "purchase", 42.0, at("2024-03-30"))])

    row = score_customers(table, AS_OF).table.to_pylist()[0]

    assert (row["r"], row["f"], row["m"], row["segment"]) == (3, 3, 3, "need_attention")
    assert row["high_value"] is True


def test_ten_distinct_values_fill_each_quintile_twice() -> None:
    assert quintile_scores(np.arange(10.0)).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert quintile_scores(np.arange(5)).tolist() == [1, 2, 3, 4, 5]


def test_recency_is_reversed_so_the_fewest_days_score_highest() -> None:
    assert quintile_scores(np.array([0, 10, 20, 30, 40]), higher_is_better=False).tolist() == [5, 4, 3, 2, 1]


def test_ties_share_the_score_of_their_lowest_position() -> None:
    # Six one-order customers: all F = 1, however many of them there are.
    frequencies = np.array([1, 1, 1, 1, 1, 1, 2, 2, 3, 4])
    assert quintile_scores(frequencies).tolist() == [1, 1, 1, 1, 1, 1, 4, 4, 5, 5]
    # Reversed ties: the three most recent (0 days) all beat the four older customers.
    assert quintile_scores(np.array([0, 0, 0, 5, 5, 9, 9]), higher_is_better=False).tolist() == [
        4,
        4,
        4,
        2,
        2,
        1,
        1,
    ]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([7.0], [3]),
        ([7.0, 7.0, 7.0], [3, 3, 3]),
        ([1.0, 2.0], [1, 5]),
        ([3.0, 1.0, 2.0], [5, 1, 3]),
        ([], []),
    ],
)
def test_tiny_populations_score_deterministically(values: list[float], expected: list[int]) -> None:
    assert quintile_scores(np.array(values)).tolist() == expected


def test_top_decile_is_a_tenth_of_customers_with_ties_at_the_cut_included() -> None:
    spend = np.arange(1.0, 21.0)
    assert np.flatnonzero(top_decile(spend)).tolist() == [18, 19]

    tied = np.array([*range(1, 18), 50.0, 50.0, 50.0])
    assert np.flatnonzero(top_decile(tied)).tolist() == [17, 18, 19]

    assert top_decile(np.array([5.0, 1.0, 3.0, 2.0, 4.0])).tolist() == [True, False, False, False, False]
