"""Locally, the deployment's forecast settings live in the state dir and reach the forecast function's env."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from shelfwise.forecast.plan_settings import InvalidPlanSettings, plan_settings_from_env
from shelfwise_local.deployment_settings import apply_forecast_settings, forecast_settings_path


def write(state_dir: Path, text: str) -> Path:
    path = forecast_settings_path(state_dir)
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_state_dirs_settings_become_the_environment_the_forecast_function_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("SHELFWISE_CURRENCY", "SHELFWISE_MAX_DAYS_OF_SUPPLY", "SHELFWISE_SERVICE_LEVELS"):
        monkeypatch.delenv(variable, raising=False)
    write(tmp_path, '{"currency": "chf", "max_days_of_supply": 21, "service_levels": {"BY": 0.97}}')
    monkeypatch.setattr(os, "environ", dict(os.environ))
    applied = apply_forecast_settings(tmp_path)
    seen = plan_settings_from_env(os.environ)
    assert applied == seen
    assert (seen.currency, seen.max_days_of_supply, seen.service_levels) == ("CHF", 21, {"BY": 0.97})


def test_no_file_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "environ", dict(os.environ))
    before = dict(os.environ)
    assert apply_forecast_settings(tmp_path) is None
    assert dict(os.environ) == before


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ('{"max_days_of_supply": "lots"}', InvalidPlanSettings, r"forecast\.json\.max_days_of_supply"),
        ("{currency: USD}", ValueError, r"forecast\.json is not a JSON object"),
    ],
)
def test_a_malformed_file_stops_the_start_naming_the_file_and_field(
    tmp_path: Path, text: str, error: type[Exception], message: str
) -> None:
    write(tmp_path, text)
    with pytest.raises(error, match=message):
        apply_forecast_settings(tmp_path)
