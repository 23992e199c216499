"""Recurring closures: a store closed on the same date every year is forecast to sell nothing that day."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from shelfwise.forecast.config import ForecastConfig
from shelfwise.forecast.engine import forecast_shard

AS_OF = dt.date(2025, 11, 30)
CHRISTMAS = pd.Timestamp("2025-12-25")


def _sales(location: str, closed: set[pd.Timestamp], level: float, seed: int) -> pd.DataFrame:
    """Three SKUs from 2022-12-01 to the as-of date; no rows at all on `closed` days, as a store's file."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2022-12-01", pd.Timestamp(AS_OF), freq="D")
    rows = [
        {"sku": sku, "location": location, "date": day, "units": float(rng.poisson(level)), "promo": False}
        for day in dates
        if day not in closed
        for sku in ("A", "B", "C")
    ]
    return pd.DataFrame(rows).assign(price=1.0)


def _christmases(*years: int) -> set[pd.Timestamp]:
    return {pd.Timestamp(f"{year}-12-25") for year in years}


def test_a_store_closed_every_christmas_is_forecast_to_sell_nothing_on_the_next_one() -> None:
    sales = pd.concat(
        [
            _sales("rome", _christmases(2022, 2023, 2024), level=6.0, seed=1),
            # Closed on one Christmas only: not a pattern, so the next one is an ordinary day.
            _sales("milan", _christmases(2024), level=6.0, seed=2),
        ]
    )
    forecasts, summary = forecast_shard(sales, ForecastConfig(horizon=35, end_date=AS_OF))

    rome = forecasts[forecasts["location"] == "rome"].set_index(["sku", "ds"])
    for sku in ("A", "B", "C"):
        assert rome.loc[(sku, CHRISTMAS), ["mean", "lo_95", "hi_95", "lo_80", "hi_80"]].eq(0).all()
        assert rome.loc[(sku, CHRISTMAS - pd.Timedelta(days=1)), "mean"] > 3
        assert rome.loc[(sku, CHRISTMAS + pd.Timedelta(days=1)), "mean"] > 3
    milan = forecasts[forecasts["location"] == "milan"]
    assert (milan.loc[milan["ds"] == CHRISTMAS, "mean"] > 3).all()

    by_location = summary.assign(location=summary["unique_id"].str.split("|").str[1]).set_index("location")
    assert (by_location.loc["rome", "closed_days"] == 1).all()
    assert by_location.loc["rome", "treatment"].str.contains("closed every year on 2025-12-25").all()
    assert (by_location.loc["milan", "closed_days"] == 0).all()


def test_a_location_selling_too_little_for_a_zero_day_to_mean_anything_is_not_closed() -> None:
    # About 0.6 units a day over three SKUs: zero days happen by chance, so no closure is inferred.
    sales = _sales("village", _christmases(2022, 2023, 2024), level=0.2, seed=3)
    forecasts, summary = forecast_shard(sales, ForecastConfig(horizon=35, end_date=AS_OF))
    assert (summary["closed_days"] == 0).all()
    assert not summary["treatment"].str.contains("closed every year").any()
    assert (forecasts.loc[forecasts["ds"] == CHRISTMAS, "hi_95"] > 0).all()
