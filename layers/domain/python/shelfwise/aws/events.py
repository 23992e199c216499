"""EventBridge access for the domain library: publishing the platform's integration events.

The bus name comes from settings (`SHELFWISE_EVENT_BUS`); the client has no explicit endpoint, so
`AWS_ENDPOINT_URL` points it at the local cloud. `PutEvents` accepts at most 10 entries per call and reports
per-entry failures in a 200 response, so this module chunks and turns any failed entry into an exception —
a published plan or escalation that silently went nowhere is worse than a failed run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3

from shelfwise import settings

EventsClient = Any  # botocore builds the client class at run time

MAX_ENTRIES_PER_CALL = 10
# PutEvents refuses entries over 256 KiB; checked here so the caller learns which event was too big.
MAX_ENTRY_BYTES = 256 * 1024
DEFAULT_SOURCE = "shelfwise"


def client() -> EventsClient:
    return boto3.client("events")


@dataclass(frozen=True)
class Event:
    detail_type: str  # e.g. "Replenishment Plan Ready"
    detail: Mapping[str, Any]
    source: str = DEFAULT_SOURCE
    resources: tuple[str, ...] = ()
    time: datetime | None = None


class PublishError(RuntimeError):
    """EventBridge rejected some entries; `failures` lists (detail_type, error code, error message)."""

    def __init__(self, failures: Sequence[tuple[str, str, str]]) -> None:
        self.failures = list(failures)
        summary = "; ".join(f"{detail_type}: {code} {message}" for detail_type, code, message in failures)
        super().__init__(f"{len(failures)} event(s) were not published: {summary}")


def _bus_from_env() -> str:
    bus = os.environ.get(settings.EVENT_BUS_ENV)
    if not bus:
        raise RuntimeError(f"{settings.EVENT_BUS_ENV} is not set; the platform spec sets it everywhere")
    return bus


def _entry(event: Event, bus_name: str) -> dict[str, Any]:
    detail = json.dumps(event.detail, default=str, separators=(",", ":"))
    entry: dict[str, Any] = {
        "Source": event.source,
        "DetailType": event.detail_type,
        "Detail": detail,
        "EventBusName": bus_name,
    }
    if event.resources:
        entry["Resources"] = list(event.resources)
    if event.time is not None:
        entry["Time"] = event.time
    size = len(detail.encode("utf-8")) + len(event.source) + len(event.detail_type)
    if size > MAX_ENTRY_BYTES:
        raise ValueError(f"event {event.detail_type!r} is {size} bytes; the limit is {MAX_ENTRY_BYTES}")
    return entry


def put_events(
    events: Iterable[Event],
    *,
    bus_name: str | None = None,
    events_client: EventsClient | None = None,
) -> list[str]:
    """Publish `events` to the platform bus in chunks of 10; returns the event ids in order.

    Raises `PublishError` naming every entry EventBridge did not accept (after attempting all chunks).
    """
    bus = bus_name or _bus_from_env()
    entries = [_entry(event, bus) for event in events]
    eventbridge = events_client or client()
    event_ids: list[str] = []
    failures: list[tuple[str, str, str]] = []
    for start in range(0, len(entries), MAX_ENTRIES_PER_CALL):
        chunk = entries[start : start + MAX_ENTRIES_PER_CALL]
        response = eventbridge.put_events(Entries=chunk)
        results = response.get("Entries", [])
        for entry, result in zip(chunk, results, strict=False):
            if result.get("ErrorCode"):
                failures.append((entry["DetailType"], result["ErrorCode"], result.get("ErrorMessage", "")))
            else:
                event_ids.append(result.get("EventId", ""))
        if response.get("FailedEntryCount", 0) and not failures:
            failures.append(("?", "FailedEntryCount", f"{response['FailedEntryCount']} entries failed"))
    if failures:
        raise PublishError(failures)
    return event_ids


def publish(
    detail_type: str,
    detail: Mapping[str, Any],
    *,
    source: str = DEFAULT_SOURCE,
    bus_name: str | None = None,
    events_client: EventsClient | None = None,
) -> str:
    """Publish one event; returns its id."""
    ids = put_events(
        [Event(detail_type=detail_type, detail=detail, source=source)],
        bus_name=bus_name,
        events_client=events_client,
    )
    return ids[0]
