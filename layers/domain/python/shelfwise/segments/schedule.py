"""Which day a segmentation run scores.

The scheduled event may name one in its detail (`{"as_of": "YYYY-MM-DD"}`, for backfills and reruns);
otherwise it is the last complete UTC day before the event's time, so the nightly 01:30 run scores
yesterday and rerunning that event gives the same answer.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class SegmentRunDetail(BaseModel):
    """What a scheduled event's `detail` may carry; EventBridge sends `{}` for plain schedules."""

    model_config = ConfigDict(extra="ignore")

    as_of: dt.date | None = Field(default=None, description="Score as of the end of this UTC day.")


class AsOfInFutureError(ValueError):
    """The requested day is after the event's own day: nothing could have happened on it yet."""


def resolve_as_of(event_time: dt.datetime, requested: dt.date | None) -> dt.date:
    moment = event_time if event_time.tzinfo else event_time.replace(tzinfo=dt.UTC)
    event_day = moment.astimezone(dt.UTC).date()
    if requested is None:
        return event_day - dt.timedelta(days=1)
    # A future as_of would be published as `latest` and then hold back every real nightly run until that day.
    if requested > event_day:
        raise AsOfInFutureError(f"as_of {requested} is after the day the event was sent ({event_day})")
    return requested
