"""What the finalize step gathered from the shards' outputs.

Its own module so the run summary (`run_summary`) and the report input (`report_input`) can read what was
collected without importing `finalize`, which imports them.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

import pyarrow as pa

from shelfwise.forecast.schema import FORECAST_SCHEMA

Key = tuple[str, str]


class Collected:
    """What the shards produced, and what is known about the series of the shards that failed."""

    def __init__(self) -> None:
        self.forecasts: pa.Table = FORECAST_SCHEMA.empty_table()
        self.series: dict[Key, dict[str, Any]] = {}  # per-series summary rows of successful shards
        self.failed: dict[Key, str] = {}  # series of failed shards -> why
        self.failed_shards: list[dict[str, Any]] = []
        self.history: pa.Table = pa.table({})
        self.all_series: set[Key] = set()
        self.promo_days: dict[Key, set[date]] = defaultdict(set)  # planned promotion days in the horizon
