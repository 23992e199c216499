"""Promotions are their own source of forecast error, so their intervals learn from their own errors."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from shelfwise.forecast.config import ForecastConfig
from shelfwise.forecast.engine import forecast_shard

AS_OF = pd.Timestamp("2025-05-31")
HORIZON = 28


def _units(promo: np.ndarray, rng: np.random.Generator, uplift: float) -> np.ndarray:
    """Steady ordinary days; promotion days sell about `uplift` times as much, but how much varies widely."""
    multiplier = np.exp(rng.normal(np.log(uplift), 0.5, len(promo)))
    return rng.poisson(np.where(promo, 20.0 * multiplier, 20.0)).astype(float)


def _shop(promo_rates: list[float], uplift: float) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Sales history, the horizon's promotion calendar and what the horizon actually sold; one series per
    rate, promoted on that share of days."""
    rng = np.random.default_rng(3)
    history_days = pd.date_range(AS_OF - pd.Timedelta(days=699), AS_OF, freq="D")
    horizon_days = pd.date_range(AS_OF + pd.Timedelta(days=1), periods=HORIZON, freq="D")
    history, calendar, actual = [], [], []
    for number, rate in enumerate(promo_rates):
        sku = f"SKU-{number}"
        past_promo = rng.random(len(history_days)) < rate
        future_promo = rng.random(HORIZON) < rate
        history.append(
            pd.DataFrame(
                {
                    "sku": sku,
                    "date": history_days,
                    "units": _units(past_promo, rng, uplift),
                    "promo": past_promo,
                }
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
                    "y": _units(future_promo, rng, uplift),
                    "promo": future_promo,
                    "often_promoted": rate > 0.5,
                }
            )
        )
    sales = pd.concat(history).assign(location="web", price=1.0)
    return sales, pd.concat(calendar), pd.concat(actual)


def _scored(
    promo_rates: list[float], config: ForecastConfig, *, with_calendar: bool, uplift: float = 3.0
) -> pd.DataFrame:
    sales, calendar, actual = _shop(promo_rates, uplift)
    forecasts, _ = forecast_shard(
        sales,
        replace(config, end_date=AS_OF.date(), horizon=HORIZON),
        future_promo=calendar if with_calendar else None,
    )
    scored = actual.merge(forecasts, on=["unique_id", "ds"])
    assert len(scored) == len(actual)
    scored["covered_95"] = (scored["y"] >= scored["lo_95"]) & (scored["y"] <= scored["hi_95"])
    scored["width_95"] = scored["hi_95"] - scored["lo_95"]
    scored["below_95"] = scored["y"] < scored["lo_95"]
    scored["above_95"] = scored["y"] > scored["hi_95"]
    return scored


def test_with_a_calendar_promotion_days_get_their_own_intervals() -> None:
    rates = [0.2] * 30
    split = _scored(rates, ForecastConfig(), with_calendar=True).groupby("promo")
    pooled = _scored(rates, ForecastConfig(promo_interval_split=False), with_calendar=True).groupby("promo")
    coverage, pooled_coverage = split["covered_95"].mean(), pooled["covered_95"].mean()
    width, pooled_width = split["width_95"].mean(), pooled["width_95"].mean()
    assert coverage[True] >= 0.9 and coverage[False] >= 0.9
    # Pooled, the promotion days' spread is shared out over every day: ordinary days too wide, promotion days
    # too narrow.
    assert pooled_coverage[True] < coverage[True] - 0.05
    assert width[False] < 0.8 * pooled_width[False]


def test_without_a_calendar_rarely_and_often_promoted_series_get_their_own_intervals() -> None:
    # Without a calendar the forecast sits near the baseline of a rarely promoted series and near the promoted
    # level of an often promoted one, so their misses lie on opposite sides.
    rates = [0.15] * 20 + [0.85] * 20
    split = _scored(rates, ForecastConfig(), with_calendar=False, uplift=5.0)
    pooled = _scored(rates, ForecastConfig(promo_interval_split=False), with_calendar=False, uplift=5.0)
    misses = split.groupby("often_promoted")[["below_95", "above_95"]].mean()
    pooled_misses = pooled.groupby("often_promoted")[["below_95", "above_95"]].mean()
    # Pooled, the often promoted series' days without a promotion fall below the bound more than twice as
    # often as the 2.5% the level promises; apart, every side of every kind stays near it.
    assert pooled_misses.loc[True, "below_95"] > 0.045
    assert (misses <= 0.04).all().all()
