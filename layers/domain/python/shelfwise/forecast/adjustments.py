"""Effects estimated across series: promotion uplift and day-of-week profile.

Both are multiplicative and estimated per series, then shrunk toward the shard's pooled value so a SKU with
three promotion days or sparse sales borrows strength from the others (the cross-series structure).

- Promotion: history is divided by the uplift on promotion days, so the models see baseline demand; the
  forecast is multiplied back on the days the future promotion calendar marks. Where the series has no
  promotions in history the pooled uplift applies.
- Day-of-week profile: used by the `profile_ses` candidate, which smooths the de-seasonalised level and
  multiplies the profile back; it is steadier than a per-series seasonal model on sparse data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shelfwise.forecast.config import ForecastConfig


def promo_uplift(frame: pd.DataFrame, config: ForecastConfig) -> pd.Series:
    """Per unique_id: mean units on promotion days over mean units on other days, shrunk to the pool."""
    low, high = config.promo_uplift_bounds
    stats = frame.groupby(["unique_id", "promo"], observed=True)["y"].agg(["mean", "size"]).unstack("promo")
    ids = frame["unique_id"].unique()
    means = stats["mean"].reindex(columns=[False, True]) if "mean" in stats else pd.DataFrame(index=ids)
    sizes = (
        stats["size"].reindex(columns=[False, True]).fillna(0) if "size" in stats else pd.DataFrame(index=ids)
    )
    if means.empty:
        return pd.Series(1.0, index=ids)
    raw = (means[True] / means[False]).replace([np.inf, -np.inf], np.nan)
    eligible = raw[(sizes[True] >= 7) & (sizes[False] >= 7) & (means[False] > 0)]
    pooled = float(np.clip(np.nanmedian(eligible), low, high)) if eligible.notna().any() else 1.0
    promo_days = sizes[True].reindex(raw.index).fillna(0)
    weight = promo_days / (promo_days + config.promo_shrinkage_days)
    shrunk = weight * raw.fillna(pooled).clip(low, high) + (1 - weight) * pooled
    return shrunk.reindex(ids).fillna(pooled)


def weekday_profile(frame: pd.DataFrame, config: ForecastConfig) -> pd.DataFrame:
    """Index: unique_id; columns 0..6 (Monday..Sunday); mean 1 per row, shrunk toward the pooled profile."""
    weekday = frame["ds"].dt.dayofweek
    means = frame.groupby([frame["unique_id"], weekday])["y"].mean().unstack().reindex(columns=range(7))
    level = means.mean(axis=1)
    relative = means.div(level.where(level > 0), axis=0)
    pooled = relative.median().fillna(1.0)
    pooled = pooled / pooled.mean() if pooled.mean() > 0 else pooled * 0 + 1.0
    weeks = frame.groupby("unique_id").size() / 7.0
    weight = (weeks / (weeks + config.profile_shrinkage_weeks)).reindex(relative.index)
    profile = relative.fillna(pd.Series(pooled)).mul(weight, axis=0) + np.outer(1 - weight, pooled)
    profile = profile.clip(lower=0.05)
    return profile.div(profile.mean(axis=1), axis=0)


def profile_factor(frame: pd.DataFrame, profile: pd.DataFrame) -> np.ndarray:
    rows = profile.index.get_indexer(frame["unique_id"])
    return profile.to_numpy()[rows, frame["ds"].dt.dayofweek.to_numpy()]
