"""Recurring closures: a store closed on the same date every year is forecast to sell nothing that day."""

from __future__ import annotations

import datetime as dt

import holidays
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
    assert by_location.loc["rome", "treatment"].str.contains("2025-12-25 closed with probability 1.00").all()
    assert (by_location.loc["milan", "closed_days"] == 0).all()


def test_a_location_selling_too_little_for_a_zero_day_to_mean_anything_is_not_closed() -> None:
    # About 0.6 units a day over three SKUs: zero days happen by chance, so no closure is inferred.
    sales = _sales("village", _christmases(2022, 2023, 2024), level=0.2, seed=3)
    forecasts, summary = forecast_shard(sales, ForecastConfig(horizon=35, end_date=AS_OF))
    assert (summary["closed_days"] == 0).all()
    assert not summary["treatment"].str.contains("closed with probability").any()
    assert (forecasts.loc[forecasts["ds"] == CHRISTMAS, "hi_95"] > 0).all()


def _italian_holidays(start: str, end: str) -> set[pd.Timestamp]:
    days = holidays.country_holidays("IT", years=range(2022, 2026))
    return {
        pd.Timestamp(day) for day in days if pd.Timestamp(start) <= pd.Timestamp(day) <= pd.Timestamp(end)
    }


def test_a_store_that_started_closing_on_public_holidays_is_forecast_closed_on_the_next_ones() -> None:
    # Open on every holiday until the last twelve months, closed on each one since: no date has recurred yet.
    sales = _sales("rome", _italian_holidays("2024-12-01", "2025-11-30"), level=6.0, seed=4)
    config = ForecastConfig(horizon=35, end_date=AS_OF, holiday_country="IT")
    forecasts, summary = forecast_shard(sales, config)
    immaculate_conception = pd.Timestamp("2025-12-08")
    on_holiday = forecasts[forecasts["ds"] == immaculate_conception]
    # Closed on all 13 recent holidays (odds 13/14): zero, and so are the 80% bounds; the store may still
    # open, so the 95% upper bound keeps an ordinary day's demand.
    assert on_holiday[["mean", "lo_80", "lo_95", "hi_80"]].eq(0).all().all()
    assert (on_holiday["hi_95"] > 3).all()
    assert (forecasts.loc[forecasts["ds"] == immaculate_conception + pd.Timedelta(days=1), "mean"] > 3).all()
    assert (summary["closed_days"] == 4).all()  # 8, 25 and 26 December, 1 January
    assert summary["treatment"].str.contains("2025-12-08 closed with probability 0.93").all()

    without_calendar, _ = forecast_shard(sales, ForecastConfig(horizon=35, end_date=AS_OF))
    open_day = without_calendar[without_calendar["ds"] == immaculate_conception]
    assert (open_day["mean"] > 3).all()
    # Expected demand keeps the 1-in-14 chance that the store opens, so a week's sum does not drop a day.
    np.testing.assert_allclose(on_holiday["expected"], open_day["expected"].to_numpy() / 14, rtol=1e-9)


def test_a_store_closed_on_one_recent_holiday_keeps_its_forecast_but_its_95_interval_reaches_zero() -> None:
    sales = _sales("turin", {pd.Timestamp("2025-08-15")}, level=6.0, seed=5)
    config = ForecastConfig(horizon=35, end_date=AS_OF, holiday_country="IT")
    forecasts, summary = forecast_shard(sales, config)
    on_holiday = forecasts[forecasts["ds"] == pd.Timestamp("2025-12-08")]
    # Closed on 1 of the last 13 holidays (odds 1/14): above a 95% interval's 2.5% tail, below an 80% one's.
    assert (on_holiday["mean"] > 3).all()
    assert on_holiday["lo_95"].eq(0).all()
    assert (on_holiday["lo_80"] > 0).all()
    assert (summary["closed_days"] == 0).all()
