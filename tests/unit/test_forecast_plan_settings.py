"""Deployment settings of the replenishment plan: read from the environment, validated, named when wrong."""

from __future__ import annotations

import pytest
from shelfwise.forecast.plan_settings import (
    InvalidPlanSettings,
    plan_settings_environment,
    plan_settings_from_env,
    plan_settings_from_mapping,
)
from shelfwise.forecast.replenishment import DEFAULT_SERVICE_LEVELS


def test_defaults_without_any_setting() -> None:
    settings = plan_settings_from_env({})
    assert (settings.currency, settings.max_days_of_supply, settings.review_period_days) == ("EUR", 90.0, 1.0)
    assert settings.holiday_country is None
    assert dict(settings.replenishment().service_levels) == DEFAULT_SERVICE_LEVELS


def test_every_setting_is_read_and_service_levels_override_only_their_classes() -> None:
    settings = plan_settings_from_env(
        {
            "SHELFWISE_CURRENCY": " gbp ",
            "SHELFWISE_MAX_DAYS_OF_SUPPLY": "none",
            "SHELFWISE_SERVICE_LEVELS": '{"AX": 0.995, "CZ": 0.8}',
            "SHELFWISE_REVIEW_PERIOD_DAYS": "7",
            "SHELFWISE_HOLIDAY_COUNTRY": "it",
        }
    )
    assert settings.holiday_country == "IT"
    config = settings.replenishment()
    assert settings.currency == "GBP" and config.max_days_of_supply is None
    assert config.review_period_days == 7.0
    assert config.service_levels["AX"] == 0.995 and config.service_levels["CZ"] == 0.8
    assert config.service_levels["BY"] == DEFAULT_SERVICE_LEVELS["BY"]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SHELFWISE_CURRENCY", "euro", "SHELFWISE_CURRENCY"),
        ("SHELFWISE_MAX_DAYS_OF_SUPPLY", "0", "SHELFWISE_MAX_DAYS_OF_SUPPLY"),
        ("SHELFWISE_MAX_DAYS_OF_SUPPLY", "a month", "SHELFWISE_MAX_DAYS_OF_SUPPLY"),
        ("SHELFWISE_SERVICE_LEVELS", '{"AQ": 0.9}', "unknown class 'AQ'"),
        ("SHELFWISE_SERVICE_LEVELS", '{"AX": 1.0}', "strictly between 0 and 1"),
        ("SHELFWISE_SERVICE_LEVELS", "AX=0.9", "not a JSON object"),
        ("SHELFWISE_REVIEW_PERIOD_DAYS", "-1", "SHELFWISE_REVIEW_PERIOD_DAYS"),
        ("SHELFWISE_HOLIDAY_COUNTRY", "Italy", "no public holiday calendar for country 'ITALY'"),
    ],
)
def test_a_wrong_setting_is_refused_with_its_variable_named(variable: str, value: str, message: str) -> None:
    with pytest.raises(InvalidPlanSettings, match=message):
        plan_settings_from_env({variable: value})


def test_a_deployments_settings_object_round_trips_through_the_functions_environment() -> None:
    settings = plan_settings_from_mapping(
        {
            "currency": "gbp",
            "max_days_of_supply": None,
            "service_levels": {"CZ": 0.8},
            "review_period_days": 7,
            "holiday_country": "DE",
        },
        source="forecast.json",
    )
    assert plan_settings_from_env(plan_settings_environment(settings)) == settings
    assert settings.currency == "GBP" and settings.replenishment().max_days_of_supply is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"currency": "EURO"}, r"forecast\.json\.currency"),
        ({"review_period_days": 0}, r"forecast\.json\.review_period_days"),
        ({"service_levels": {"AX": 1.5}}, "strictly between 0 and 1"),
        ({"typo_days": 3}, r"forecast\.json\.typo_days"),
        (["currency", "USD"], "must be an object"),
    ],
)
def test_a_wrong_settings_object_is_refused_naming_the_source_and_field(values: object, message: str) -> None:
    with pytest.raises(InvalidPlanSettings, match=message):
        plan_settings_from_mapping(values, source="forecast.json")  # type: ignore[arg-type]
