"""Turning a user's events into item weights, the same way the training job weighted them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SECONDS_PER_DAY = 86_400.0
TOLERANCE = 1e-5


@dataclass(frozen=True)
class EventWeighting:
    """An event counts event_weights[type] · 0.5^(age_days / half_life_days); an item keeps its strongest.

    `reference_time` is the newest event in the model's training data (epoch seconds): the job measured every
    age from it, so a training history weight is "as of" that moment. None for models that did not record it.
    `recency_boost` is how many times its weight an event newer than `reference_time` counts in a known user's
    profile; the job chose it on a time-ordered carve of its training data (1 for models that did not).
    """

    event_weights: Mapping[str, float]
    half_life_days: float | None
    reference_time: float | None = None
    recency_boost: float = 1.0

    @classmethod
    def from_manifest(cls, weighting: Mapping[str, Any]) -> EventWeighting:
        reference = weighting.get("reference_time")
        return cls(
            dict(weighting["event_weights"]),
            weighting.get("half_life_days"),
            None if reference is None else float(reference),
            float(weighting.get("recency_boost") or 1.0),
        )

    def decay(self, age_seconds: float) -> float:
        if not self.half_life_days:
            return 1.0
        return float(0.5 ** (max(0.0, age_seconds) / SECONDS_PER_DAY / self.half_life_days))

    def item_weights(self, events: Iterable[tuple[str, str, float]], now: float) -> list[tuple[str, float]]:
        """(item_id, event_type, epoch seconds) events → [(item_id, weight)], strongest first."""
        strongest: dict[str, float] = {}
        for item_id, event_type, timestamp in events:
            weight = self.event_weights.get(event_type, 0.0)
            if weight <= 0:
                continue
            weight *= self.decay(now - timestamp)
            strongest[item_id] = max(weight, strongest.get(item_id, 0.0))
        return sorted(strongest.items(), key=lambda pair: -pair[1])

    def profile(
        self, training: Sequence[tuple[str, float]], events: Sequence[tuple[str, str, float]]
    ) -> tuple[list[tuple[str, float]], bool]:
        """A known user's whole profile: the training history plus the events, as the job would weigh them.

        Every weight is put on one clock, the newest moment known (the training snapshot or a newer event), as
        the job does when it measures ages from the newest event in its data: the training weights decay by
        the time since the snapshot, each event by its own age. An event new to the model counts
        `recency_boost` times that weight: one newer than the snapshot, or an older one the training history
        does not hold (a late arrival: its item is missing or weighs less there), since what a user did that
        the model has not learned says more about their next choices than their old history does. An item
        keeps its strongest weight (the job's rule), so an event the model was already trained on can never
        add to its item twice: it re-weighs to at most what the training history holds. Returns the profile
        and whether the events changed it.
        """
        weighted = [
            (item_id, self.event_weights.get(event_type, 0.0), float(timestamp))
            for item_id, event_type, timestamp in events
        ]
        weighted = [event for event in weighted if event[1] > 0]
        snapshot = self.reference_time
        if snapshot is None:
            # A model that did not record its snapshot: its history is taken as of the newest event.
            snapshot = max((timestamp for _, _, timestamp in weighted), default=0.0)
        clock = max([snapshot, *(timestamp for _, _, timestamp in weighted)])
        shift = self.decay(clock - snapshot)
        trained = {item_id: weight * shift for item_id, weight in training}
        strongest = dict(trained)
        changed = False
        for item_id, weight, timestamp in weighted:
            weight *= self.decay(clock - timestamp)
            # A small tolerance: an event the job already counted re-weighs to its training weight exactly,
            # up to float32 rounding of the stored history.
            if timestamp > snapshot or weight > trained.get(item_id, 0.0) * (1.0 + TOLERANCE):
                weight *= self.recency_boost
            if weight > strongest.get(item_id, 0.0) * (1.0 + TOLERANCE):
                strongest[item_id] = weight
                changed = True
        return sorted(strongest.items(), key=lambda pair: -pair[1]), changed
