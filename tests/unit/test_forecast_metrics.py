"""MASE, RMSSE and coverage on cases worked by hand (the numbers the earlier numpy implementation gave)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from shelfwise.forecast.metrics import coverage, mase, rmsse, series_mase

# Seasonal naive errors over a week: |3-1|, |2-2|, |3-3|, |4-4|, |5-5|, |6-6|, |9-7| = 2, 0, 0, 0, 0, 0, 2:
# mean absolute 4/7, mean squared 8/7.
HISTORY = np.array([1, 2, 3, 4, 5, 6, 7, 3, 2, 3, 4, 5, 6, 9], dtype=float)
ACTUAL = np.array([4.0, 6.0])
FORECAST = np.array([3.0, 8.0])  # errors 1 and 2: MAE 1.5, MSE 2.5


def test_mase_is_the_mean_absolute_error_over_the_seasonal_naive_one() -> None:
    assert mase(ACTUAL, FORECAST, HISTORY, 7) == pytest.approx(1.5 / (4 / 7), rel=1e-12)  # 2.625


def test_rmsse_is_the_root_of_the_mean_squared_error_over_the_seasonal_naive_one() -> None:
    assert rmsse(ACTUAL, FORECAST, HISTORY, 7) == pytest.approx(math.sqrt(2.5 / (8 / 7)), rel=1e-12)


@pytest.mark.parametrize(
    "history",
    [np.arange(7, dtype=float), np.full(14, 3.0)],
    ids=["no longer than a season", "same every season"],
)
def test_a_history_without_a_seasonal_naive_error_scores_nan_not_infinity(history: np.ndarray) -> None:
    assert math.isnan(mase(ACTUAL, FORECAST, history, 7))
    assert math.isnan(rmsse(ACTUAL, FORECAST, history, 7))


def test_coverage_counts_points_on_a_bound_as_inside() -> None:
    actual = np.array([1.0, 2.0, 3.0, 4.0])
    lower = np.array([0.0, 2.5, 3.0, 0.0])
    upper = np.array([1.0, 3.0, 3.0, 3.0])
    assert coverage(actual, lower, upper) == 0.5


def test_series_mase_scores_each_series_against_its_own_history() -> None:
    history = pd.concat(
        [
            pd.DataFrame({"unique_id": "a", "ds": range(14), "y": HISTORY}),
            pd.DataFrame({"unique_id": "flat", "ds": range(14), "y": 3.0}),
        ]
    )
    forecasts = pd.DataFrame(
        {
            "unique_id": ["a", "a", "flat", "flat"],
            "ds": [14, 15, 14, 15],
            "y": [4.0, 6.0, 3.0, 3.0],
            "forecast": [3.0, 8.0, 2.0, 3.0],
        }
    )
    scores = series_mase(forecasts, history, 7)
    assert scores["a"] == pytest.approx(2.625, rel=1e-12)
    assert math.isnan(scores["flat"])
