"""Storefront events in real time: each user's recent activity, and the raw events for training.

`POST /v1/events` merges a batch into the user-activity table through `shelfwise.ingest.activity` (same
format, same dedupe as ingestion: an event is its item, type and second, so a re-sent batch changes nothing)
and writes the batch as a CSV file under `incoming/interactions/api/`, which ingestion validates and curates
like any upstream file; the nightly training sees the events from there. The file's key is the hash of its
content, so a re-sent batch overwrites the same object and ingestion (idempotent per object and etag) lands
it once; its own merge into the activity table is a no-op for events already merged here.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from shelfwise.aws import dynamodb, s3
from shelfwise.ingest.activity import RecentEvent, activity_item, merge_recent, stored_recent
from shelfwise.recommend.api_models import BehaviourEvent
from shelfwise.recommend.popularity import typed_activity

INCOMING_EVENTS_PREFIX = "incoming/interactions/api/"
CSV_COLUMNS = ("user_id", "item_id", "event_type", "value", "timestamp")
# Two writers merging the same user at once: the loser re-reads and merges again.
MAX_MERGE_ATTEMPTS = 5
MERGE_WORKERS = 8


def recent_events(table_name: str, user_id: str) -> list[RecentEvent]:
    """The user's stored recent events, newest first (empty for an unknown user)."""
    item = dynamodb.get_item(table_name, {"user_id": user_id}, consistent=False)
    return stored_recent(typed_activity(item)) if item else []


def as_recent(event: BehaviourEvent) -> RecentEvent:
    # Ingestion keeps epoch seconds (timestamp ms // 1000); flooring here makes both paths store the same ts.
    return RecentEvent(event.item_id, event.event_type, math.floor(event.timestamp))


def merge_batch(table_name: str, events: Sequence[BehaviourEvent]) -> tuple[int, int]:
    """Merge the events into their users' recent activity; returns (events new to their user, users)."""
    by_user: dict[str, list[RecentEvent]] = {}
    for event in events:
        by_user.setdefault(event.user_id, []).append(as_recent(event))
    if len(by_user) == 1:
        results = [_merge_user(table_name, user_id, batch) for user_id, batch in by_user.items()]
    else:
        with ThreadPoolExecutor(max_workers=MERGE_WORKERS, thread_name_prefix="activity-merge") as pool:
            results = list(pool.map(lambda pair: _merge_user(table_name, *pair), by_user.items()))
    return sum(results), len(by_user)


def _merge_user(table_name: str, user_id: str, incoming: list[RecentEvent]) -> int:
    for _ in range(MAX_MERGE_ATTEMPTS):
        item = dynamodb.get_item(table_name, {"user_id": user_id})
        stored = stored_recent(typed_activity(item)) if item else []
        merged = merge_recent(stored, incoming)
        new = len(set(incoming) - set(stored))
        if merged == stored:
            return 0
        typed = activity_item(user_id, merged)
        plain: dict[str, Any] = {
            "user_id": user_id,
            "recent": typed["recent"]["S"],
            "format_version": int(typed["format_version"]["N"]),
            "expires_at": int(typed["expires_at"]["N"]),
        }
        written = dynamodb.put_item_if(table_name, plain, **_unchanged_since(item))
        if written:
            return new
    raise RuntimeError(
        f"user activity of {user_id!r} kept changing; gave up after {MAX_MERGE_ATTEMPTS} tries"
    )


def _unchanged_since(item: dict[str, Any] | None) -> dict[str, Any]:
    """The condition that the stored item is still the one merged from (optimistic concurrency)."""
    if item is None:
        return {"condition": "attribute_not_exists(user_id)"}
    if item.get("recent") is None:
        return {"condition": "attribute_not_exists(#recent)", "names": {"#recent": "recent"}}
    return {
        "condition": "#recent = :seen",
        "names": {"#recent": "recent"},
        "values": {":seen": item["recent"]},
    }


def events_csv(events: Sequence[BehaviourEvent]) -> bytes:
    """The batch in the interactions file contract (timestamps ISO-8601 UTC with milliseconds)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for event in events:
        stamp = datetime.fromtimestamp(event.timestamp, UTC).isoformat(timespec="milliseconds")
        value = "" if event.value is None else repr(float(event.value))
        writer.writerow((event.user_id, event.item_id, event.event_type, value, stamp.replace("+00:00", "Z")))
    return buffer.getvalue().encode("utf-8")


def store_batch(bucket: str, events: Sequence[BehaviourEvent]) -> str:
    """Write the batch for ingestion; returns its key, which depends only on the content."""
    body = events_csv(events)
    digest = hashlib.sha256(body).hexdigest()[:32]
    first = datetime.fromtimestamp(min(event.timestamp for event in events), UTC)
    key = f"{INCOMING_EVENTS_PREFIX}{first:%Y-%m-%d}/{digest}.csv"
    s3.put_bytes(bucket, key, body, content_type="text/csv")
    return key
