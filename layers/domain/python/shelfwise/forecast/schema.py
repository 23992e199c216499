"""The forecast table as stored and served; pyarrow only, so zip functions (plan, API) can read it."""

from __future__ import annotations

import pyarrow as pa

FORECAST_SCHEMA = pa.schema(
    [
        pa.field("unique_id", pa.string()),
        pa.field("sku", pa.string()),
        pa.field("location", pa.string()),
        pa.field("ds", pa.date32()),
        pa.field("mean", pa.float64()),
        pa.field("lo_95", pa.float64()),
        pa.field("lo_80", pa.float64()),
        pa.field("hi_80", pa.float64()),
        pa.field("hi_95", pa.float64()),
        pa.field("model", pa.string()),
    ]
)
FORECAST_COLUMNS = tuple(FORECAST_SCHEMA.names)
