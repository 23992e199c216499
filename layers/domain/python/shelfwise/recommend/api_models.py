"""Request and response models of the recommendations API (they also feed its OpenAPI document).

Identifiers follow the ingest contracts: 1-128 characters, no control characters, no surrounding spaces
(ingestion trims them, so an id posted with spaces would not match the same id in a file).
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator

ID_MAX_LENGTH = 128
ID_PATTERN = r"^[^\x00-\x1f\x7f\s](?:[^\x00-\x1f\x7f]*[^\x00-\x1f\x7f\s])?$"
K_MAX = 100
EXCLUDE_MAX_IDS = 100
MAX_EVENTS_PER_BATCH = 500
# Storefront clocks drift a little; an event further ahead is a bug (milliseconds sent as seconds).
MAX_FUTURE_SECONDS = 300
EARLIEST_TIMESTAMP = 0.0  # 1970-01-01, the ingest contract's lower bound
RATING_RANGE = (0.0, 10.0)

ItemId = Annotated[str, StringConstraints(min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN)]
EventType = Literal["view", "cart", "purchase", "rating"]


class BehaviourEvent(BaseModel):
    """One storefront event; `value` is the purchase amount, the rating, or a quantity."""

    model_config = ConfigDict(extra="forbid")

    user_id: ItemId = Field(description="Customer identifier, as in the interactions files.")
    item_id: ItemId = Field(description="Catalog item identifier.")
    event_type: EventType = Field(description="What happened (case-insensitive on input).")
    timestamp: float = Field(
        description="ISO-8601 date-time (no offset means UTC) or epoch seconds; at most 5 minutes ahead.",
    )
    value: float | None = Field(
        default=None,
        # Checked even when absent: a purchase or rating without it is reported at `value` itself.
        validate_default=True,
        description="purchase: line amount (required, >= 0); rating: the rating (required, 0-10); "
        "view/cart: quantity (> 0, 1 when absent).",
    )

    @field_validator("event_type", mode="before")
    @classmethod
    def _lower_case(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("timestamp", mode="before")
    @classmethod
    def _epoch_seconds(cls, value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError("expected an ISO-8601 date-time or epoch seconds")
        if isinstance(value, int | float):
            seconds = float(value)
        elif isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                raise ValueError("expected an ISO-8601 date-time or epoch seconds") from None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            seconds = parsed.timestamp()
        else:
            raise ValueError("expected an ISO-8601 date-time or epoch seconds")
        if not math.isfinite(seconds) or seconds < EARLIEST_TIMESTAMP:
            raise ValueError("timestamp must be after 1970-01-01")
        if seconds > time.time() + MAX_FUTURE_SECONDS:
            raise ValueError("timestamp is in the future (epoch seconds expected, not milliseconds)")
        return seconds

    @field_validator("value")
    @classmethod
    def _value_fits_the_event(cls, value: float | None, info: ValidationInfo) -> float | None:
        # A field validator (not a model validator) so the error is located at `value`; `event_type` is
        # declared before it and so already validated (absent from `info.data` when it was invalid).
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        event_type = info.data.get("event_type")
        if event_type == "purchase" and (value is None or value < 0):
            raise ValueError("purchase events need the line amount, a number >= 0")
        if event_type == "rating" and (value is None or not RATING_RANGE[0] <= value <= RATING_RANGE[1]):
            raise ValueError("rating events need the rating, a number from 0 to 10")
        if event_type in ("view", "cart") and value is not None and value <= 0:
            raise ValueError("view and cart quantities must be > 0")
        return value


class EventBatch(BaseModel):
    """A batch is accepted whole or rejected whole: one bad event gives a 422 naming it, nothing is stored."""

    model_config = ConfigDict(extra="forbid")

    events: list[BehaviourEvent] = Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)


class EventsAccepted(BaseModel):
    accepted: int = Field(description="Events in the batch.")
    new: int = Field(description="Events not seen before for their user (a re-sent batch adds none).")
    users: int = Field(description="Distinct users whose recent activity was updated.")


Strategy = Literal["personalized", "similar_items", "popular", "trending"]

STRATEGY_DESCRIPTION = (
    "Which ranker answered: `personalized` (the recommender scored the user's history and recent events), "
    "`similar_items` (nearest items by the recommender's item embeddings), `popular` (the recommender's "
    "popularity list, within a category when one applies: a user or an item with no data yet), `trending` "
    "(no recommender trained yet: what is popular in the shop's recent activity)."
)
SCORE_DESCRIPTION = (
    "Rank within this list on one scale for every `strategy`: (n - position) / n for the item at 0-based "
    "`position` of the `n` items returned, so the first item scores 1.0, the last 1/n, and scores strictly "
    "decrease down the list. The rankers' own scores (model affinities, popularity counts) are not "
    "comparable between strategies or model versions, so they are not returned."
)


class RecommendedItem(BaseModel):
    item_id: str
    title: str | None = Field(description="The item's catalog title; null when the catalog has no such item.")
    score: float = Field(ge=0.0, le=1.0, description=SCORE_DESCRIPTION)
    reason: str = Field(
        description="Why it is recommended, naming items by title, e.g. "
        '"because you viewed Blue Denim Jacket" (by id when the catalog has no title).'
    )
    reason_item_ids: list[str] = Field(
        default_factory=list,
        description="Ids of the items the reason names, in the order it names them (empty when it names "
        "none), so a client can link them.",
    )


class RecommendationsResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    user_id: str
    model_version: str | None = Field(description="Recommender version that ranked; null before training.")
    strategy: Strategy = Field(description=STRATEGY_DESCRIPTION)
    items: list[RecommendedItem]


class SimilarItemsResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    item_id: str
    title: str | None = Field(description="The asked item's catalog title; null when the catalog has none.")
    model_version: str | None = Field(description="Recommender version that ranked; null before training.")
    strategy: Strategy = Field(description=STRATEGY_DESCRIPTION)
    items: list[RecommendedItem]
