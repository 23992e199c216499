"""The promotion gate: absolute floors per model, and a bounded drop against the version in service.

A candidate is promoted when every floor of its model holds and, if the version in service measured itself
on the same terms (same `comparable_key`), no gate metric they share dropped by more than the fraction
`max_drop` of the incumbent's value. The drop is relative because gate metrics live on different scales
(accuracies near 1, an nDCG near 0.3, a lift ratio near 2.5). The first version of a model only has to pass
its floors. Configuration comes from the environment:

- `SHELFWISE_GATE_MAX_DROP`: largest allowed relative drop per gate metric (default 0.05, i.e. 5%);
- `SHELFWISE_GATE_FLOORS`: JSON `{"<model_name>": {"<metric>": <minimum>}}`, merged over the defaults.

A floor may name a gate metric or a reported one (the recommender reports `catalog_coverage`, exposure Gini,
intra-list diversity, ...): `{"recommender": {"catalog_coverage": 0.2}}` rejects a version whose
recommendations reach less than 20% of the catalog. Reported metrics are never compared with the incumbent.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

MAX_DROP_ENV = "SHELFWISE_GATE_MAX_DROP"
FLOORS_ENV = "SHELFWISE_GATE_FLOORS"
DEFAULT_MAX_DROP = 0.05
DEFAULT_FLOORS: dict[str, dict[str, float]] = {
    "recommender": {"ndcg_lift_over_popularity": 1.0},
    "chat": {"intent_accuracy": 0.5, "sentiment_accuracy": 0.5},
}


@dataclass(frozen=True)
class GateConfig:
    max_drop: float = DEFAULT_MAX_DROP
    floors: Mapping[str, Mapping[str, float]] = field(default_factory=lambda: DEFAULT_FLOORS)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GateConfig:
        """Reads the two variables; a malformed value is a deployment error and says which variable it is."""
        environ = os.environ if environ is None else environ
        max_drop = DEFAULT_MAX_DROP
        if environ.get(MAX_DROP_ENV):
            try:
                max_drop = float(environ[MAX_DROP_ENV])
            except ValueError:
                raise ValueError(f"{MAX_DROP_ENV} must be a number, got {environ[MAX_DROP_ENV]!r}") from None
            if not math.isfinite(max_drop) or max_drop < 0:
                raise ValueError(f"{MAX_DROP_ENV} must be a finite number >= 0")
        floors = {name: dict(values) for name, values in DEFAULT_FLOORS.items()}
        if environ.get(FLOORS_ENV):
            try:
                overrides = json.loads(environ[FLOORS_ENV])
                for model_name, values in overrides.items():
                    floors.setdefault(str(model_name), {}).update(
                        {str(metric): float(minimum) for metric, minimum in values.items()}
                    )
            except (AttributeError, TypeError, ValueError):
                raise ValueError(
                    f'{FLOORS_ENV} must be JSON like {{"recommender": {{"ndcg_at_10": 0.1}}}}'
                ) from None
        return cls(max_drop=max_drop, floors=floors)


@dataclass(frozen=True)
class Incumbent:
    version: str
    metrics: Mapping[str, float]
    comparable_key: str | None


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str


def decide(
    model_name: str,
    metrics: Mapping[str, float],
    comparable_key: str,
    incumbent: Incumbent | None,
    config: GateConfig,
    reported: Mapping[str, float] | None = None,
) -> GateDecision:
    failures: list[str] = []
    floored = {**(reported or {}), **metrics}
    for metric, minimum in sorted(config.floors.get(model_name, {}).items()):
        value = floored.get(metric)
        if value is None:
            failures.append(f"{metric} is missing (floor {minimum:g})")
        elif value < minimum:
            failures.append(f"{metric} {value:.4f} is below the floor {minimum:g}")
    if failures:
        return GateDecision(False, "; ".join(failures))
    if incumbent is None:
        return GateDecision(True, "first version of this model; passes its floors")
    if incumbent.comparable_key != comparable_key:
        return GateDecision(
            True,
            f"passes its floors; not compared with {incumbent.version}, which was measured differently "
            f"(comparable_key {incumbent.comparable_key!r} vs {comparable_key!r})",
        )
    shared = sorted(set(metrics) & set(incumbent.metrics))
    drops = [
        f"{metric} {metrics[metric]:.4f} vs {incumbent.metrics[metric]:.4f} in {incumbent.version}"
        for metric in shared
        if metrics[metric] < incumbent.metrics[metric] * (1 - config.max_drop)
    ]
    if drops:
        worse = f"worse than the version in service by more than {config.max_drop:.0%}: "
        return GateDecision(False, worse + "; ".join(drops))
    summary = ", ".join(f"{m} {metrics[m]:.4f} (was {incumbent.metrics[m]:.4f})" for m in shared)
    return GateDecision(True, f"passes its floors and holds up against {incumbent.version}: {summary}")
