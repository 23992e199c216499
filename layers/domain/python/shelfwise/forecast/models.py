"""The candidate models, by name, as statsforecast objects.

Fixed-specification models are used on purpose: automatic ETS selection is ~17x slower per series than one
well-chosen specification, and per-series choice by cross-validation among a few fast candidates buys the
accuracy back. Names starting with `profile_` run on the series divided by its day-of-week profile.
"""

from __future__ import annotations

from typing import Any

from statsforecast.models import (
    ADIDA,
    IMAPA,
    TSB,
    AutoETS,
    CrostonSBA,
    HistoricAverage,
    SeasonalExponentialSmoothingOptimized,
    SeasonalNaive,
    SimpleExponentialSmoothingOptimized,
)

from shelfwise.forecast.config import ForecastConfig

PROFILE_PREFIX = "profile_"
# Combinations: the median of a few diverse models' forecasts, day by day (the M4 competition's lesson: a
# combination of ETS-like, seasonal and profile models beats picking one per series on a few noisy windows).
# They cost no extra fit in cross-validation, where their members are candidates anyway.
COMBINATIONS: dict[str, tuple[str, ...]] = {
    "combo_smooth": ("ets_ana", "seasonal_es", "profile_ses"),
    "combo_intermittent": ("croston_sba", "tsb", "profile_ses"),
}


def build_model(name: str, config: ForecastConfig) -> Any:
    season = config.season_length
    factories = {
        "ets_ana": lambda: AutoETS(season_length=season, model="ANA", alias=name),
        "auto_ets": lambda: AutoETS(season_length=season, alias=name),
        "seasonal_es": lambda: SeasonalExponentialSmoothingOptimized(season_length=season, alias=name),
        "seasonal_naive": lambda: SeasonalNaive(season_length=season, alias=name),
        "profile_ses": lambda: SimpleExponentialSmoothingOptimized(alias=name),
        "croston_sba": lambda: CrostonSBA(alias=name),
        "tsb": lambda: TSB(alpha_d=0.1, alpha_p=0.1, alias=name),
        "adida": lambda: ADIDA(alias=name),
        "imapa": lambda: IMAPA(alias=name),
        "mean": lambda: HistoricAverage(alias=name),
    }
    if name not in factories:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(factories))}")
    return factories[name]()


def uses_profile(name: str) -> bool:
    return name.startswith(PROFILE_PREFIX)


def members(names: list[str] | tuple[str, ...]) -> list[str]:
    """The single models to fit for `names`, combinations replaced by their members, each once."""
    out: list[str] = []
    for name in names:
        for member in COMBINATIONS.get(name, (name,)):
            if member not in out:
                out.append(member)
    return out
