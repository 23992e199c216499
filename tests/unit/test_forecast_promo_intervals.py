"""With a promotion calendar, promotion days' intervals learn from promotion days' errors."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from shelfwise.forecast.config import ForecastConfig
from shelfwise.forecast.engine import forecast_shard

AS_OF = pd.Timestamp("2025-05-31")
HORIZON = 28


def _units(promo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Steady ordinary days; promotion days sell about three times as much, but how much varies widely."""
    uplift = np.exp(rng.normal(np.log(3.0), 0.5, len(promo)))
    return rng.poisson(np.where(promo, 20.0 * uplift, 20.0)).astype(float)


def _shop(series: int = 30) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Sales history, the horizon's promotion calendar and what the horizon actually sold."""
    rng = np.random.default_rng(3)
    history_days = pd.date_range(AS_OF - pd.Timedelta(days=699), AS_OF, freq="D")
    horizon_days = pd.date_range(AS_OF + pd.Timedelta(days=1), periods=HORIZON, freq="D")
    history, calendar, actual = [], [], []
    for number in range(series):
        sku = f"SKU-{number}"
        past_promo = rng.random(len(history_days)) < 0.2
        future_promo = rng.random(HORIZON) < 0.2
        history.append(
            pd.DataFrame(
                {"sku": sku, "date": history_days, "units": _units(past_promo, rng), "promo": past_promo}
            )
        )
        calendar.append(
            pd.DataFrame({"sku": sku, "location": "web", "date": horizon_days, "promo": future_promo})
        )
        actual.append(
            pd.DataFrame(
                {
                    "unique_id": f"{sku}|web",
                    "ds": horizon_days,
                    "y": _units(future_promo, rng),
                    "promo": future_promo,
                }
            )
        )
    sales = pd.concat(history).assign(location="web", price=1.0)
    return sales, pd.concat(calendar), pd.concat(actual)


def _scored(config: ForecastConfig) -> pd.DataFrame:
    sales, calendar, actual = _shop()
    forecasts, _ = forecast_shard(
        sales, replace(config, end_date=AS_OF.date(), horizon=HORIZON), future_promo=calendar
    )
    scored = actual.merge(forecasts, on=["unique_id", "ds"])
    assert len(scored) == len(actual)
    scored["covered_95"] = (scored["y"] >= scored["lo_95"]) & (scored["y"] <= scored["hi_95"])
    scored["width_95"] = scored["hi_95"] - scored["lo_95"]
    return scored


def test_promotion_days_get_their_own_intervals() -> None:
    split = _scored(ForecastConfig()).groupby("promo")
    pooled = _scored(ForecastConfig(promo_interval_split=False)).groupby("promo")
    coverage, pooled_coverage = split["covered_95"].mean(), pooled["covered_95"].mean()
    width, pooled_width = split["width_95"].mean(), pooled["width_95"].mean()
    assert coverage[True] >= 0.9 and coverage[False] >= 0.9
    # Pooled, the promotion days' spread is shared out over every day: ordinary days too wide, promotion days
    # too narrow.
    assert pooled_coverage[True] < coverage[True] - 0.05
    assert width[False] < 0.8 * pooled_width[False]
