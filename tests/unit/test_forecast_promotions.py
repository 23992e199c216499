"""Planned promotions in the forecast run: which series and days they mark, what the run cannot apply."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
from shelfwise import curated
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
