"""The forecast table as stored and served; pyarrow only, so zip functions (plan, API) can read it."""

from __future__ import annotations

import pyarrow as pa

FORECAST_SCHEMA = pa.schema(
    [
        pa.field("unique_id", pa.string()),
        pa.field("sku", pa.string()),
        pa.field("location", pa.string()),
        pa.field("ds", pa.date32()),
        # The point forecast: the median of the day's demand where the distribution is skewed (a promotion
        # that may or may not happen, a store that may be closed), the level an absolute error rewards.
        pa.field("mean", pa.float64()),
        pa.field("lo_95", pa.float64()),
        pa.field("lo_80", pa.float64()),
        pa.field("hi_80", pa.float64()),
        pa.field("hi_95", pa.float64()),
        pa.field("model", pa.string()),
        # The day's expected demand (its probability-weighted mean), what sums over days and plans stock.
        pa.field("expected", pa.float64()),
    ]
)
FORECAST_COLUMNS = tuple(FORECAST_SCHEMA.names)


def expected_column(forecasts: pa.Table) -> str:
    """The column holding a day's expected demand: `expected`, or the point forecast `mean` in forecast
    tables stored before expected demand was kept."""
    return "expected" if "expected" in forecasts.column_names else "mean"
