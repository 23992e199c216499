"""Per-user recent activity for online serving (the user-activity table).

Item format (format_version 1), one item per user:

- `user_id` (S): the partition key.
- `recent` (S): compact JSON, a list of `[item_id, event_type, ts]` triples, ts in epoch seconds, newest
  first, at most `MAX_RECENT`, no two alike, e.g.
  `[["sku-7","purchase",1761955300],["sku-2","view",1761955200]]`.
  `encode_recent` writes it and `decode_recent` reads it back; serving code uses the same two functions.
- `format_version` (N): `FORMAT_VERSION` (1). A reader accepts only this version; `stored_recent` treats an
  item in any other shape, or with a `recent` that does not decode, as holding no events and logs a warning.
- `expires_at` (N): the TTL, the deployment's activity retention (`settings.activity_retention_days`, 90 days
  unless configured) after the newest event.

One string instead of a list of maps: DynamoDB clients and servers otherwise (de)serialize every event as a
nested typed map, which made storing a large file's users cost several times the file work itself.

A file is reduced per user in a vectorized way first, so storing it costs one read and one write per user,
not per row; the reduction is folded chunk by chunk (`fold_newest`) and written in blocks of users
(`user_blocks`), so neither the file's rows nor all users' Python objects are ever held at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

from aws_lambda_powertools import Logger

from shelfwise import settings

if TYPE_CHECKING:
    import pyarrow as pa

# pyarrow/numpy are imported inside the file-folding functions only: the online half of this module (encode,
# decode, merge) runs in the recommendations function, which ships without the data layer.

MAX_RECENT = 50
FORMAT_VERSION = 1

logger = Logger(child=True)


@cache
def activity_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("user_id", pa.string()),
            pa.field("item_id", pa.string()),
            pa.field("event_type", pa.string()),
            pa.field("ts", pa.int64()),
        ]
    )


def __getattr__(name: str) -> Any:
    if name == "ACTIVITY_SCHEMA":
        return activity_schema()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class RecentEvent(NamedTuple):
    """One event as stored: a plain tuple, so it encodes as a JSON triple and feeds `EventWeighting` as is."""

    item_id: str
    event_type: str
    ts: int


class UnreadableRecent(ValueError):
    """A stored `recent` value that is not this format's JSON list of [item_id, event_type, ts] triples."""


def encode_recent(events: Sequence[RecentEvent]) -> str:
    """`recent` as stored: compact JSON triples, in the order given (callers pass them newest first)."""
    return json.dumps(
        [[event[0], event[1], event[2]] for event in events], separators=(",", ":"), ensure_ascii=False
    )


def decode_recent(text: str) -> list[RecentEvent]:
    """The events of a stored `recent`, in stored order (newest first); raises `UnreadableRecent`."""
    try:
        entries = json.loads(text)
    except (TypeError, ValueError) as error:
        raise UnreadableRecent(f"not JSON: {error}") from None
    if not isinstance(entries, list):
        raise UnreadableRecent(f"expected a JSON list, got {type(entries).__name__}")
    events: list[RecentEvent] = []
    for position, entry in enumerate(entries):
        if not (
            isinstance(entry, list)
            and len(entry) == 3
            and isinstance(entry[0], str)
            and isinstance(entry[1], str)
            and isinstance(entry[2], int)
            and not isinstance(entry[2], bool)
        ):
            raise UnreadableRecent(f"entry {position} is not an [item_id, event_type, ts] triple: {entry!r}")
        events.append(RecentEvent(entry[0], entry[1], entry[2]))
    return events


def stored_recent(item: Mapping[str, Any] | None) -> list[RecentEvent]:
    """The events of a user-activity item as the low-level client returns it (`{"S": ...}` values).

    No item means no events. An item in another format, or whose `recent` does not decode, also counts as no
    events, with a warning: one damaged user must not stop a file's ingestion, and the events the file brings
    replace what could not be read.
    """
    if not item:
        return []
    user_id = item.get("user_id", {}).get("S")
    version = item.get("format_version", {}).get("N")
    recent = item.get("recent", {}).get("S")
    try:
        if version != str(FORMAT_VERSION):
            raise UnreadableRecent(f"format_version is {version!r}, expected {FORMAT_VERSION}")
        if recent is None:
            raise UnreadableRecent("`recent` is missing or not a string")
        return decode_recent(recent)
    except UnreadableRecent as error:
        logger.warning(
            "unreadable user activity treated as empty", extra={"user_id": user_id, "reason": str(error)}
        )
        return []


def activity_rows(interactions: pa.Table) -> pa.Table:
    """The columns the activity table needs, with `ts` in epoch seconds."""
    import pyarrow as pa
    import pyarrow.compute as pc

    seconds = pc.divide(pc.cast(interactions.column("timestamp"), pa.int64()), 1000)
    return pa.table(
        {
            "user_id": interactions.column("user_id"),
            "item_id": interactions.column("item_id"),
            "event_type": interactions.column("event_type"),
            "ts": seconds,
        },
        schema=activity_schema(),
    )


def newest_per_user(rows: pa.Table, limit: int = MAX_RECENT) -> pa.Table:
    """Distinct events, newest first within each user, cut to `limit` per user (sorted by user)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if rows.num_rows == 0:
        return activity_schema().empty_table()
    distinct = rows.group_by(["user_id", "item_id", "event_type", "ts"], use_threads=False).aggregate([])
    ordered = distinct.sort_by([("user_id", "ascending"), ("ts", "descending"), ("item_id", "ascending")])
    users = ordered.column("user_id").combine_chunks()
    run_ends = pc.run_end_encode(users).run_ends.to_numpy()
    run_starts = np.concatenate(([0], run_ends[:-1]))
    lengths = run_ends - run_starts
    rank = np.arange(ordered.num_rows) - np.repeat(run_starts, lengths)
    return ordered.select(activity_schema().names).filter(pa.array(rank < limit))


def fold_newest(kept: pa.Table | None, chunk: pa.Table, limit: int = MAX_RECENT) -> pa.Table:
    """Adds a chunk's events to what is kept so far, keeping only each user's newest `limit` distinct events.

    Folding chunk by chunk bounds memory by users x `limit` however long the file is.
    """
    import pyarrow as pa

    reduced = newest_per_user(chunk, limit)
    if kept is None or kept.num_rows == 0:
        return reduced
    return newest_per_user(pa.concat_tables([kept, reduced]), limit)


def user_blocks(newest: pa.Table, users_per_block: int) -> Iterator[pa.Table]:
    """Slices of a user-sorted table (`newest_per_user` output) of `users_per_block` whole users each."""
    import pyarrow.compute as pc

    if newest.num_rows == 0:
        return
    run_ends = pc.run_end_encode(newest.column("user_id").combine_chunks()).run_ends.to_numpy()
    start = 0
    for end in [*run_ends[users_per_block - 1 :: users_per_block].tolist(), int(run_ends[-1])]:
        if end > start:
            yield newest.slice(start, end - start)
            start = end


def group_by_user(newest: pa.Table) -> dict[str, list[RecentEvent]]:
    """`newest_per_user` output as {user_id: [events newest first]}."""
    grouped: dict[str, list[RecentEvent]] = {}
    columns = newest.to_pydict()
    for user_id, item_id, event_type, ts in zip(
        columns["user_id"], columns["item_id"], columns["event_type"], columns["ts"], strict=True
    ):
        grouped.setdefault(user_id, []).append(RecentEvent(item_id, event_type, ts))
    return grouped


def merge_recent(
    stored: Sequence[RecentEvent], incoming: Sequence[RecentEvent], limit: int = MAX_RECENT
) -> list[RecentEvent]:
    """Union of both lists without repeats (same item, type and second), newest first, at most `limit`.

    Events of the same second are ordered by item and type, so the result depends only on the set of events:
    files merged in any order, or one merged twice (a retry after a crash), store the same item.
    """
    seen: set[RecentEvent] = set()
    merged: list[RecentEvent] = []
    for event in sorted([*incoming, *stored], key=lambda event: (-event.ts, event.item_id, event.event_type)):
        if event in seen:
            continue
        seen.add(event)
        merged.append(event)
        if len(merged) == limit:
            break
    return merged


def ttl_seconds() -> int:
    """How long after a user's newest event their activity item is kept (the table's TTL)."""
    return settings.activity_retention_days() * 24 * 3600


def activity_item(user_id: str, recent: Sequence[RecentEvent]) -> dict[str, dict[str, str]]:
    """The stored item in DynamoDB's typed form, ready for the low-level client (see the module docstring)."""
    newest = max(event.ts for event in recent)
    return {
        "user_id": {"S": user_id},
        "recent": {"S": encode_recent(recent)},
        "format_version": {"N": str(FORMAT_VERSION)},
        "expires_at": {"N": str(newest + ttl_seconds())},
    }
