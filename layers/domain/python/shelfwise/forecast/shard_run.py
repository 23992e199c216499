"""Shard step: one shard's sales slice (and planned promotion days) -> `forecast_shard` -> forecasts and
per-series summary in S3.

Imports pandas and statsforecast (through `engine`): only the container-image forecast function runs it.
A failure raises, so the orchestrator retries the shard and, once retries are spent, hands finalize a
`{"shard", "error"}` entry instead of the result.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

import pandas as pd
import pyarrow as pa

from shelfwise.aws import s3
from shelfwise.curated import table_to_parquet_bytes
from shelfwise.forecast import layout
from shelfwise.forecast.config import ForecastConfig
from shelfwise.forecast.engine import forecast_shard, forecasts_to_arrow
from shelfwise.forecast.planning import read_parquet
from shelfwise.forecast.workflow import Shard, ShardOutcome

# The per-series summary as stored: what finalize, the report and the API need to explain a forecast.
SUMMARY_SCHEMA = pa.schema(
    [
        pa.field("unique_id", pa.string()),
        pa.field("first_date", pa.date32()),
        pa.field("last_date", pa.date32()),
        pa.field("n_days", pa.int64()),
        pa.field("gap_days_filled", pa.int64()),
        pa.field("negative_days_clipped", pa.int64()),
        pa.field("duplicate_rows_merged", pa.int64()),
        pa.field("missing_units_as_zero", pa.int64()),
        pa.field("rows_after_end_date", pa.int64()),
        pa.field("demand_class", pa.string()),
        pa.field("model", pa.string()),
        pa.field("treatment", pa.string()),
        pa.field("cv_mase", pa.float64()),
        pa.field("future_promo_days", pa.int64()),
        pa.field("closed_days", pa.int64()),
    ]
)


def run_shard(
    run_id: str,
    shard: Shard,
    *,
    bucket: str,
    config: ForecastConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
    s3_client: s3.S3Client | None = None,
) -> ShardOutcome:
    client = s3_client or s3.client()
    sales = read_parquet(bucket, layout.shard_input_key(run_id, shard.index), s3_client=client)
    config = config or ForecastConfig(horizon=shard.horizon, end_date=shard.as_of)
    # No calendar at all: None (recent promotion rates expected); a calendar without days here: empty.
    future_promo = (
        pd.DataFrame(columns=["sku", "location", "date", "promo"]) if shard.promotion_calendar else None
    )
    if shard.promo_days:
        days = read_parquet(bucket, layout.shard_promotions_key(run_id, shard.index), s3_client=client)
        future_promo = days.to_pandas().assign(promo=True)
    forecasts, summary = forecast_shard(sales, config, future_promo=future_promo, progress=progress)
    stored = forecasts_to_arrow(forecasts)
    s3.put_bytes(
        bucket, layout.shard_output_key(run_id, shard.index), table_to_parquet_bytes(stored), s3_client=client
    )
    s3.put_bytes(
        bucket,
        layout.shard_summary_key(run_id, shard.index),
        table_to_parquet_bytes(summary_to_arrow(summary)),
        s3_client=client,
    )
    models = summary["model"].fillna("none").value_counts()
    return ShardOutcome(
        shard=shard,
        series=len(summary),
        forecast_rows=stored.num_rows,
        models={str(name): int(count) for name, count in models.items()},
    )


def summary_to_arrow(summary: pd.DataFrame) -> pa.Table:
    columns = {}
    for field in SUMMARY_SCHEMA:
        values = summary[field.name] if field.name in summary.columns else pd.Series([None] * len(summary))
        if pa.types.is_integer(field.type):
            values = pd.to_numeric(values, errors="coerce").fillna(0).astype("int64")
        elif pa.types.is_date(field.type):
            values = [_as_date(value) for value in values]
        elif pa.types.is_floating(field.type):
            values = pd.to_numeric(values, errors="coerce").astype(float)
        else:
            values = [None if _missing(value) else str(value) for value in values]
        columns[field.name] = pa.array(values, field.type, from_pandas=True)
    return pa.table(columns, schema=SUMMARY_SCHEMA)


def _as_date(value: object) -> date | None:
    if isinstance(value, datetime):
        return None if pd.isna(value) else value.date()
    return value if isinstance(value, date) else None


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)
