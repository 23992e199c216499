"""What is popular right now, for shops with no trained recommender yet.

Source: the user-activity table, which ingestion and `POST /v1/events` keep filled from the first file or
event on, so it works in a fresh shop. A bounded sample of users (`sample_users`, scan order) is read, each
user's recent events count with the training job's event weights and a short half-life (trending rather than
all-time), each user at most once per item. The top `top_n` items get their categories from the catalog table
so category filters work. The result is cached for `ttl_seconds` per container.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from shelfwise.aws import dynamodb
from shelfwise.ingest.activity import RecentEvent, stored_recent
from shelfwise.recommend.weighting import EventWeighting

logger = Logger(child=True)

TRENDING_WEIGHTING = EventWeighting(
    event_weights={"view": 0.25, "cart": 0.5, "purchase": 1.0, "rating": 1.0}, half_life_days=14.0
)


@dataclass(frozen=True)
class PopularItem:
    item_id: str
    score: float
    category: str | None


def rank_items(
    histories: Iterable[list[RecentEvent]], now: float, weighting: EventWeighting = TRENDING_WEIGHTING
) -> list[tuple[str, float]]:
    """(item_id, score) best first: the sum over users of each user's strongest weight for the item."""
    totals: dict[str, float] = {}
    for events in histories:
        for item_id, weight in weighting.item_weights(events, now):
            totals[item_id] = totals.get(item_id, 0.0) + weight
    return sorted(totals.items(), key=lambda pair: (-pair[1], pair[0]))


def typed_activity(item: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """A user-activity item read through the resource API, in the typed form `stored_recent` reads."""
    typed: dict[str, dict[str, str]] = {"user_id": {"S": str(item.get("user_id", ""))}}
    if isinstance(item.get("recent"), str):
        typed["recent"] = {"S": item["recent"]}
    if item.get("format_version") is not None:
        typed["format_version"] = {"N": str(int(item["format_version"]))}
    return typed


class TrendingItems:
    def __init__(
        self,
        activity_table: str,
        catalog_table: str,
        *,
        sample_users: int = 5_000,
        top_n: int = 500,
        ttl_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.activity_table = activity_table
        self.catalog_table = catalog_table
        self.sample_users = sample_users
        self.top_n = top_n
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._now = now
        self._lock = threading.Lock()
        self._cached: list[PopularItem] | None = None
        self._cached_at = 0.0

    def items(self) -> list[PopularItem]:
        with self._lock:
            if self._cached is None or self._clock() - self._cached_at >= self.ttl_seconds:
                self._cached = self._compute()
                self._cached_at = self._clock()
            return self._cached

    def _compute(self) -> list[PopularItem]:
        sample = dynamodb.scan_some(
            self.activity_table, self.sample_users, attributes=["user_id", "recent", "format_version"]
        )
        ranked = rank_items((stored_recent(typed_activity(item)) for item in sample), self._now())
        top = ranked[: self.top_n]
        categories: dict[str, dict[str, Any]] = {}
        if top:
            categories = dynamodb.batch_get(
                self.catalog_table, "item_id", [item_id for item_id, _ in top], attributes=["category"]
            )
        logger.info("trending items computed", extra={"users_sampled": len(sample), "items": len(top)})
        # Scores relative to the top item: decayed sums are tiny for an old shop and mean nothing absolute.
        peak = top[0][1] if top and top[0][1] > 0 else 1.0
        return [
            PopularItem(item_id, round(score / peak, 6), _category(categories.get(item_id)))
            for item_id, score in top
        ]


def _category(item: Mapping[str, Any] | None) -> str | None:
    value = (item or {}).get("category")
    return value if isinstance(value, str) and value else None
