"""Days a location is likely closed, learned from its sales history: a probability per location and day.

Recurring closures: a store that sold nothing on 25 December in every year of its history will sell nothing
on the next one, and forecasting an ordinary day there costs the error of a whole day's sales. A horizon day
is a recurring closure of a location when, on the same calendar date in each earlier year the location's
history covers (at least `closure_min_years` of them), none of its series sold anything.

Public holidays (with `holiday_country` set): many stores close on some public holidays, and start or stop
doing so, which no same-date rule sees until years later. On the horizon's public holidays a location's
closure probability is its share of closed days among the public holidays of the last
`holiday_lookback_days`, counting one more holiday on which it opened.

Both only apply where an ordinary day sells enough (`closure_min_daily_units`) that a zero day is not chance.
One-off closures (a strike, a flood) are not predicted.
"""

from __future__ import annotations

from datetime import date

import holidays
import pandas as pd

from shelfwise.forecast.config import ForecastConfig
from shelfwise.forecast.sharding import split_series_id

# location -> {day: probability that the location is closed that day}
ClosureOdds = dict[str, dict[pd.Timestamp, float]]


def closure_odds(frame: pd.DataFrame, horizon: pd.DatetimeIndex, config: ForecastConfig) -> ClosureOdds:
    """Per location, the days of `horizon` it may be closed and how likely that is.

    `frame` holds long rows (unique_id "sku|location", ds, y) zero-filled up to the as-of date."""
    if frame.empty:
        return {}
    public_holidays = _public_holidays(frame["ds"].min(), horizon.max(), config.holiday_country)
    location_of = {unique_id: split_series_id(unique_id)[1] for unique_id in frame["unique_id"].unique()}
    locations = frame["unique_id"].map(location_of)
    daily = frame.groupby([locations.rename("location"), frame["ds"]])["y"].sum()
    odds: ClosureOdds = {}
    for location, totals in daily.groupby(level="location"):
        totals = totals.droplevel("location")
        if totals.mean() < config.closure_min_daily_units:
            continue
        first_day, closed = totals.index.min(), set(totals.index[totals <= 0])
        days: dict[pd.Timestamp, float] = {}
        if public_holidays:
            days |= _holiday_odds(totals, closed, horizon, public_holidays, config)
        if config.closure_min_years >= 1:
            for day in horizon:
                if _closed_every_year(day, first_day, closed, config.closure_min_years):
                    days[day] = 1.0
        if days:
            odds[str(location)] = dict(sorted(days.items()))
    return odds


def _public_holidays(start: pd.Timestamp, end: pd.Timestamp, country: str | None) -> set[pd.Timestamp]:
    if country is None:
        return set()
    calendar = holidays.country_holidays(country, years=range(start.year, end.year + 1))
    return {pd.Timestamp(day) for day in calendar if isinstance(day, date)}


def _holiday_odds(
    totals: pd.Series,
    closed: set[pd.Timestamp],
    horizon: pd.DatetimeIndex,
    public_holidays: set[pd.Timestamp],
    config: ForecastConfig,
) -> dict[pd.Timestamp, float]:
    last = totals.index.max()
    since = max(totals.index.min(), last - pd.Timedelta(days=config.holiday_lookback_days - 1))
    recent = [day for day in public_holidays if since <= day <= last]
    if not recent:
        return {}
    # One pseudo-holiday on which the location opened: twelve closed ones in a row still leave it a chance.
    odds = sum(day in closed for day in recent) / (len(recent) + 1)
    return {day: odds for day in horizon if day in public_holidays and odds > 0}


def _closed_every_year(
    day: pd.Timestamp, first_day: pd.Timestamp, closed: set[pd.Timestamp], min_years: int
) -> bool:
    years_back = 1
    while (past := day - pd.DateOffset(years=years_back)) >= first_day:
        if past not in closed:
            return False
        years_back += 1
    return years_back - 1 >= min_years
