"""The recommendations API's logic: model in service + the user's live activity + fallbacks.

- Personal: a user the model was trained on is scored from their whole training history plus the recent
  events (user-activity table, updated by ingestion and `POST /v1/events`) that are newer than it, weighted on
  the training job's own clock, each counted once; so the next call reflects what the user just did without
  losing the long-term profile. A user the model does not know is folded in from their recent events; a user
  with neither gets popular items ("popular right now (no history yet)" / "popular in <category>").
- Items the user interacted with are excluded unless `include_seen`; `exclude` ids are always excluded, and
  so are items the latest stock files show as out of stock (`shelfwise.stock`) unless `in_stock` is off.
- No promoted model at all: trending items from the activity table (`TrendingItems`), never an error.
- Similar items: the model's item embeddings; an item the model does not know but the catalog does gets the
  popular items of its category; an item neither knows is a 404.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from shelfwise.api.errors import NotFound
from shelfwise.aws import dynamodb
from shelfwise.ingest.activity import RecentEvent
from shelfwise.model_store import ServedModel
from shelfwise.recommend.popularity import PopularItem
from shelfwise.recommend.recommender import POPULAR_REASON, Recommendation, Recommender
from shelfwise.recommend.requests import (
    EventBatch,
    EventsAccepted,
    RecommendationsResponse,
    RecommendedItem,
    SimilarItemsResponse,
)

INTERACTED_PREFIX = "because you interacted with "
VERBS = {
    "view": "because you viewed {}",
    "cart": "because you added {} to your cart",
    "purchase": "because you bought {}",
    "rating": "because you rated {}",
}
NO_HISTORY_REASON = "popular right now (no history yet)"


def popular_reason(category: str | None) -> str:
    return f"popular in {category}" if category else NO_HISTORY_REASON


@dataclass
class RecommendationService:
    """Collaborators are plain callables so the logic is testable without AWS."""

    model: Callable[[], ServedModel[Recommender] | None]
    recent_events: Callable[[str], list[RecentEvent]]
    trending: Callable[[], list[PopularItem]]
    catalog_category: Callable[[str], str | bool | None]
    merge_events: Callable[[EventBatch], tuple[int, int]]
    store_events: Callable[[EventBatch], str]
    out_of_stock: Callable[[], frozenset[str]] = frozenset
    now: Callable[[], float] = time.time

    def recommend(
        self,
        user_id: str,
        *,
        k: int,
        category: str | None = None,
        exclude: Collection[str] = (),
        include_seen: bool = False,
        in_stock: bool = True,
    ) -> RecommendationsResponse:
        recent = self.recent_events(user_id)
        unavailable = self._unavailable(in_stock)
        blocked = set(exclude)
        if not include_seen:
            blocked.update(event.item_id for event in recent)
        served = self.model()
        if served is None:
            items = self._trending(k, category, blocked, unavailable)
            return RecommendationsResponse(user_id=user_id, model_version=None, items=items)
        model = served.model
        if not include_seen:
            # The live activity keeps only the newest events; older interactions are in the training history.
            blocked.update(model.training_items(user_id))
        results = model.recommend(
            self._query_history(model, user_id, recent),
            k=k,
            category=category,
            exclude=blocked,
            exclude_seen=not include_seen,
            now=self.now(),
            unavailable=unavailable,
        )
        latest_type = {event.item_id: event.event_type for event in reversed(recent)}
        items = [_item(result, _reason(result.reason, latest_type, category)) for result in results]
        return RecommendationsResponse(user_id=user_id, model_version=served.version, items=items)

    def _query_history(
        self, model: Recommender, user_id: str, recent: list[RecentEvent]
    ) -> str | list[tuple[str, float]]:
        """What the model scores the user from: a user id means exactly their training history.

        A user the model was trained on keeps that whole history, with only what is newer than (or missing
        from) it folded in on the job's clock (`EventWeighting.profile`): ingestion writes every file's newest
        events into the activity table, so most recent events are ones the model already learned from, and
        scoring from the recent events alone would drop the long-term profile. A user the model does not know
        is folded in from their recent events; with neither, the model answers with popular items.
        """
        training = model.training_history(user_id)
        known = [event for event in recent if model.knows_item(event.item_id)]
        # Ages are measured from the newest moment known rather than the wall clock: only the ratios between
        # weights matter to the ranking, and weeks-old activity must not decay to zero in float32.
        profile, changed = model.weighting.profile(training, known)
        return profile if changed or not training else user_id

    def similar(
        self,
        item_id: str,
        *,
        k: int,
        category: str | None = None,
        exclude: Collection[str] = (),
        in_stock: bool = True,
    ) -> SimilarItemsResponse:
        served = self.model()
        unavailable = self._unavailable(in_stock)
        blocked = set(exclude) | {item_id}
        if served is not None and served.model.knows_item(item_id):
            results = served.model.similar(
                item_id, k=k, category=category, exclude=blocked, unavailable=unavailable
            )
            items = [_item(result, result.reason) for result in results]
            return SimilarItemsResponse(item_id=item_id, model_version=served.version, items=items)
        known = self.catalog_category(item_id)
        if known is False:
            raise NotFound(f"item {item_id!r} is not in the catalog", field="path.item_id")
        # New to the model (or no model yet): what is popular in the item's own category.
        scope = category or (known if isinstance(known, str) else None)
        if served is not None:
            results = served.model.popular(k=k, category=scope, exclude=blocked, unavailable=unavailable)
            items = [_item(result, popular_reason(scope)) for result in results]
            return SimilarItemsResponse(item_id=item_id, model_version=served.version, items=items)
        return SimilarItemsResponse(
            item_id=item_id, model_version=None, items=self._trending(k, scope, blocked, unavailable)
        )

    def record_events(self, batch: EventBatch) -> EventsAccepted:
        # The raw file first: if the activity merge fails, the client's retry finds the file already there.
        self.store_events(batch)
        new, users = self.merge_events(batch)
        return EventsAccepted(accepted=len(batch.events), new=new, users=users)

    def _unavailable(self, in_stock: bool) -> frozenset[str]:
        return self.out_of_stock() if in_stock else frozenset()

    def _trending(
        self, k: int, category: str | None, blocked: set[str], unavailable: frozenset[str]
    ) -> list[RecommendedItem]:
        chosen: list[RecommendedItem] = []
        for popular in self.trending():
            if popular.item_id in blocked or popular.item_id in unavailable:
                continue
            if category is not None and popular.category != category:
                continue
            chosen.append(
                RecommendedItem(item_id=popular.item_id, score=popular.score, reason=popular_reason(category))
            )
            if len(chosen) == k:
                break
        return chosen


def _item(result: Recommendation, reason: str) -> RecommendedItem:
    return RecommendedItem(item_id=result.item_id, score=round(float(result.score), 6), reason=reason)


def _reason(reason: str, latest_type: dict[str, str], category: str | None) -> str:
    if reason == POPULAR_REASON:
        return popular_reason(category)
    if reason.startswith(INTERACTED_PREFIX):
        source = reason[len(INTERACTED_PREFIX) :]
        event_type = latest_type.get(source)
        if event_type in VERBS:
            return VERBS[event_type].format(source)
    return reason


def catalog_category(table_name: str) -> Callable[[str], str | bool | None]:
    """item_id -> its category (None when it has none), or False when the catalog has no such item."""

    def lookup(item_id: str) -> str | bool | None:
        item: dict[str, Any] | None = dynamodb.get_item(table_name, {"item_id": item_id}, consistent=False)
        if item is None:
            return False
        category = item.get("category")
        return category if isinstance(category, str) and category else None

    return lookup
