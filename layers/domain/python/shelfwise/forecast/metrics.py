"""Accuracy measures for point and interval forecasts, computed by `utilsforecast.losses`.

The helpers here take one series (or one pooled set of points) as arrays, as the engine's callers and the
benchmarks hold them, and hand utilsforecast the long frames it expects. MASE and RMSSE scale by the
in-sample error of the seasonal naive forecast over the whole `history` (no cross-validation cutoffs);
a series whose history is no longer than a season, or never changes across a season, has no scale and
scores NaN rather than infinity.

pandas and utilsforecast are imported when a measure is computed, not with the module: the module stays as
light to import as the rest of the forecast package's numpy-only half (sharding, replenishment).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

MODEL = "forecast"
SERIES = "series"


def _scored_frame(actual: np.ndarray, forecast: np.ndarray) -> pd.DataFrame:
    import pandas as pd

    actual = np.asarray(actual, dtype=float)
    return pd.DataFrame(
        {
            "unique_id": SERIES,
            "ds": np.arange(actual.size),
            "y": actual,
            MODEL: np.asarray(forecast, dtype=float),
        }
    )


def _history_frame(history: np.ndarray) -> pd.DataFrame:
    import pandas as pd

    values = np.asarray(history, dtype=float)
    return pd.DataFrame({"unique_id": SERIES, "ds": np.arange(values.size), "y": values})


def _finite_or_nan(value: float) -> float:
    return value if math.isfinite(value) else float("nan")


def mase(actual: np.ndarray, forecast: np.ndarray, history: np.ndarray, season_length: int) -> float:
    """Mean absolute error over the seasonal naive forecast's mean absolute in-sample error."""
    from utilsforecast import losses

    scores = losses.mase(_scored_frame(actual, forecast), [MODEL], season_length, _history_frame(history))
    return _finite_or_nan(float(scores[MODEL].iloc[0])) if len(scores) else float("nan")


def rmsse(actual: np.ndarray, forecast: np.ndarray, history: np.ndarray, season_length: int) -> float:
    """Root of the mean squared error over the seasonal naive forecast's mean squared in-sample error."""
    from utilsforecast import losses

    scores = losses.rmsse(_scored_frame(actual, forecast), [MODEL], season_length, _history_frame(history))
    return _finite_or_nan(float(scores[MODEL].iloc[0])) if len(scores) else float("nan")


def series_mase(
    forecasts: pd.DataFrame, history: pd.DataFrame, season_length: int, *, model: str = MODEL
) -> pd.Series:
    """MASE per series (index unique_id) of long rows (unique_id, ds, y, `model`) against each series' whole
    `history` (unique_id, ds, y, sorted by ds); NaN where a series has no seasonal naive scale."""
    from utilsforecast import losses

    scores = losses.mase(
        forecasts[["unique_id", "ds", "y", model]],
        [model],
        season_length,
        history[["unique_id", "ds", "y"]],
    )
    per_series = scores.set_index("unique_id")[model].astype(float)
    return per_series.where(np.isfinite(per_series))


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of the points whose actual lies within [lower, upper], all points pooled."""
    import pandas as pd
    from utilsforecast import losses

    # utilsforecast scores per series; one series id for every point pools them.
    actual = np.asarray(actual, dtype=float)
    if actual.size == 0:
        return float("nan")
    frame = pd.DataFrame(
        {
            "unique_id": SERIES,
            "y": actual,
            f"{MODEL}-lo-0": np.asarray(lower, dtype=float),
            f"{MODEL}-hi-0": np.asarray(upper, dtype=float),
        }
    )
    return float(losses.coverage(frame, [MODEL], level=0)[MODEL].iloc[0])
