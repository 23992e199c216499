"""Turning a user's recent events into item weights, the same way the training job weighted them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class EventWeighting:
    """An event counts event_weights[type] · 0.5^(age_days / half_life_days); an item keeps its strongest."""

    event_weights: Mapping[str, float]
    half_life_days: float | None

    @classmethod
    def from_manifest(cls, weighting: Mapping[str, Any]) -> EventWeighting:
        return cls(dict(weighting["event_weights"]), weighting.get("half_life_days"))

    def item_weights(self, events: Iterable[tuple[str, str, float]], now: float) -> list[tuple[str, float]]:
        """(item_id, event_type, epoch seconds) events → [(item_id, weight)], strongest first."""
        strongest: dict[str, float] = {}
        for item_id, event_type, timestamp in events:
            weight = self.event_weights.get(event_type, 0.0)
            if weight <= 0:
                continue
            if self.half_life_days:
                age_days = max(0.0, now - timestamp) / SECONDS_PER_DAY
                weight *= 0.5 ** (age_days / self.half_life_days)
            strongest[item_id] = max(weight, strongest.get(item_id, 0.0))
        return sorted(strongest.items(), key=lambda pair: -pair[1])
