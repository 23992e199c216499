"""Per-user recent activity: newest first, at most 50, merged without repeats, TTL from the newest event."""

from __future__ import annotations

import pyarrow as pa
from shelfwise.ingest.activity import (
    MAX_RECENT,
    TTL_SECONDS,
    activity_item,
    fold_newest,
    group_by_user,
    merge_recent,
    newest_per_user,
    user_blocks,
)


def rows(events: list[tuple[str, str, str, int]]) -> pa.Table:
    user_ids, item_ids, event_types, stamps = zip(*events, strict=True)
    return pa.table({"user_id": user_ids, "item_id": item_ids, "event_type": event_types, "ts": stamps})


def test_a_file_is_reduced_to_each_users_newest_distinct_events() -> None:
    events = [("a", f"i{n}", "view", 1000 + n) for n in range(80)] + [
        ("b", "x", "cart", 5),
        ("b", "x", "cart", 5),
    ]
    grouped = group_by_user(newest_per_user(rows(events)))
    assert len(grouped["a"]) == MAX_RECENT
    assert [event["ts"] for event in grouped["a"][:3]] == [1079, 1078, 1077]
    assert grouped["b"] == [{"item_id": "x", "event_type": "cart", "ts": 5}]


def test_merge_with_stored_activity_dedupes_and_keeps_the_newest() -> None:
    stored = [
        {"item_id": "old", "event_type": "view", "ts": 10},
        {"item_id": "same", "event_type": "view", "ts": 20},
    ]
    incoming = [
        {"item_id": "same", "event_type": "view", "ts": 20},
        {"item_id": "new", "event_type": "cart", "ts": 30},
    ]
    merged = merge_recent(stored, incoming)
    assert merged == [
        {"item_id": "new", "event_type": "cart", "ts": 30},
        {"item_id": "same", "event_type": "view", "ts": 20},
        {"item_id": "old", "event_type": "view", "ts": 10},
    ]


def test_merge_caps_the_list_and_drops_the_oldest() -> None:
    stored = [{"item_id": f"s{n}", "event_type": "view", "ts": n} for n in range(40)]
    incoming = [{"item_id": f"n{n}", "event_type": "view", "ts": 100 + n} for n in range(20)]
    merged = merge_recent(stored, incoming)
    assert len(merged) == MAX_RECENT
    assert merged[0]["ts"] == 119 and merged[-1]["ts"] == 10


def test_item_expires_ninety_days_after_the_newest_event() -> None:
    item = activity_item("a", [{"item_id": "x", "event_type": "view", "ts": 500}])
    assert item["expires_at"] == 500 + TTL_SECONDS == 500 + 90 * 86400


def test_folding_chunk_by_chunk_keeps_the_same_events_as_reducing_the_whole_file() -> None:
    events = [(f"u{n % 7}", f"i{n % 13}", "view", 1000 + (n * 37) % 400) for n in range(600)]
    whole = newest_per_user(rows(events))
    kept = None
    for start in range(0, len(events), 90):
        kept = fold_newest(kept, rows(events[start : start + 90]))
    assert kept is not None
    assert group_by_user(kept) == group_by_user(whole)
    assert all(len(recent) <= MAX_RECENT for recent in group_by_user(kept).values())


def test_user_blocks_never_split_a_user_and_cover_every_event() -> None:
    events = [(f"u{n % 5}", f"i{n}", "cart", n) for n in range(40)]
    newest = newest_per_user(rows(events))
    blocks = list(user_blocks(newest, 2))
    users_per_block = [set(block.column("user_id").to_pylist()) for block in blocks]
    assert [len(users) for users in users_per_block] == [2, 2, 1]
    assert set().union(*users_per_block) == {f"u{n}" for n in range(5)}
    assert sum(block.num_rows for block in blocks) == newest.num_rows
