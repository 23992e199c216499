"""EventBridge schedule expressions evaluated locally, and the Scheduled Event handlers receive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from shelfwise_infra import spec
from shelfwise_local.scheduling import (
    ScheduleExpressionError,
    next_fire_time,
    parse_cron,
    scheduled_event,
)

# Friday 1 March 2024, 12:00 UTC
FRIDAY_NOON = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0, month: int = 3, year: int = 2024) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_nightly_cron_fires_next_night() -> None:
    assert next_fire_time("cron(30 1 * * ? *)", FRIDAY_NOON) == at(2, 1, 30)


def test_fire_time_is_strictly_after_the_given_moment() -> None:
    assert next_fire_time("cron(0 12 * * ? *)", FRIDAY_NOON) == at(2, 12)


def test_day_of_week_counts_from_sunday_as_one() -> None:
    # EventBridge: 1 = SUN, 2 = MON.
    assert next_fire_time("cron(0 9 ? * 2 *)", FRIDAY_NOON) == at(4, 9)
    assert next_fire_time("cron(0 9 ? * 1 *)", FRIDAY_NOON) == at(3, 9)
    assert next_fire_time("cron(0 9 ? * 7 *)", FRIDAY_NOON) == at(2, 9)


def test_day_names_and_ranges() -> None:
    assert next_fire_time("cron(0 8 ? * MON-FRI *)", FRIDAY_NOON) == at(4, 8)
    assert next_fire_time("cron(0 8 ? * 2-6 *)", FRIDAY_NOON) == at(4, 8)


def test_nth_weekday_of_the_month() -> None:
    # March 2024 starts on a Friday: its first Monday is the 4th, its second the 11th.
    assert next_fire_time("cron(0 6 ? * 2#1 *)", FRIDAY_NOON) == at(4, 6)
    assert next_fire_time("cron(0 6 ? * 2#2 *)", FRIDAY_NOON) == at(11, 6)


def test_last_day_of_month() -> None:
    assert next_fire_time("cron(0 0 L * ? *)", FRIDAY_NOON) == at(31, 0)


def test_steps_in_minutes() -> None:
    assert next_fire_time("cron(0/15 * * * ? *)", at(1, 12, 7)) == at(1, 12, 15)


def test_year_field_restricts_the_years() -> None:
    assert next_fire_time("cron(0 0 1 1 ? 2026)", FRIDAY_NOON) == at(1, 0, month=1, year=2026)
    assert next_fire_time("cron(0 0 1 1 ? 2020-2023)", FRIDAY_NOON) is None


def test_rate_counts_from_the_anchor() -> None:
    anchor = at(1, 11, 50)

    assert next_fire_time("rate(15 minutes)", FRIDAY_NOON, rate_anchor=anchor) == at(1, 12, 5)
    assert next_fire_time("rate(1 hour)", FRIDAY_NOON, rate_anchor=anchor) == at(1, 12, 50)
    assert next_fire_time("rate(2 days)", FRIDAY_NOON, rate_anchor=anchor) == anchor + timedelta(days=2)


@pytest.mark.parametrize(
    "expression",
    [
        "cron(30 1 * * * *)",  # neither day field is '?'
        "cron(30 1 ? * ? *)",  # both are
        "cron(30 1 * * ?)",  # five fields
        "cron(61 1 * * ? *)",
        "cron(0 9 ? * 8 *)",
        "cron(0 9 15W * ? *)",
        "rate(0 minutes)",
        "rate(1 minutes)",
        "rate(5 minute)",
        "rate(5 weeks)",
        "every day",
    ],
)
def test_invalid_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ScheduleExpressionError):
        next_fire_time(expression, FRIDAY_NOON)


def test_every_spec_schedule_is_valid_and_fires_within_a_year() -> None:
    for schedule in spec.SCHEDULES:
        upcoming = next_fire_time(schedule.expression, FRIDAY_NOON, rate_anchor=FRIDAY_NOON)
        assert upcoming is not None and upcoming - FRIDAY_NOON <= timedelta(days=366)


def test_cron_translation_keeps_fields() -> None:
    assert parse_cron("cron(30 1 ? * 2-6 *)").cron == "30 1 * * 1-5"


def test_scheduled_event_is_a_valid_eventbridge_scheduled_event() -> None:
    schedule = spec.Schedule(
        name="nightly",
        description="d",
        expression="cron(0 1 * * ? *)",
        function="segments",
        detail={"as_of": "x"},
    )

    event = EventBridgeModel.model_validate(scheduled_event(schedule, at(2, 1)))

    assert event.detail_type == "Scheduled Event"
    assert event.source == "aws.events"
    assert event.resources == ["arn:aws:events:us-east-1:123456789012:rule/shelfwise-nightly"]
    assert event.time == at(2, 1)
    assert event.detail == {"as_of": "x"}
