"""EventBridge schedule expressions and Scheduled Events, evaluated locally.

EventBridge cron has six fields — `cron(minutes hours day-of-month month day-of-week year)` — with `?` for
"no specific value" and day-of-week numbered 1-7 from Sunday. cronsim evaluates standard cron (Sunday = 0),
so expressions are translated; the year field is checked separately. `rate(N unit)` is supported too.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cronsim import CronSim, CronSimError
from shelfwise_infra import spec

from shelfwise_local.functions import ACCOUNT_ID, REGION
from shelfwise_local.resources import schedule_rule_arn

_CRON = re.compile(r"^cron\((?P<body>[^)]*)\)$")
_RATE = re.compile(r"^rate\((?P<value>\d+)\s+(?P<unit>minute|minutes|hour|hours|day|days)\)$")
_RATE_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
# A year field naming no year within this horizon means the schedule never fires again.
_YEAR_SEARCH_LIMIT = 2000


class ScheduleExpressionError(ValueError):
    """The expression is not a valid EventBridge cron/rate expression."""


def _shift_day_of_week_numbers(field: str) -> str:
    """EventBridge counts days of the week 1 (SUN) … 7 (SAT); cron counts 0 (SUN) … 6 (SAT)."""

    def shift(found: re.Match[str]) -> str:
        number = int(found.group(0))
        if not 1 <= number <= 7:
            raise ScheduleExpressionError(f"day-of-week {number} is outside 1-7")
        return str(number - 1)

    # Only day numbers are shifted; the `n` of `DOW#n` is an occurrence count and stays as is.
    return re.sub(r"(?<![#\d])\d+", shift, field)


def _year_matches(year_field: str, year: int) -> bool:
    if year_field in {"*", "?"}:
        return True
    for term in year_field.split(","):
        step = 1
        if "/" in term:
            term, step_text = term.split("/", 1)
            step = int(step_text)
        if term == "*":
            start, end = 1970, 2199
        elif "-" in term:
            first, last = term.split("-", 1)
            start, end = int(first), int(last)
        else:
            start = int(term)
            end = start if step == 1 else 2199
        if start <= year <= end and (year - start) % step == 0:
            return True
    return False


@dataclass(frozen=True)
class CronExpression:
    cron: str  # standard five-field cron understood by cronsim
    year_field: str

    def occurrences_after(self, moment: datetime) -> Iterator[datetime]:
        for candidate in CronSim(self.cron, moment.astimezone(UTC)):
            if _year_matches(self.year_field, candidate.year):
                yield candidate
            elif candidate.year > moment.year + _YEAR_SEARCH_LIMIT:
                return


def parse_cron(expression: str) -> CronExpression:
    found = _CRON.match(expression.strip())
    if found is None:
        raise ScheduleExpressionError(f"{expression!r} is not cron(...)")
    fields = found.group("body").split()
    if len(fields) != 6:
        raise ScheduleExpressionError(f"{expression!r} needs 6 fields: minutes hours day month weekday year")
    minutes, hours, day, month, weekday, year = fields
    if (day == "?") == (weekday == "?"):
        raise ScheduleExpressionError(
            f"{expression!r}: exactly one of day-of-month and day-of-week must be '?'"
        )
    if "W" in day.replace("LW", ""):
        raise ScheduleExpressionError(
            f"{expression!r}: the 'W' (nearest weekday) form is not supported locally"
        )
    cron = " ".join(
        [
            minutes,
            hours,
            "*" if day == "?" else day,
            month,
            "*" if weekday == "?" else _shift_day_of_week_numbers(weekday),
        ]
    )
    try:
        CronSim(cron, datetime.now(UTC))
        if year not in {"*", "?"}:
            _year_matches(year, 2000)
    except (CronSimError, ValueError) as error:
        raise ScheduleExpressionError(f"{expression!r}: {error}") from error
    return CronExpression(cron=cron, year_field=year)


def parse_rate(expression: str) -> timedelta:
    found = _RATE.match(expression.strip())
    if found is None:
        raise ScheduleExpressionError(f"{expression!r} is not rate(N minutes|hours|days)")
    value = int(found.group("value"))
    unit = found.group("unit").rstrip("s")
    if value < 1:
        raise ScheduleExpressionError(f"{expression!r}: the rate must be at least 1")
    if (value == 1) != (found.group("unit") == unit):
        raise ScheduleExpressionError(f"{expression!r}: use the singular unit for 1 and the plural otherwise")
    return timedelta(seconds=value * _RATE_UNITS[unit])


def next_fire_time(
    expression: str, after: datetime, *, rate_anchor: datetime | None = None
) -> datetime | None:
    """The first time strictly after `after` at which the schedule fires (None if never again).

    A rate schedule fires every interval counted from `rate_anchor` (when the rule was created).
    """
    text = expression.strip()
    if text.startswith("rate("):
        interval = parse_rate(text)
        anchor = rate_anchor or after
        elapsed = max(timedelta(0), after - anchor)
        periods = int(elapsed / interval) + 1
        return anchor + periods * interval
    if text.startswith("cron("):
        return next(parse_cron(text).occurrences_after(after), None)
    raise ScheduleExpressionError(f"{expression!r} is neither cron(...) nor rate(...)")


def scheduled_event(schedule: spec.Schedule, at: datetime) -> dict[str, Any]:
    """The event EventBridge sends a target when a scheduled rule fires."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [schedule_rule_arn(schedule)],
        "detail": dict(schedule.detail),
    }
