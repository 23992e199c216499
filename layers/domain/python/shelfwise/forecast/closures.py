"""Days a location is closed every year (Christmas Day, say), learned from its sales history.

A store that sold nothing on 25 December in every year of its history will sell nothing on the next one, and
forecasting an ordinary day there costs the error of a whole day's sales. A horizon day is a recurring
closure of a location when, on the same calendar date in each earlier year the location's history covers
(at least `closure_min_years` of them), none of its series sold anything, while on an ordinary day the
location sells enough (`closure_min_daily_units`) that a zero day is not chance. One-off closures (a strike,
a holiday that moves) are not predicted: the rule only repeats what every past year showed.
"""

from __future__ import annotations

import pandas as pd

from shelfwise.forecast.config import ForecastConfig
from shelfwise.forecast.sharding import split_series_id


def recurring_closures(
    frame: pd.DataFrame, horizon: pd.DatetimeIndex, config: ForecastConfig
) -> dict[str, list[pd.Timestamp]]:
    """Per location, the days of `horizon` that were closure days on the same date in every earlier year.

    `frame` holds long rows (unique_id "sku|location", ds, y) zero-filled up to the as-of date."""
    if frame.empty or config.closure_min_years < 1:
        return {}
    location_of = {unique_id: split_series_id(unique_id)[1] for unique_id in frame["unique_id"].unique()}
    locations = frame["unique_id"].map(location_of)
    daily = frame.groupby([locations.rename("location"), frame["ds"]])["y"].sum()
    closures: dict[str, list[pd.Timestamp]] = {}
    for location, totals in daily.groupby(level="location"):
        totals = totals.droplevel("location")
        if totals.mean() < config.closure_min_daily_units:
            continue
        first_day, closed = totals.index.min(), set(totals.index[totals <= 0])
        days = [
            day for day in horizon if _closed_every_year(day, first_day, closed, config.closure_min_years)
        ]
        if days:
            closures[str(location)] = days
    return closures


def _closed_every_year(
    day: pd.Timestamp, first_day: pd.Timestamp, closed: set[pd.Timestamp], min_years: int
) -> bool:
    years_back = 1
    while (past := day - pd.DateOffset(years=years_back)) >= first_day:
        if past not in closed:
            return False
        years_back += 1
    return years_back - 1 >= min_years
