"""A deployment's replenishment settings, validated with pydantic, from the forecast function's environment.

- `SHELFWISE_CURRENCY`: ISO 4217 code of every value in the plan (default EUR).
- `SHELFWISE_MAX_DAYS_OF_SUPPLY`: most days of forecast demand one order may bring the position to
  (default 90; `none` for no cap).
- `SHELFWISE_SERVICE_LEVELS`: JSON object of ABC/XYZ class -> cycle service level, e.g. `{"AX": 0.995}`;
  classes left out keep their defaults (`replenishment.DEFAULT_SERVICE_LEVELS`).
- `SHELFWISE_REVIEW_PERIOD_DAYS`: days between plans, which each order must cover beyond the reorder point
  (default 1, a nightly plan).
- `SHELFWISE_HOLIDAY_COUNTRY`: ISO 3166 code of the country whose public holidays the stores may close on
  (e.g. `IT`; default none): each location's recent closures on them set its odds of closing on the next
  ones (`shelfwise.forecast.closures`).

A wrong value fails the run with the variable named, rather than planning with a silently ignored setting;
the settings in force are written to the run's summary.json and report.

A deployment states them once, as an object with the same field names (`{"currency": "USD",
"max_days_of_supply": 60, "service_levels": {"AX": 0.995}}`): CDK context `forecast_settings`, or locally
`<state dir>/settings/forecast.json`. Both are validated here and become the variables above
(`plan_settings_from_mapping`, `plan_settings_environment`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import holidays
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shelfwise.forecast.replenishment import DEFAULT_SERVICE_LEVELS, ReplenishmentConfig

ENVIRONMENT = {
    "currency": "SHELFWISE_CURRENCY",
    "max_days_of_supply": "SHELFWISE_MAX_DAYS_OF_SUPPLY",
    "service_levels": "SHELFWISE_SERVICE_LEVELS",
    "review_period_days": "SHELFWISE_REVIEW_PERIOD_DAYS",
    "holiday_country": "SHELFWISE_HOLIDAY_COUNTRY",
}


class PlanSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    max_days_of_supply: float | None = Field(default=90.0, gt=0)
    service_levels: dict[str, float] = Field(default_factory=dict)
    review_period_days: float = Field(default=1.0, gt=0, le=365)
    holiday_country: str | None = None

    @field_validator("currency", "holiday_country", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("holiday_country")
    @classmethod
    def _known_country(cls, country: str | None) -> str | None:
        if country is not None and country not in holidays.list_supported_countries():
            raise ValueError(f"no public holiday calendar for country {country!r} (ISO 3166 codes, e.g. IT)")
        return country

    @field_validator("service_levels")
    @classmethod
    def _known_classes(cls, levels: dict[str, float]) -> dict[str, float]:
        for name, level in levels.items():
            if name not in DEFAULT_SERVICE_LEVELS:
                raise ValueError(f"unknown class {name!r}; classes are {', '.join(DEFAULT_SERVICE_LEVELS)}")
            if not 0 < level < 1:
                raise ValueError(f"service level of {name} must be strictly between 0 and 1, not {level}")
        return levels

    def replenishment(self) -> ReplenishmentConfig:
        return ReplenishmentConfig(
            max_days_of_supply=self.max_days_of_supply,
            review_period_days=self.review_period_days,
            service_levels=DEFAULT_SERVICE_LEVELS | self.service_levels,
        )


class InvalidPlanSettings(ValueError):
    """A setting in the function's environment is malformed; the message names the variable."""


def plan_settings_from_mapping(values: Mapping[str, object], *, source: str) -> PlanSettings:
    """Validate a deployment's settings object; the error names `source` and the field."""
    if not isinstance(values, Mapping):
        raise InvalidPlanSettings(f"{source} must be an object of setting names to values, got {values!r}")
    try:
        return PlanSettings.model_validate(dict(values))
    except ValidationError as error:
        problems = "; ".join(
            f"{source}.{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise InvalidPlanSettings(problems) from None


def plan_settings_environment(settings: PlanSettings) -> dict[str, str]:
    """The forecast function's environment for `settings` (read back by `plan_settings_from_env`)."""
    max_days = settings.max_days_of_supply
    return {
        ENVIRONMENT["currency"]: settings.currency,
        ENVIRONMENT["max_days_of_supply"]: "none" if max_days is None else f"{max_days:g}",
        ENVIRONMENT["service_levels"]: json.dumps(settings.service_levels, sort_keys=True),
        ENVIRONMENT["review_period_days"]: f"{settings.review_period_days:g}",
        ENVIRONMENT["holiday_country"]: settings.holiday_country or "",
    }


def plan_settings_from_env(environ: Mapping[str, str]) -> PlanSettings:
    raw: dict[str, object] = {}
    for field, variable in ENVIRONMENT.items():
        value = environ.get(variable)
        if value is None or not value.strip():
            continue
        if field == "max_days_of_supply" and value.strip().lower() == "none":
            raw[field] = None
        elif field == "service_levels":
            try:
                raw[field] = json.loads(value)
            except json.JSONDecodeError as error:
                raise InvalidPlanSettings(f"{variable} is not a JSON object: {error}") from None
        else:
            raw[field] = value
    try:
        return PlanSettings.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{ENVIRONMENT.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}" for e in error.errors()
        )
        raise InvalidPlanSettings(problems) from None
