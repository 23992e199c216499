"""Splitting a catalog of series into shards; one forecast Lambda invocation handles one shard."""

from __future__ import annotations

from collections.abc import Iterable


def series_id(sku: str, location: str) -> str:
    return f"{sku}|{location}"


def split_series_id(unique_id: str) -> tuple[str, str]:
    sku, _, location = unique_id.rpartition("|")
    return (sku, location) if sku else (unique_id, "")


def shard_ids(unique_ids: Iterable[str], shard_size: int) -> list[list[str]]:
    """Sorted, de-duplicated ids in shards of at most `shard_size`, so reruns shard identically."""
    if shard_size < 1:
        raise ValueError("shard_size must be at least 1")
    ordered = sorted(set(unique_ids))
    return [ordered[start : start + shard_size] for start in range(0, len(ordered), shard_size)]
