"""Accuracy measures for point and interval forecasts (numpy only)."""

from __future__ import annotations

import numpy as np


def seasonal_naive_scale(history: np.ndarray, season_length: int, *, squared: bool = False) -> float:
    """In-sample error of the seasonal naive forecast: the denominator of MASE (or RMSSE when squared)."""
    values = np.asarray(history, dtype=float)
    if values.size <= season_length:
        return float("nan")
    diffs = values[season_length:] - values[:-season_length]
    return float(np.mean(diffs**2) if squared else np.mean(np.abs(diffs)))


def mase(actual: np.ndarray, forecast: np.ndarray, scale: float) -> float:
    if not scale > 0:
        return float("nan")
    return float(np.mean(np.abs(np.asarray(actual) - np.asarray(forecast))) / scale)


def rmsse(actual: np.ndarray, forecast: np.ndarray, squared_scale: float) -> float:
    if not squared_scale > 0:
        return float("nan")
    return float(np.sqrt(np.mean((np.asarray(actual) - np.asarray(forecast)) ** 2) / squared_scale))


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    actual = np.asarray(actual, dtype=float)
    return float(np.mean((actual >= np.asarray(lower)) & (actual <= np.asarray(upper))))
