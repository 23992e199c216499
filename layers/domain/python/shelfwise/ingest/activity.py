"""Per-user recent activity for online serving (the user-activity table).

Each user's item holds `recent`: the newest events first, at most `MAX_RECENT`, each {item_id, event_type, ts}
with ts in epoch seconds, and `expires_at`, `TTL_DAYS` after the newest event. A file is reduced per user in a
vectorized way first, so storing it costs one read and one write per user, not per row; the reduction is
folded chunk by chunk (`fold_newest`) and written in blocks of users (`user_blocks`), so neither the file's
rows nor all users' Python objects are ever held at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypedDict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MAX_RECENT = 50
TTL_DAYS = 90
TTL_SECONDS = TTL_DAYS * 24 * 3600

ACTIVITY_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string()),
        pa.field("item_id", pa.string()),
        pa.field("event_type", pa.string()),
        pa.field("ts", pa.int64()),
    ]
)


class RecentEvent(TypedDict):
    item_id: str
    event_type: str
    ts: int


def activity_rows(interactions: pa.Table) -> pa.Table:
    """The columns the activity table needs, with `ts` in epoch seconds."""
    seconds = pc.divide(pc.cast(interactions.column("timestamp"), pa.int64()), 1000)
    return pa.table(
        {
            "user_id": interactions.column("user_id"),
            "item_id": interactions.column("item_id"),
            "event_type": interactions.column("event_type"),
            "ts": seconds,
        },
        schema=ACTIVITY_SCHEMA,
    )


def newest_per_user(rows: pa.Table, limit: int = MAX_RECENT) -> pa.Table:
    """Distinct events, newest first within each user, cut to `limit` per user (sorted by user)."""
    if rows.num_rows == 0:
        return ACTIVITY_SCHEMA.empty_table()
    distinct = rows.group_by(["user_id", "item_id", "event_type", "ts"], use_threads=False).aggregate([])
    ordered = distinct.sort_by([("user_id", "ascending"), ("ts", "descending"), ("item_id", "ascending")])
    users = ordered.column("user_id").combine_chunks()
    run_ends = pc.run_end_encode(users).run_ends.to_numpy()
    run_starts = np.concatenate(([0], run_ends[:-1]))
    lengths = run_ends - run_starts
    rank = np.arange(ordered.num_rows) - np.repeat(run_starts, lengths)
    return ordered.select(ACTIVITY_SCHEMA.names).filter(pa.array(rank < limit))


def fold_newest(kept: pa.Table | None, chunk: pa.Table, limit: int = MAX_RECENT) -> pa.Table:
    """Adds a chunk's events to what is kept so far, keeping only each user's newest `limit` distinct events.

    Folding chunk by chunk bounds memory by users x `limit` however long the file is.
    """
    reduced = newest_per_user(chunk, limit)
    if kept is None or kept.num_rows == 0:
        return reduced
    return newest_per_user(pa.concat_tables([kept, reduced]), limit)


def user_blocks(newest: pa.Table, users_per_block: int) -> Iterator[pa.Table]:
    """Slices of a user-sorted table (`newest_per_user` output) of `users_per_block` whole users each."""
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
        grouped.setdefault(user_id, []).append({"item_id": item_id, "event_type": event_type, "ts": int(ts)})
    return grouped


def merge_recent(
    stored: list[RecentEvent], incoming: list[RecentEvent], limit: int = MAX_RECENT
) -> list[RecentEvent]:
    """Union of both lists without repeats (same item, type and second), newest first, at most `limit`."""
    seen: set[tuple[str, str, int]] = set()
    merged: list[RecentEvent] = []
    for event in sorted([*incoming, *stored], key=lambda event: -int(event["ts"])):
        identity = (str(event["item_id"]), str(event["event_type"]), int(event["ts"]))
        if identity in seen:
            continue
        seen.add(identity)
        merged.append({"item_id": identity[0], "event_type": identity[1], "ts": identity[2]})
        if len(merged) == limit:
            break
    return merged


def activity_item(user_id: str, recent: list[RecentEvent]) -> dict[str, object]:
    newest = max(event["ts"] for event in recent)
    return {"user_id": user_id, "recent": recent, "expires_at": newest + TTL_SECONDS}
