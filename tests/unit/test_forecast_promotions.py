"""Planned promotions in the forecast run: which series and days they mark, what the run cannot apply."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
from shelfwise import curated
from shelfwise.forecast.config import ForecastConfig
from shelfwise.forecast.engine import forecast_shard
from shelfwise.forecast.planning import future_promotion_days
from shelfwise.forecast.report import SeriesPlot, series_svg

AS_OF = dt.date(2025, 5, 31)
SERIES = [("A", "north"), ("A", "south"), ("B", "north")]


def promotions(*rows: tuple[str, str | None, dt.date, dt.date]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {"sku": sku, "location": location, "start_date": start, "end_date": end, "discount_pct": 20.0}
            for sku, location, start, end in rows
        ],
        schema=curated.SCHEMAS["promotions"],
    )


def day(n: int) -> dt.date:
    """The n-th forecast day (1 = the day after the as-of date)."""
    return AS_OF + dt.timedelta(days=n)


def test_a_campaign_without_location_marks_every_location_of_its_sku() -> None:
    days, issue = future_promotion_days(promotions(("A", None, day(3), day(5))), SERIES, AS_OF, 7)
    assert days == {"A|north": [day(3), day(4), day(5)], "A|south": [day(3), day(4), day(5)]}
    assert issue == {}


def test_campaigns_are_clipped_to_the_horizon_and_overlaps_mark_a_day_once() -> None:
    days, issue = future_promotion_days(
        promotions(
            ("B", "north", day(-10), day(2)),  # began before the forecast: only its horizon days count
            ("B", "north", day(2), day(3)),  # overlaps the first
            ("B", "north", day(6), day(40)),  # runs past the horizon
            ("A", "north", day(-30), day(-20)),  # over before the first forecast day: irrelevant
            ("A", "south", day(8), day(9)),  # after the horizon: irrelevant
        ),
        SERIES,
        AS_OF,
        7,
    )
    assert days == {"B|north": [day(1), day(2), day(3), day(6), day(7)]}
    assert issue == {}


def test_campaigns_for_unknown_skus_or_locations_are_counted_not_applied() -> None:
    days, issue = future_promotion_days(
        promotions(
            ("GHOST", None, day(1), day(2)),
            ("B", "south", day(1), day(2)),  # B sells only at north
            ("GHOST", "north", day(-9), day(-8)),  # outside the horizon: no effect either way
            ("A", "north", day(1), day(1)),
        ),
        SERIES,
        AS_OF,
        7,
    )
    assert days == {"A|north": [day(1)]}
    assert issue["count"] == 2
    assert issue["examples"] == ["B@south", "GHOST"]


def test_report_plots_shade_promotion_days_inside_the_plot_window() -> None:
    forecast = [(day(n), 5.0, 4.0, 6.0, 3.0, 7.0) for n in range(1, 8)]
    plain = SeriesPlot("A", "north", "", history=[(AS_OF, 4.0)], forecast=forecast)
    promoted = SeriesPlot(
        "A", "north", "", history=[(AS_OF, 4.0)], forecast=forecast, promo_days=[day(2), day(3), day(6)]
    )
    assert "class='p'" not in series_svg(plain)
    svg = series_svg(promoted)
    assert svg.count("class='p'") == 1
    shading = svg.split("class='p' d='")[1].split("'")[0]
    assert shading.count("M") == 2  # two runs of consecutive days: 2-3 and 6


def _promoted_sales(share: float, seed: int = 5) -> pd.DataFrame:
    """200 days of 10 units a day, tripled on a random `share` of the days."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(end=pd.Timestamp(AS_OF), periods=200, freq="D")
    promo = rng.random(len(dates)) < share
    units = [rng.poisson(30 if flag else 10) for flag in promo]
    return pd.DataFrame(
        {"sku": "P", "location": "north", "date": dates, "units": units, "promo": promo, "price": 1.0}
    )


def _no_calendar_over_no_promotion(sales: pd.DataFrame) -> tuple[float, float, pd.DataFrame, pd.DataFrame]:
    """The mean ratio of the forecast without a calendar to the one with an empty calendar, the uplift."""
    config = ForecastConfig(horizon=28, end_date=AS_OF)
    no_calendar, summary = forecast_shard(sales, config)
    empty_calendar, _ = forecast_shard(
        sales, config, future_promo=pd.DataFrame(columns=["sku", "location", "date", "promo"])
    )
    assert summary["model"].iloc[0] == "combo_smooth"
    ratio = no_calendar["mean"].to_numpy() / empty_calendar["mean"].to_numpy()
    return float(ratio.mean()), float(summary["promo_uplift"].iloc[0]), no_calendar, empty_calendar


def test_without_a_calendar_a_rarely_promoted_sku_is_forecast_near_its_baseline() -> None:
    ratio, uplift, no_calendar, empty_calendar = _no_calendar_over_no_promotion(_promoted_sales(0.2))
    # Same baseline model either way; one day in five promoted lifts the median day only a little.
    assert uplift > 2 and 1.0 < ratio < 1.35
    # Not knowing which days will be promoted widens the intervals.
    width = no_calendar["hi_95"] - no_calendar["lo_95"]
    assert width.mean() > (empty_calendar["hi_95"] - empty_calendar["lo_95"]).mean()


def test_without_a_calendar_a_sku_promoted_most_days_is_forecast_near_its_promoted_level() -> None:
    sales = _promoted_sales(0.85)
    ratio, uplift, no_calendar, _ = _no_calendar_over_no_promotion(sales)
    assert uplift > 2 and ratio > 0.8 * uplift
    promoted_level = sales.loc[sales["promo"], "units"].mean()
    assert abs(no_calendar["mean"].mean() - promoted_level) < 0.2 * promoted_level


def test_without_a_calendar_expected_demand_counts_the_promotions_the_median_day_leaves_out() -> None:
    sales = _promoted_sales(0.2)
    _, uplift, no_calendar, empty_calendar = _no_calendar_over_no_promotion(sales)
    recent = sales[sales["date"] > sales["date"].max() - pd.Timedelta(days=91)]
    rate = recent["promo"].mean()
    # A baseline day times (1 - p + p * uplift): what the SKU sells on average, above the median day.
    np.testing.assert_allclose(
        no_calendar["expected"].to_numpy(),
        empty_calendar["mean"].to_numpy() * (1 - rate + rate * uplift),
        rtol=1e-9,
    )
    assert (no_calendar["expected"] > no_calendar["mean"]).all()
    # 28 days expected at the baseline plus the share of promoted days, near what history sold per day.
    assert abs(no_calendar["expected"].mean() - recent["units"].mean()) < 0.15 * recent["units"].mean()
    # A calendar says which days are promoted: then each day's expected demand is its forecast.
    assert (empty_calendar["expected"] == empty_calendar["mean"]).all()
