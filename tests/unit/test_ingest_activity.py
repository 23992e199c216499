"""Per-user recent activity: newest first, at most 50, merged without repeats, TTL from the newest event,
stored as one compact JSON string per user."""

from __future__ import annotations

import json
import logging

import pyarrow as pa
import pytest
from shelfwise import settings
from shelfwise.ingest.activity import (
    FORMAT_VERSION,
    MAX_RECENT,
    RecentEvent,
    UnreadableRecent,
    activity_item,
    decode_recent,
    encode_recent,
    fold_newest,
    group_by_user,
    merge_recent,
    newest_per_user,
    stored_recent,
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
    assert [event.ts for event in grouped["a"][:3]] == [1079, 1078, 1077]
    assert grouped["b"] == [RecentEvent("x", "cart", 5)]


def test_merge_with_stored_activity_dedupes_and_keeps_the_newest() -> None:
    stored = [RecentEvent("old", "view", 10), RecentEvent("same", "view", 20)]
    incoming = [
        RecentEvent("same", "view", 20),
        RecentEvent("same", "cart", 20),
        RecentEvent("new", "cart", 30),
    ]
    merged = merge_recent(stored, incoming)
    assert merged == [
        RecentEvent("new", "cart", 30),
        RecentEvent("same", "cart", 20),
        RecentEvent("same", "view", 20),
        RecentEvent("old", "view", 10),
    ]


def test_merge_does_not_depend_on_the_order_files_arrive_in_nor_on_repeats() -> None:
    first = [RecentEvent("b", "view", 20), RecentEvent("a", "view", 20), RecentEvent("a", "cart", 10)]
    second = [RecentEvent("c", "cart", 20), RecentEvent("a", "view", 20)]
    one_way = merge_recent(merge_recent([], first), second)
    assert merge_recent(merge_recent([], second), first) == one_way
    assert merge_recent(one_way, first) == one_way  # the first file delivered again after a crash
    assert one_way == [
        RecentEvent("a", "view", 20),
        RecentEvent("b", "view", 20),
        RecentEvent("c", "cart", 20),
        RecentEvent("a", "cart", 10),
    ]


def test_merge_caps_the_list_and_drops_the_oldest() -> None:
    stored = [RecentEvent(f"s{n}", "view", n) for n in range(40)]
    incoming = [RecentEvent(f"n{n}", "view", 100 + n) for n in range(20)]
    merged = merge_recent(stored, incoming)
    assert len(merged) == MAX_RECENT
    assert merged[0].ts == 119 and merged[-1].ts == 10


def test_item_expires_ninety_days_after_the_newest_event() -> None:
    item = activity_item("a", [RecentEvent("x", "view", 500), RecentEvent("y", "view", 400)])
    assert item["expires_at"] == {"N": str(500 + 90 * 86400)}


def test_a_deployment_configured_retention_sets_the_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.ACTIVITY_RETENTION_DAYS_ENV, "14")
    item = activity_item("a", [RecentEvent("x", "view", 500)])
    assert item["expires_at"] == {"N": str(500 + 14 * 86400)}


def test_the_item_is_one_compact_json_string_of_triples_with_a_format_version() -> None:
    events = [RecentEvent("sku-7", "purchase", 1_761_955_300), RecentEvent("sku-2", "view", 1_761_955_200)]
    item = activity_item("u1", events)
    assert item == {
        "user_id": {"S": "u1"},
        "recent": {"S": '[["sku-7","purchase",1761955300],["sku-2","view",1761955200]]'},
        "format_version": {"N": str(FORMAT_VERSION)},
        "expires_at": {"N": str(1_761_955_300 + 90 * 86400)},
    }


def test_encode_and_decode_round_trip_keeps_order_and_unusual_ids() -> None:
    events = [
        RecentEvent('sku "quoted", with comma', "rating", 1_800_000_000),
        RecentEvent("café-ü", "cart", 1_700_000_000),
        RecentEvent("[x]", "view", 0),
    ]
    assert decode_recent(encode_recent(events)) == events
    assert decode_recent(encode_recent([])) == []
    assert "café-ü" in encode_recent(events)  # stored as UTF-8, not escaped


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "",
        '{"item_id": "x"}',
        '[{"item_id": "x", "event_type": "view", "ts": 1}]',
        '[["x", "view"]]',
        '[["x", "view", "1700000000"]]',
        '[["x", "view", 1.5]]',
        '[["x", "view", true]]',
        '[["x", 3, 1]]',
    ],
)
def test_decode_rejects_anything_but_a_list_of_triples(text: str) -> None:
    with pytest.raises(UnreadableRecent):
        decode_recent(text)


def typed(events: list[RecentEvent], *, version: int = FORMAT_VERSION) -> dict[str, dict[str, str]]:
    return {
        "user_id": {"S": "u1"},
        "recent": {"S": encode_recent(events)},
        "format_version": {"N": str(version)},
    }


def test_merge_with_a_stored_item_in_the_stored_format() -> None:
    stored = typed([RecentEvent("b", "view", 20), RecentEvent("a", "view", 10)])
    incoming = [RecentEvent("c", "cart", 30), RecentEvent("b", "view", 20)]
    merged = merge_recent(stored_recent(stored), incoming)
    assert merged == [
        RecentEvent("c", "cart", 30),
        RecentEvent("b", "view", 20),
        RecentEvent("a", "view", 10),
    ]
    assert json.loads(activity_item("u1", merged)["recent"]["S"]) == [
        ["c", "cart", 30],
        ["b", "view", 20],
        ["a", "view", 10],
    ]


def test_a_user_without_a_stored_item_has_no_stored_events() -> None:
    assert stored_recent(None) == []


@pytest.mark.parametrize(
    "item",
    [
        {"user_id": {"S": "u1"}, "recent": {"S": '[["a","view"'}, "format_version": {"N": "1"}},
        {"user_id": {"S": "u1"}, "recent": {"S": '[["a","view",1]]'}, "format_version": {"N": "7"}},
        {"user_id": {"S": "u1"}, "recent": {"S": '[["a","view",1]]'}},
        {
            "user_id": {"S": "u1"},
            "recent": {"L": [{"M": {"item_id": {"S": "a"}}}]},
            "format_version": {"N": "1"},
        },
    ],
    ids=["truncated-json", "other-version", "no-version", "list-of-maps"],
)
def test_an_unreadable_stored_item_counts_as_empty_and_is_logged(
    item: dict[str, dict[str, object]], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        events = stored_recent(item)
    assert events == []
    assert "unreadable user activity" in caplog.text
    incoming = [RecentEvent("new", "cart", 30)]
    assert merge_recent(events, incoming) == incoming


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
