"""Cleaning curated sales into daily series: every repair is applied and reported, no series goes missing."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from shelfwise.forecast.config import ForecastConfig
from shelfwise.forecast.series import classify_demand, prepare_series, sales_to_long
from shelfwise.forecast.sharding import shard_ids, split_series_id

CONFIG = ForecastConfig()


def sales(rows: list[tuple[str, str, str, float, bool]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"sku": s, "location": loc, "date": dt.date.fromisoformat(d), "units": u, "promo": p}
            for s, loc, d, u, p in rows
        ]
    )


def prepared(rows: list[tuple[str, str, str, float, bool]], config: ForecastConfig = CONFIG):
    result = prepare_series(sales_to_long(sales(rows)), config)
    return result.frame, result.report.set_index("unique_id")


def test_date_gaps_are_filled_with_zero_sales_and_counted() -> None:
    frame, report = prepared(
        [
            ("A", "s1", "2024-01-01", 3, False),
            ("A", "s1", "2024-01-02", 4, False),
            ("A", "s1", "2024-01-05", 5, False),
        ]
    )
    series = frame[frame["unique_id"] == "A|s1"]
    assert list(series["ds"].dt.day) == [1, 2, 3, 4, 5]
    assert list(series["y"]) == [3, 4, 0, 0, 5]
    assert report.loc["A|s1", "gap_days_filled"] == 2


def test_negative_units_are_clipped_to_zero_and_counted() -> None:
    frame, report = prepared([("A", "s1", "2024-01-01", -2, False), ("A", "s1", "2024-01-02", 6, False)])
    assert list(frame["y"]) == [0, 6]
    assert report.loc["A|s1", "negative_days_clipped"] == 1


def test_duplicate_rows_are_summed_and_counted_and_promotion_kept() -> None:
    frame, report = prepared([("A", "s1", "2024-01-01", 2, False), ("A", "s1", "2024-01-01", 3, True)])
    assert list(frame["y"]) == [5]
    assert list(frame["promo"]) == [True]
    assert report.loc["A|s1", "duplicate_rows_merged"] == 1


def test_series_are_filled_up_to_the_latest_date_so_stopped_sales_show_as_zeros() -> None:
    frame, report = prepared([("A", "s1", "2024-01-01", 2, False), ("B", "s1", "2024-01-04", 1, False)])
    assert list(frame.loc[frame["unique_id"] == "A|s1", "y"]) == [2, 0, 0, 0]
    assert report.loc["A|s1", "last_date"] == dt.date(2024, 1, 1)
    assert report.loc["A|s1", "gap_days_filled"] == 3


def test_single_day_and_all_zero_series_are_classified_and_reported() -> None:
    rows = [("one", "s1", "2024-03-01", 4, False)]
    rows += [("none", "s1", f"2024-02-{day:02d}", 0, False) for day in range(1, 29)]
    _, report = prepared(rows)
    assert report.loc["one|s1", "demand_class"] == "short"
    assert report.loc["one|s1", "n_days"] == 1
    assert report.loc["none|s1", "demand_class"] == "all_zero"


def test_rows_after_the_end_date_are_reported_not_used() -> None:
    config = ForecastConfig(end_date=dt.date(2024, 1, 2))
    frame, report = prepared(
        [
            ("A", "s1", "2024-01-01", 1, False),
            ("A", "s1", "2024-01-03", 9, False),
            ("late", "s1", "2024-01-05", 9, False),
        ],
        config,
    )
    assert frame["ds"].max() == pd.Timestamp("2024-01-02")
    assert report.loc["A|s1", "rows_after_end_date"] == 1
    assert report.loc["late|s1", "demand_class"] == "no_history"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.full(28, 5.0), "smooth"),
        (np.tile([1.0, 20.0], 14), "erratic"),
        (np.tile([0.0, 0.0, 4.0], 10), "intermittent"),
        (np.tile([0.0, 0.0, 1.0, 0.0, 0.0, 30.0], 5), "lumpy"),
    ],
)
def test_demand_classes_follow_adi_and_cv2(values: np.ndarray, expected: str) -> None:
    assert classify_demand(values, CONFIG)[0] == expected


def test_missing_sales_column_is_named() -> None:
    with pytest.raises(ValueError, match="units"):
        sales_to_long(pd.DataFrame({"sku": ["A"], "location": ["s"], "date": ["2024-01-01"]}))


def test_shards_are_sorted_deduplicated_and_bounded() -> None:
    assert shard_ids(["c|1", "a|1", "b|1", "a|1", "d|1"], 2) == [["a|1", "b|1"], ["c|1", "d|1"]]
    with pytest.raises(ValueError):
        shard_ids(["a"], 0)


def test_series_id_round_trips_sku_with_separator_in_it() -> None:
    assert split_series_id("SKU|X|berlin") == ("SKU|X", "berlin")
