"""A local deployment's settings, kept in the state dir as the CDK app keeps them in its context.

`<state dir>/settings/forecast.json` holds the object CDK context `forecast_settings` would (for example
`{"currency": "USD", "max_days_of_supply": 60}`). The local cloud validates it at start-up and gives the
forecast function the environment the CDK app would give it; a malformed file stops the start with the
file and the field named rather than planning with a silently ignored setting.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from shelfwise.forecast.plan_settings import (
    PlanSettings,
    plan_settings_environment,
    plan_settings_from_mapping,
)

SETTINGS_DIR = "settings"
FORECAST_SETTINGS_FILE = "forecast.json"


def forecast_settings_path(state_dir: Path) -> Path:
    return Path(state_dir) / SETTINGS_DIR / FORECAST_SETTINGS_FILE


def read_forecast_settings(state_dir: Path) -> PlanSettings | None:
    path = forecast_settings_path(state_dir)
    if not path.is_file():
        return None
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not a JSON object: {error}") from None
    return plan_settings_from_mapping(values, source=str(path))


def apply_forecast_settings(state_dir: Path) -> PlanSettings | None:
    """Put the file's settings into this process's environment, which the local functions inherit."""
    settings = read_forecast_settings(state_dir)
    if settings is not None:
        os.environ.update(plan_settings_environment(settings))
    return settings
