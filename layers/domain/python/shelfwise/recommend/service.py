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

Every answer is shaped the same way whichever ranker answered (`strategy`): each item carries its catalog
title (null when the catalog has none), a `score` on one scale (its rank within the list, `rank_score`), and a
reason naming items by title, with their ids in `reason_item_ids`. Titles for a whole answer come from one
BatchGetItem (`CatalogTitles`), cached per container for a few minutes.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from shelfwise.api.errors import NotFound
from shelfwise.aws import dynamodb
from shelfwise.ingest.activity import RecentEvent
from shelfwise.model_serving import ServedModel
from shelfwise.recommend.api_models import (
    EventBatch,
    EventsAccepted,
    RecommendationsResponse,
    RecommendedItem,
    SimilarItemsResponse,
    Strategy,
)
from shelfwise.recommend.popularity import PopularItem
from shelfwise.recommend.recommender import (
    INTERACTED_REASON,
    NO_DATA_REASON,
    POPULAR_REASON,
    SIMILAR_REASON,
    Recommendation,
    Recommender,
)

Titles = Mapping[str, str | None]
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
    # item ids -> catalog titles (an id without a title maps to None or is absent).
    titles: Callable[[Collection[str]], Titles] = lambda item_ids: {}

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
            results = self._trending(k, category, blocked, unavailable)
            items, _ = self._shape(results, lambda result, titles: (popular_reason(category), []))
            return RecommendationsResponse(
                user_id=user_id, model_version=None, strategy="trending", items=items
            )
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
        strategy: Strategy = "popular" if _is_popular(results) else "personalized"
        items, _ = self._shape(results, lambda result, titles: _reason(result, titles, latest_type, category))
        return RecommendationsResponse(
            user_id=user_id, model_version=served.version, strategy=strategy, items=items
        )

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
            strategy: Strategy = "similar_items"
            if results and results[0].reason == NO_DATA_REASON.format(item_id):
                strategy = "popular"
            items, titles = self._shape(
                results, lambda result, titles: _reason(result, titles, {}, category), also=item_id
            )
            return SimilarItemsResponse(
                item_id=item_id,
                title=titles.get(item_id),
                model_version=served.version,
                strategy=strategy,
                items=items,
            )
        known = self.catalog_category(item_id)
        if known is False:
            raise NotFound(f"item {item_id!r} is not in the catalog", field="path.item_id")
        # New to the model (or no model yet): what is popular in the item's own category.
        scope = category or (known if isinstance(known, str) else None)
        if served is not None:
            results = served.model.popular(k=k, category=scope, exclude=blocked, unavailable=unavailable)
            strategy = "popular"
        else:
            results = self._trending(k, scope, blocked, unavailable)
            strategy = "trending"
        items, titles = self._shape(results, lambda result, titles: (popular_reason(scope), []), also=item_id)
        return SimilarItemsResponse(
            item_id=item_id,
            title=titles.get(item_id),
            model_version=served.version if served is not None else None,
            strategy=strategy,
            items=items,
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
    ) -> list[Recommendation]:
        chosen: list[Recommendation] = []
        for popular in self.trending():
            if popular.item_id in blocked or popular.item_id in unavailable:
                continue
            if category is not None and popular.category != category:
                continue
            chosen.append(Recommendation(popular.item_id, popular.score, popular_reason(category)))
            if len(chosen) == k:
                break
        return chosen

    def _shape(
        self,
        results: list[Recommendation],
        explain: Callable[[Recommendation, Titles], tuple[str, list[str]]],
        also: str | None = None,
    ) -> tuple[list[RecommendedItem], Titles]:
        """The response items, best first, and the titles read for them: one batch for the items, the items
        their reasons name and `also` (the asked item of a similar-items answer); scores are `rank_score`."""
        wanted = [result.item_id for result in results]
        wanted += [result.reason_item for result in results if result.reason_item is not None]
        wanted += [also] if also is not None else []
        titles = self.titles(list(dict.fromkeys(wanted))) if wanted else {}
        items = []
        for position, result in enumerate(results):
            reason, named = explain(result, titles)
            items.append(
                RecommendedItem(
                    item_id=result.item_id,
                    title=titles.get(result.item_id),
                    score=rank_score(position, len(results)),
                    reason=reason,
                    reason_item_ids=named,
                )
            )
        return items, titles


def rank_score(position: int, count: int) -> float:
    """The one score scale of every answer: (count - position) / count, 1.0 for the first of `count` items.

    The rankers' own scores cannot share a scale (model affinities, decayed popularity sums, counts), and a
    diversified list is not in score order; the rank is what every strategy agrees on.
    """
    return round((count - position) / count, 6)


def _is_popular(results: list[Recommendation]) -> bool:
    return bool(results) and all(result.reason == POPULAR_REASON for result in results)


def _name(item_id: str, titles: Titles) -> str:
    return titles.get(item_id) or item_id


def _reason(
    result: Recommendation, titles: Titles, latest_type: Mapping[str, str], category: str | None
) -> tuple[str, list[str]]:
    """The recommender's reason for a person: items named by title, the event type's verb; with the ids."""
    if result.reason == POPULAR_REASON:
        return popular_reason(category), []
    source = result.reason_item
    if source is None:
        return result.reason, []
    name = _name(source, titles)
    if result.reason == INTERACTED_REASON.format(source):
        return VERBS.get(latest_type.get(source, ""), INTERACTED_REASON).format(name), [source]
    for template in (SIMILAR_REASON, NO_DATA_REASON):
        if result.reason == template.format(source):
            return template.format(name), [source]
    return result.reason, [source]


def catalog_category(table_name: str) -> Callable[[str], str | bool | None]:
    """item_id -> its category (None when it has none), or False when the catalog has no such item."""

    @functools.cache
    def catalog() -> dynamodb.DynamoResource:
        # One resource per container: building one costs more than the read itself.
        return dynamodb.resource()

    def lookup(item_id: str) -> str | bool | None:
        item: dict[str, Any] | None = dynamodb.get_item(
            table_name, {"item_id": item_id}, dynamodb=catalog(), consistent=False
        )
        if item is None:
            return False
        category = item.get("category")
        return category if isinstance(category, str) and category else None

    return lookup


class CatalogTitles:
    """item ids -> catalog titles, read with BatchGetItem and cached per container for `ttl_seconds`.

    Titles change rarely and the same popular items appear in most answers, so a warm container answers most
    requests without a catalog read. An id the catalog lacks (or an item without a title) is cached as None
    too, so a renamed or newly ingested item shows its title within `ttl_seconds`.
    """

    def __init__(
        self,
        table_name: str,
        *,
        ttl_seconds: float = 300.0,
        max_entries: int = 20_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.table_name = table_name
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: OrderedDict[str, tuple[float, str | None]] = OrderedDict()
        self._resource: dynamodb.DynamoResource | None = None

    def __call__(self, item_ids: Collection[str]) -> dict[str, str | None]:
        now = self._clock()
        found: dict[str, str | None] = {}
        missing: list[str] = []
        with self._lock:
            for item_id in dict.fromkeys(item_ids):
                entry = self._cached.get(item_id)
                if entry is not None and now - entry[0] < self.ttl_seconds:
                    found[item_id] = entry[1]
                else:
                    missing.append(item_id)
        if missing:
            if self._resource is None:
                # One resource per container: building one costs more than the read itself.
                self._resource = dynamodb.resource()
            items = dynamodb.batch_get(
                self.table_name, "item_id", missing, dynamodb=self._resource, attributes=["title"]
            )
            read = {item_id: _title(items.get(item_id)) for item_id in missing}
            found.update(read)
            with self._lock:
                for item_id, title in read.items():
                    self._cached[item_id] = (now, title)
                    self._cached.move_to_end(item_id)
                while len(self._cached) > self.max_entries:
                    self._cached.popitem(last=False)
        return found


def _title(item: Mapping[str, Any] | None) -> str | None:
    title = (item or {}).get("title")
    return title if isinstance(title, str) and title.strip() else None
