"""Plan step: curated sales -> series ids -> shard input files (pyarrow only).

Each shard's input is written once under `forecasts/runs/<run_id>/input/`, so a shard invocation reads only
its own slice and the orchestrator's payloads carry indices, not data. The input files are also the run's
snapshot of the sales it used: finalize reads its history from them, so data landing mid-run cannot make
the plan disagree with the forecasts.

Planned promotions (curated `promotions`) become the promotion days of each series in the horizon, written
beside the shard's sales as `shard-NNNN.promotions.parquet` (sku, location, date); a campaign without a
location applies to every location the SKU sells at, overlapping campaigns mark a day once, and campaigns
for SKUs or locations without sales are counted in the run's data issues instead of vanishing.
"""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from shelfwise.aws import s3
from shelfwise.curated import read_curated, table_to_parquet_bytes
from shelfwise.forecast import layout
from shelfwise.forecast.sharding import series_id, shard_ids, split_series_id
from shelfwise.forecast.workflow import PlanOutput, RunSettings, Shard

SHARD_INPUT_COLUMNS = ("sku", "location", "date", "units", "promo")
PROMOTION_DAY_SCHEMA = pa.schema(
    [pa.field("sku", pa.string()), pa.field("location", pa.string()), pa.field("date", pa.date32())]
)
MAX_ISSUE_EXAMPLES = 20
REJECTED_SALES_PREFIX = "rejected/sales/"
SERIES_SEPARATOR = "|"  # as `sharding.series_id`


def series_id_column(table: pa.Table) -> pa.ChunkedArray:
    return pc.binary_join_element_wise(
        pc.cast(table.column("sku"), pa.string()),
        pc.cast(table.column("location"), pa.string()),
        SERIES_SEPARATOR,
    )


def plan_run(
    run_id: str,
    settings: RunSettings,
    *,
    bucket: str,
    now: datetime | None = None,
    s3_client: s3.S3Client | None = None,
) -> PlanOutput:
    client = s3_client or s3.client()
    sales = read_curated("sales", bucket=bucket, s3_client=client).select(list(SHARD_INPUT_COLUMNS))
    as_of = settings.as_of or _latest_sales_date(sales, now)
    issues: dict[str, object] = {}
    late_rows = int(pc.sum(pc.greater(sales.column("date"), pa.scalar(as_of, pa.date32()))).as_py() or 0)
    if late_rows:
        issues["rows_after_as_of"] = late_rows
    rejected = rejected_sales_rows(bucket, s3_client=client)
    if rejected:
        issues["rejected_at_ingestion"] = rejected

    ids = series_id_column(sales)
    encoded = ids.combine_chunks().dictionary_encode() if sales.num_rows else None
    dictionary = encoded.dictionary.to_pylist() if encoded is not None else []
    groups = shard_ids(dictionary, settings.shard_size)
    promotions = read_curated("promotions", bucket=bucket, s3_client=client)
    promo_days, unknown = future_promotion_days(
        promotions, (split_series_id(uid) for uid in dictionary), as_of, settings.horizon
    )
    if unknown:
        issues["promotions_for_unknown_series"] = unknown
    shard_of_id = {unique_id: index for index, group in enumerate(groups) for unique_id in group}
    shards: list[Shard] = []
    if encoded is not None:
        shard_of_entry = pa.array([shard_of_id[unique_id] for unique_id in dictionary], pa.int32())
        row_shard = pc.take(shard_of_entry, encoded.indices)
        order = pc.sort_indices(row_shard)
        ordered = sales.take(order)
        counts = np.bincount(row_shard.to_numpy(zero_copy_only=False), minlength=len(groups))
        start = 0
        for index, group in enumerate(groups):
            rows = ordered.slice(start, int(counts[index]))
            start += int(counts[index])
            s3.put_bytes(
                bucket,
                layout.shard_input_key(run_id, index),
                table_to_parquet_bytes(rows.sort_by([("sku", "ascending"), ("location", "ascending")])),
                s3_client=client,
            )
            days = _days_of(promo_days, group)
            if days.num_rows:
                s3.put_bytes(
                    bucket,
                    layout.shard_promotions_key(run_id, index),
                    table_to_parquet_bytes(days),
                    s3_client=client,
                )
            shards.append(
                Shard(
                    index=index,
                    series=len(group),
                    horizon=settings.horizon,
                    as_of=as_of,
                    promo_days=days.num_rows,
                    promotion_calendar=promotions.num_rows > 0,
                )
            )
    return PlanOutput(
        run_id=run_id,
        plan_date=as_of + timedelta(days=1),
        as_of=as_of,
        horizon=settings.horizon,
        shard_size=settings.shard_size,
        series=len(dictionary),
        sales_rows=sales.num_rows,
        shards=shards,
        report_max_plots=settings.report_max_plots,
        issues=issues,
    )


def future_promotion_days(
    promotions: pa.Table, series: Iterable[tuple[str, str]], as_of: date, horizon: int
) -> tuple[dict[str, list[date]], dict[str, object]]:
    """Promotion days in the horizon per series id, and the campaigns no series can take (as a data issue).

    Only campaigns overlapping the horizon (the `horizon` days after `as_of`) matter; a campaign without a
    location applies to every location of its SKU."""
    first, last = as_of + timedelta(days=1), as_of + timedelta(days=horizon)
    locations_of: dict[str, set[str]] = defaultdict(set)
    for sku, location in series:
        locations_of[sku].add(location)
    days: dict[str, set[date]] = defaultdict(set)
    unknown: Counter[str] = Counter()
    rows = promotions.select(["sku", "location", "start_date", "end_date"]).to_pylist()
    for row in rows:
        start, end = max(row["start_date"], first), min(row["end_date"], last)
        if start > end:
            continue
        sku, location = row["sku"], row["location"]
        if location is None:
            targets = sorted(locations_of.get(sku, ()))
        else:
            targets = [location] if location in locations_of.get(sku, ()) else []
        if not targets:
            unknown[sku if location is None else f"{sku}@{location}"] += 1
            continue
        span = [start + timedelta(days=n) for n in range((end - start).days + 1)]
        for target in targets:
            days[series_id(sku, target)].update(span)
    issue: dict[str, object] = {}
    if unknown:
        issue = {
            "count": sum(unknown.values()),
            "examples": sorted(unknown)[:MAX_ISSUE_EXAMPLES],
            "note": "planned promotions in the horizon for a SKU or location without sales; not applied",
        }
    return {uid: sorted(found) for uid, found in days.items()}, issue


def _days_of(promo_days: dict[str, list[date]], group: Iterable[str]) -> pa.Table:
    keys, dates = [], []
    for unique_id in group:
        for day in promo_days.get(unique_id, ()):
            keys.append(split_series_id(unique_id))
            dates.append(day)
    return pa.table(
        {
            "sku": pa.array([key[0] for key in keys], pa.string()),
            "location": pa.array([key[1] for key in keys], pa.string()),
            "date": pa.array(dates, pa.date32()),
        },
        schema=PROMOTION_DAY_SCHEMA,
    )


def _latest_sales_date(sales: pa.Table, now: datetime | None) -> date:
    latest = pc.max(sales.column("date")).as_py() if sales.num_rows else None
    if latest is not None:
        return latest
    # Nothing sold yet: the plan is still made (inventory lines say why nothing is forecast).
    return ((now or datetime.now().astimezone()).date()) - timedelta(days=1)


def rejected_sales_rows(bucket: str, *, s3_client: s3.S3Client | None = None) -> dict[str, object]:
    """Rows ingestion refused in sales files (negative or non-numeric units...), by field and reason.

    They never reach the curated data, so the run reports them rather than letting those days look like
    ordinary zero-sales days without explanation."""
    client = s3_client or s3.client()
    reasons: Counter[str] = Counter()
    lines: set[tuple[str, int]] = set()
    files = 0
    for key in s3.list_keys(bucket, REJECTED_SALES_PREFIX, s3_client=client):
        if not key.endswith(".csv"):
            continue
        files += 1
        options = pa_csv.ConvertOptions(column_types={"line": pa.int64(), "field": pa.string()})
        report = pa_csv.read_csv(
            io.BytesIO(s3.get_bytes(bucket, key, s3_client=client)), convert_options=options
        )
        for line, field, reason in zip(
            report.column("line").to_pylist(),
            report.column("field").to_pylist(),
            report.column("reason").to_pylist(),
            strict=True,
        ):
            reasons[f"{field}: {reason}"] += 1
            lines.add((key, int(line)))
    if not files:
        return {}
    return {"files": files, "rows": len(lines), "problems": dict(reasons.most_common(20))}


def read_parquet(
    bucket: str, key: str, *, s3_client: s3.S3Client | None = None, **kwargs: object
) -> pa.Table:
    return pq.read_table(io.BytesIO(s3.get_bytes(bucket, key, s3_client=s3_client)), **kwargs)
