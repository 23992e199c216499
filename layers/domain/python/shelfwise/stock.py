"""Which items are out of stock, published for the recommendations API.

Ingesting an inventory file recomputes the list from the curated stock positions (the newest row per SKU and
location, `curated.read_stock_positions`) and writes it to one small JSON object. The recommendations
function reads that object through `OutOfStock`, at most every `SHELFWISE_STOCK_REFRESH_SECONDS` (default
60), so a stock file changes what shoppers are offered within a minute, without retraining. An item is out
of stock when every location that reports it has nothing on hand; an item no inventory file mentions counts
as available, because a catalog may sell items (drop-shipped, digital) that the warehouse files do not track.
Inventory SKUs are catalog item ids.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pyarrow as pa
from aws_lambda_powertools import Logger

from shelfwise import curated
from shelfwise.aws import s3

OUT_OF_STOCK_KEY = "serving/out-of-stock.json"
REFRESH_SECONDS_ENV = "SHELFWISE_STOCK_REFRESH_SECONDS"
DEFAULT_REFRESH_SECONDS = 60.0

# A child of the function's Powertools Logger: JSON records with its correlation id (no handler of its own).
logger = Logger(child=True)


def out_of_stock_skus(positions: pa.Table) -> list[str]:
    """SKUs whose on-hand units add up to nothing over every location that reports them."""
    if positions.num_rows == 0:
        return []
    totals = positions.group_by("sku", use_threads=False).aggregate([("on_hand", "sum")])
    return sorted(
        sku
        for sku, on_hand in zip(
            totals.column("sku").to_pylist(), totals.column("on_hand_sum").to_pylist(), strict=True
        )
        if not on_hand or on_hand <= 0
    )


def publish_out_of_stock(
    bucket: str,
    *,
    s3_client: s3.S3Client | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[str]:
    """Recompute the out-of-stock list from every curated stock position and publish it; returns the list."""
    client = s3_client or s3.client()
    positions = curated.read_stock_positions(bucket=bucket, s3_client=client)
    skus = out_of_stock_skus(positions)
    body = {
        "updated_at": clock().isoformat(),
        "skus_tracked": len(set(positions.column("sku").to_pylist())),
        "out_of_stock": skus,
    }
    s3.put_bytes(
        bucket, OUT_OF_STOCK_KEY, json.dumps(body).encode(), content_type="application/json", s3_client=client
    )
    return skus


def refresh_seconds_from_env() -> float:
    raw = os.environ.get(REFRESH_SECONDS_ENV)
    try:
        value = float(raw) if raw else DEFAULT_REFRESH_SECONDS
    except ValueError:
        raise ValueError(f"{REFRESH_SECONDS_ENV} must be a number of seconds, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{REFRESH_SECONDS_ENV} must be >= 0")
    return value


class OutOfStock:
    """The published out-of-stock item ids, re-read at most every `refresh_seconds`.

    No list yet means nothing is known to be out of stock. A list that cannot be read or parsed keeps the last
    good one (and is logged): hiding every item, or none, because of one bad read would be worse.
    """

    def __init__(
        self,
        bucket: str,
        *,
        refresh_seconds: float | None = None,
        s3_client: s3.S3Client | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bucket = bucket
        self._refresh_seconds = refresh_seconds_from_env() if refresh_seconds is None else refresh_seconds
        self._s3_client = s3_client
        self._clock = clock
        self._items: frozenset[str] = frozenset()
        self._read_at: float | None = None

    def items(self) -> frozenset[str]:
        now = self._clock()
        if self._read_at is None or now - self._read_at >= self._refresh_seconds:
            self._read_at = now
            self._items = self._read()
        return self._items

    def _read(self) -> frozenset[str]:
        try:
            body = s3.get_bytes_if_exists(self._bucket, OUT_OF_STOCK_KEY, s3_client=self._s3_client)
            if body is None:
                return frozenset()
            listed = json.loads(body)["out_of_stock"]
            if not isinstance(listed, list):
                raise TypeError("out_of_stock is not a list")
            return frozenset(str(item) for item in listed)
        except Exception:  # a bad read must not take recommendations down; the last good list stays
            logger.exception("could not read the out-of-stock list; keeping the previous one")
            return self._items
