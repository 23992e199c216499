"""Request and response models of the recommendations API (they also feed its OpenAPI document).

Identifiers follow the ingest contracts: 1-128 characters, no control characters, no surrounding spaces
(ingestion trims them, so an id posted with spaces would not match the same id in a file).
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

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
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @model_validator(mode="after")
    def _value_fits_the_event(self) -> BehaviourEvent:
        if self.event_type == "purchase" and (self.value is None or self.value < 0):
            raise ValueError("value: purchase events need the line amount, a number >= 0")
        if self.event_type == "rating" and (
            self.value is None or not RATING_RANGE[0] <= self.value <= RATING_RANGE[1]
        ):
            raise ValueError("value: rating events need the rating, a number from 0 to 10")
        if self.event_type in ("view", "cart") and self.value is not None and self.value <= 0:
            raise ValueError("value: view and cart quantities must be > 0")
        return self


class EventBatch(BaseModel):
    """A batch is accepted whole or rejected whole: one bad event gives a 422 naming it, nothing is stored."""

    model_config = ConfigDict(extra="forbid")

    events: list[BehaviourEvent] = Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)


class EventsAccepted(BaseModel):
    accepted: int = Field(description="Events in the batch.")
    new: int = Field(description="Events not seen before for their user (a re-sent batch adds none).")
    users: int = Field(description="Distinct users whose recent activity was updated.")


class RecommendedItem(BaseModel):
    item_id: str
    score: float = Field(description="Higher is better; popularity fallbacks score by popularity.")
    reason: str = Field(description='Why it is recommended, e.g. "because you viewed sku-9".')


class RecommendationsResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    user_id: str
    model_version: str | None = Field(description="Recommender version that ranked; null before training.")
    items: list[RecommendedItem]


class SimilarItemsResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    item_id: str
    model_version: str | None = Field(description="Recommender version that ranked; null before training.")
    items: list[RecommendedItem]
