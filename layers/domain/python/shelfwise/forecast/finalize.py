"""Finalize step: collect the shards' forecasts, make the replenishment plan, store and announce it.

Writes (keys in `shelfwise.forecast.layout`): the run's forecasts under `forecasts/daily/<plan_date>/`, the
plan as CSV and Parquet, the HTML report and `summary.json` under `plans/<plan_date>/`, forecast and plan
items in DynamoDB, then `plans/latest.json` and the `latest` pointer item, and finally publishes
`ReplenishmentPlanReady`. The pointer moves only after everything it points at is written.

Nothing goes silently missing: every series of the run's sales and every inventory row is a plan line. A
series whose shard failed after its retries gets a line "no forecast: shard N failed: ..." and is listed in
the summary's `failed_shards`; the run itself still succeeds, so one bad shard never costs the whole plan.

The summary's content is decided in `run_summary` and the report's plots in `report_input`; this module
collects, plans, persists and announces.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from botocore.exceptions import ClientError

from shelfwise.aws import events, s3
from shelfwise.curated import read_curated, read_inventory_in_arrival_order, table_to_parquet_bytes
from shelfwise.forecast import layout, store
from shelfwise.forecast.accuracy import daily_actuals, score_previous_runs
from shelfwise.forecast.collected import Collected, Key
from shelfwise.forecast.plan_export import plan_xlsx
from shelfwise.forecast.planning import read_parquet, series_id_column
from shelfwise.forecast.replenishment import PLAN_SCHEMA, ReplenishmentConfig, plan_replenishment
from shelfwise.forecast.report import render_report
from shelfwise.forecast.report_input import build_report_input
from shelfwise.forecast.run_summary import build_summary
from shelfwise.forecast.schema import FORECAST_SCHEMA
from shelfwise.forecast.sharding import split_series_id
from shelfwise.forecast.workflow import FinalizeStep, PlanOutput

PLAN_READY_EVENT = "ReplenishmentPlanReady"
# XYZ needs 26 weeks of history; the accuracy of runs older than that is no longer worth re-scoring.
HISTORY_DAYS = 26 * 7
MAX_ACCURACY_RUNS = 8
MAX_ERROR_CHARS = 300


def finalize_run(
    step: FinalizeStep,
    *,
    bucket: str,
    forecasts_table: str,
    plans_table: str,
    event_bus: str,
    replenishment: ReplenishmentConfig | None = None,
    currency: str = "EUR",
    s3_client: s3.S3Client | None = None,
    events_client: events.EventsClient | None = None,
) -> dict[str, Any]:
    client = s3_client or s3.client()
    plan = step.plan
    collected = _collect(step, bucket, client)
    titles = catalog_titles(read_curated("catalog", bucket=bucket, s3_client=client))
    inventory = read_inventory_in_arrival_order(bucket=bucket, s3_client=client)
    history = collected.history.filter(
        pc.less_equal(collected.history.column("date"), pa.scalar(plan.as_of, pa.date32()))
    )
    result = plan_replenishment(inventory, collected.forecasts, history, replenishment, titles)
    rows = _explained_rows(result.plan.to_pylist(), collected, titles)
    plan_table = pa.Table.from_pylist(rows, schema=PLAN_SCHEMA)
    accuracy = _accuracy(plan, collected, history, bucket, client)
    summary = build_summary(step, collected, inventory, result.issues, rows, accuracy, bucket, currency)
    applied = replenishment or ReplenishmentConfig()
    # The settings this plan was made with, so a reader can tell a configured cap from a default one.
    summary["settings"] = {
        "horizon": plan.horizon,
        "currency": currency,
        "max_days_of_supply": applied.max_days_of_supply,
        "review_period_days": applied.review_period_days,
        "service_levels": dict(applied.service_levels),
    }

    _put(
        bucket,
        layout.daily_forecasts_key(plan.plan_date),
        table_to_parquet_bytes(collected.forecasts),
        client,
    )
    csv_buffer = io.BytesIO()
    pa_csv.write_csv(plan_table, csv_buffer)
    _put(bucket, layout.plan_key(plan.plan_date, "plan.csv"), csv_buffer.getvalue(), client, "text/csv")
    _put(
        bucket,
        layout.plan_key(plan.plan_date, "plan.xlsx"),
        plan_xlsx(rows, summary["plan"], plan.plan_date, currency),
        client,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    _put(bucket, layout.plan_key(plan.plan_date, "plan.parquet"), table_to_parquet_bytes(plan_table), client)
    store.write_forecasts(forecasts_table, _forecast_items(plan, collected, titles))
    store.write_plan(plans_table, plan.plan_date, rows, plan.run_id)
    store.write_plan_totals(plans_table, plan.plan_date, summary["plan"], plan.run_id)
    report = render_report(build_report_input(plan, collected, rows, summary, accuracy, inventory))
    _put(
        bucket,
        layout.plan_key(plan.plan_date, "report.html"),
        report.encode(),
        client,
        "text/html; charset=utf-8",
    )
    summary_bytes = json.dumps(summary, indent=1, default=str).encode()
    _put(bucket, layout.plan_key(plan.plan_date, "summary.json"), summary_bytes, client, "application/json")
    latest = {"plan_date": plan.plan_date.isoformat(), "as_of": plan.as_of.isoformat(), "run_id": plan.run_id}
    _put(bucket, layout.LATEST_PLAN_KEY, json.dumps(latest).encode(), client, "application/json")
    store.mark_latest(plans_table, plan.plan_date, plan.run_id)
    events.publish(PLAN_READY_EVENT, _event_detail(summary), bus_name=event_bus, events_client=events_client)
    return summary


def _collect(step: FinalizeStep, bucket: str, client: s3.S3Client) -> Collected:
    plan = step.plan
    outcomes = {outcome.shard.index: outcome for outcome in step.results}
    collected = Collected()
    forecasts, histories = [], []
    since = plan.as_of - timedelta(days=HISTORY_DAYS - 1)
    for shard in plan.shards:
        sales = read_parquet(
            bucket,
            layout.shard_input_key(plan.run_id, shard.index),
            s3_client=client,
            columns=["sku", "location", "date", "units", "promo"],
        )
        keys = {split_series_id(uid) for uid in pc.unique(series_id_column(sales)).to_pylist()}
        if shard.promo_days:
            _collect_promo_days(plan.run_id, shard.index, bucket, client, collected)
        collected.all_series |= keys
        histories.append(sales.filter(pc.greater_equal(sales.column("date"), pa.scalar(since, pa.date32()))))
        outcome = outcomes.get(shard.index)
        error = "the orchestrator returned no result for this shard" if outcome is None else outcome.error
        if error is None:
            try:
                forecasts.append(
                    read_parquet(bucket, layout.shard_output_key(plan.run_id, shard.index), s3_client=client)
                )
                summary = read_parquet(
                    bucket, layout.shard_summary_key(plan.run_id, shard.index), s3_client=client
                )
            except (ClientError, pa.ArrowException) as problem:
                error = f"its output could not be read: {problem}"
            else:
                for row in summary.to_pylist():
                    collected.series[split_series_id(row["unique_id"])] = row
                continue
        message = " ".join(str(error).split())[:MAX_ERROR_CHARS]
        collected.failed_shards.append({"shard": shard.index, "series": len(keys), "error": message})
        collected.failed.update(dict.fromkeys(keys, f"shard {shard.index} failed: {message}"))
    if forecasts:
        collected.forecasts = pa.concat_tables([t.cast(FORECAST_SCHEMA) for t in forecasts])
    collected.history = (
        pa.concat_tables(histories)
        if histories
        else pa.table(
            {
                "sku": pa.array([], pa.string()),
                "location": pa.array([], pa.string()),
                "date": pa.array([], pa.date32()),
                "units": pa.array([], pa.float64()),
                "promo": pa.array([], pa.bool_()),
            }
        )
    )
    return collected


def _collect_promo_days(run_id: str, index: int, bucket: str, client: s3.S3Client, into: Collected) -> None:
    """The shard's planned promotion days, to flag forecast points; unreadable ones only lose the flags."""
    try:
        days = read_parquet(bucket, layout.shard_promotions_key(run_id, index), s3_client=client)
    except (ClientError, pa.ArrowException):
        return
    for sku, location, day in zip(
        days["sku"].to_pylist(), days["location"].to_pylist(), days["date"].to_pylist(), strict=True
    ):
        into.promo_days[(sku, location)].add(day)


def catalog_titles(catalog: pa.Table) -> dict[str, str]:
    """Catalog item_id -> title (a later row wins, as in the contract); items without a title are left out."""
    if catalog.num_rows == 0 or "title" not in catalog.column_names:
        return {}
    pairs = zip(catalog.column("item_id").to_pylist(), catalog.column("title").to_pylist(), strict=True)
    return {str(item): str(title) for item, title in pairs if title}


def _explained_rows(
    rows: list[dict[str, Any]], collected: Collected, titles: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Plan lines with the reasons only the run knows, plus lines for series the plan never saw."""
    by_key = {(row["sku"], row["location"]): row for row in rows}
    for key in collected.all_series - set(by_key):
        by_key[key] = dict.fromkeys(PLAN_SCHEMA.names) | {
            "sku": key[0],
            "location": key[1],
            "title": titles.get(key[0]),
        }
    figures = [name for name in PLAN_SCHEMA.names if name not in ("sku", "location", "title", "reason")]
    for key, row in by_key.items():
        if key in collected.failed:
            row.update(dict.fromkeys(figures))
            row["reason"] = f"no forecast: {collected.failed[key]}"
        elif collected.series.get(key, {}).get("demand_class") == "no_history":
            row["reason"] = "no forecast: every sales row is dated after the as-of date"
    return [by_key[key] for key in sorted(by_key)]


def _accuracy(
    plan: PlanOutput, collected: Collected, history: pa.Table, bucket: str, client: s3.S3Client
) -> list[dict[str, Any]]:
    earliest = plan.as_of - timedelta(days=HISTORY_DAYS - 1)
    previous: dict[date, pa.Table] = {}
    candidates = sorted(
        (
            (plan_date, key)
            for key in s3.list_keys(bucket, layout.DAILY_PREFIX, s3_client=client)
            if (plan_date := layout.plan_date_from_daily_key(key)) and earliest <= plan_date <= plan.as_of
        ),
        reverse=True,
    )[:MAX_ACCURACY_RUNS]
    for plan_date, key in candidates:
        previous[plan_date] = read_parquet(bucket, key, s3_client=client)
    if not previous or history.num_rows == 0:
        return []
    known = pa.array(sorted(f"{sku}|{location}" for sku, location in collected.series), pa.string())
    scored = score_previous_runs(previous, daily_actuals(history), plan.as_of, known)
    return [entry.as_dict() for entry in scored]


def _forecast_items(
    plan: PlanOutput, collected: Collected, titles: Mapping[str, str]
) -> Iterable[dict[str, Any]]:
    columns = collected.forecasts.sort_by([("unique_id", "ascending"), ("ds", "ascending")]).to_pydict()
    points: dict[Key, list[tuple[Any, ...]]] = defaultdict(list)
    models: dict[Key, str] = {}
    for sku, location, ds, mean, lo95, lo80, hi80, hi95, model, expected in zip(
        columns["sku"],
        columns["location"],
        columns["ds"],
        columns["mean"],
        columns["lo_95"],
        columns["lo_80"],
        columns["hi_80"],
        columns["hi_95"],
        columns["model"],
        columns["expected"],
        strict=True,
    ):
        promo = ds in collected.promo_days.get((sku, location), ())
        points[(sku, location)].append((ds, mean, lo80, hi80, lo95, hi95, promo, expected))
        models[(sku, location)] = model
    for key, series_points in points.items():
        yield store.forecast_item(
            key[0],
            key[1],
            series_points,
            model=models[key],
            demand_class=collected.series.get(key, {}).get("demand_class"),
            title=titles.get(key[0]),
            plan_date=plan.plan_date,
            as_of=plan.as_of,
            run_id=plan.run_id,
        )


def _event_detail(summary: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "plan_date": summary["plan_date"],
        "as_of": summary["as_of"],
        "run_id": summary["run_id"],
        "lines": summary["plan"]["lines"],
        "lines_needing_order": summary["plan"]["needing_order"],
        "order_units": summary["plan"]["order_units"],
        "failed_shards": len(summary["failed_shards"]),
        "files": summary["files"],
    }


def _put(
    bucket: str, key: str, body: bytes, client: s3.S3Client, content_type: str = "application/octet-stream"
) -> None:
    s3.put_bytes(bucket, key, body, content_type=content_type, s3_client=client)
