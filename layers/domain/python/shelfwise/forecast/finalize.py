"""Finalize step: collect the shards' forecasts, make the replenishment plan, store and announce it.

Writes (keys in `shelfwise.forecast.layout`): the run's forecasts under `forecasts/daily/<plan_date>/`, the
plan as CSV and Parquet, the HTML report and `summary.json` under `plans/<plan_date>/`, forecast and plan
items in DynamoDB, then `plans/latest.json` and the `latest` pointer item, and finally publishes
`ReplenishmentPlanReady`. The pointer moves only after everything it points at is written.

Nothing goes silently missing: every series of the run's sales and every inventory row is a plan line. A
series whose shard failed after its retries gets a line "no forecast: shard N failed: ..." and is listed in
the summary's `failed_shards`; the run itself still succeeds, so one bad shard never costs the whole plan.
"""

from __future__ import annotations

import io
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from botocore.exceptions import ClientError

from shelfwise.aws import events, s3
from shelfwise.curated import read_curated, table_to_parquet_bytes
from shelfwise.forecast import layout, store
from shelfwise.forecast.accuracy import daily_actuals, score_previous_runs
from shelfwise.forecast.planning import read_parquet, series_id_column
from shelfwise.forecast.replenishment import PLAN_SCHEMA, ReplenishmentConfig, plan_replenishment
from shelfwise.forecast.report import ReportInput, SeriesPlot, render_report, select_plots
from shelfwise.forecast.schema import FORECAST_SCHEMA
from shelfwise.forecast.sharding import split_series_id
from shelfwise.forecast.workflow import FinalizeStep, PlanOutput

PLAN_READY_EVENT = "ReplenishmentPlanReady"
# XYZ needs 26 weeks of history; the accuracy of runs older than that is no longer worth re-scoring.
HISTORY_DAYS = 26 * 7
MAX_ACCURACY_RUNS = 8
LARGEST_SERIES_PLOTTED = 6
PLOT_HISTORY_DAYS = 56
MAX_EXAMPLES = 20
MAX_ERROR_CHARS = 300

Key = tuple[str, str]


def finalize_run(
    step: FinalizeStep,
    *,
    bucket: str,
    forecasts_table: str,
    plans_table: str,
    event_bus: str,
    replenishment: ReplenishmentConfig | None = None,
    s3_client: s3.S3Client | None = None,
    events_client: events.EventsClient | None = None,
) -> dict[str, Any]:
    client = s3_client or s3.client()
    plan = step.plan
    collected = _collect(step, bucket, client)
    inventory = read_curated("inventory", bucket=bucket, s3_client=client)
    history = collected.history.filter(
        pc.less_equal(collected.history.column("date"), pa.scalar(plan.as_of, pa.date32()))
    )
    result = plan_replenishment(inventory, collected.forecasts, history, replenishment)
    rows = _explained_rows(result.plan.to_pylist(), collected)
    plan_table = pa.Table.from_pylist(rows, schema=PLAN_SCHEMA)
    accuracy = _accuracy(plan, collected, history, bucket, client)
    summary = _summary(step, collected, inventory, result.issues, rows, accuracy, bucket)

    _put(
        bucket,
        layout.daily_forecasts_key(plan.plan_date),
        table_to_parquet_bytes(collected.forecasts),
        client,
    )
    csv_buffer = io.BytesIO()
    pa_csv.write_csv(plan_table, csv_buffer)
    _put(bucket, layout.plan_key(plan.plan_date, "plan.csv"), csv_buffer.getvalue(), client, "text/csv")
    _put(bucket, layout.plan_key(plan.plan_date, "plan.parquet"), table_to_parquet_bytes(plan_table), client)
    store.write_forecasts(forecasts_table, _forecast_items(plan, collected))
    store.write_plan(plans_table, plan.plan_date, rows, plan.run_id)
    report = render_report(_report_input(plan, collected, rows, summary, accuracy, inventory))
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


class _Collected:
    """What the shards produced, and what is known about the series of the shards that failed."""

    def __init__(self) -> None:
        self.forecasts: pa.Table = FORECAST_SCHEMA.empty_table()
        self.series: dict[Key, dict[str, Any]] = {}  # per-series summary rows of successful shards
        self.failed: dict[Key, str] = {}  # series of failed shards -> why
        self.failed_shards: list[dict[str, Any]] = []
        self.history: pa.Table = pa.table({})
        self.all_series: set[Key] = set()
        self.promo_days: dict[Key, set[date]] = defaultdict(set)  # planned promotion days in the horizon


def _collect(step: FinalizeStep, bucket: str, client: s3.S3Client) -> _Collected:
    plan = step.plan
    outcomes = {outcome.shard.index: outcome for outcome in step.results}
    collected = _Collected()
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


def _collect_promo_days(run_id: str, index: int, bucket: str, client: s3.S3Client, into: _Collected) -> None:
    """The shard's planned promotion days, to flag forecast points; unreadable ones only lose the flags."""
    try:
        days = read_parquet(bucket, layout.shard_promotions_key(run_id, index), s3_client=client)
    except (ClientError, pa.ArrowException):
        return
    for sku, location, day in zip(
        days["sku"].to_pylist(), days["location"].to_pylist(), days["date"].to_pylist(), strict=True
    ):
        into.promo_days[(sku, location)].add(day)


def _explained_rows(rows: list[dict[str, Any]], collected: _Collected) -> list[dict[str, Any]]:
    """Plan lines with the reasons only the run knows, plus lines for series the plan never saw."""
    by_key = {(row["sku"], row["location"]): row for row in rows}
    for key in collected.all_series - set(by_key):
        by_key[key] = dict.fromkeys(PLAN_SCHEMA.names) | {"sku": key[0], "location": key[1]}
    for key, row in by_key.items():
        if key in collected.failed:
            row.update(dict.fromkeys(PLAN_SCHEMA.names[2:-1]))
            row["reason"] = f"no forecast: {collected.failed[key]}"
        elif collected.series.get(key, {}).get("demand_class") == "no_history":
            row["reason"] = "no forecast: every sales row is dated after the as-of date"
    return [by_key[key] for key in sorted(by_key)]


def _accuracy(
    plan: PlanOutput, collected: _Collected, history: pa.Table, bucket: str, client: s3.S3Client
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


def _issue(keys: Iterable[Any], **extra: Any) -> dict[str, Any]:
    ordered = sorted(keys)
    examples = ["@".join(key) if isinstance(key, tuple) else str(key) for key in ordered[:MAX_EXAMPLES]]
    return {"count": len(ordered), "examples": examples, **extra}


def _summary(
    step: FinalizeStep,
    collected: _Collected,
    inventory: pa.Table,
    plan_issues: list[dict[str, str]],
    rows: list[dict[str, Any]],
    accuracy: list[dict[str, Any]],
    bucket: str,
) -> dict[str, Any]:
    plan = step.plan
    series = collected.series

    def where(column: str) -> list[Key]:
        return [key for key, row in series.items() if (row.get(column) or 0) > 0]

    def total(column: str) -> int:
        return int(sum(row.get(column) or 0 for row in series.values()))

    by_issue: dict[str, list[Key]] = defaultdict(list)
    for issue in plan_issues:
        key = (issue["sku"], issue["location"])
        if key not in collected.failed:
            by_issue[issue["issue"]].append(key)
    inventory_keys = Counter(
        zip(inventory.column("sku").to_pylist(), inventory.column("location").to_pylist(), strict=True)
    )
    data_issues: dict[str, Any] = {
        "gaps_filled_with_zero": _issue(where("gap_days_filled"), days=total("gap_days_filled")),
        "negative_units_clipped": _issue(where("negative_days_clipped"), days=total("negative_days_clipped")),
        "missing_units_as_zero": _issue(where("missing_units_as_zero"), days=total("missing_units_as_zero")),
        "duplicate_rows_summed": _issue(where("duplicate_rows_merged"), rows=total("duplicate_rows_merged")),
        "single_day_history": _issue(k for k, r in series.items() if r.get("n_days") == 1),
        "short_history": _issue(k for k, r in series.items() if r.get("demand_class") == "short"),
        "all_zero_sales": _issue(k for k, r in series.items() if r.get("demand_class") == "all_zero"),
        "no_sales_before_as_of": _issue(
            k for k, r in series.items() if r.get("demand_class") == "no_history"
        ),
        "inventory_without_sales": _issue(by_issue["inventory_without_sales"]),
        "sales_without_inventory": _issue(by_issue["sales_without_inventory"]),
        "duplicate_inventory_rows": _issue(
            (k for k, n in inventory_keys.items() if n > 1), note="the last row of each key is used"
        ),
    }
    data_issues.update(plan.issues)
    data_issues = {
        name: value
        for name, value in data_issues.items()
        if not (isinstance(value, dict) and value.get("count") == 0)
    }
    orders = [row for row in rows if (row.get("order_qty") or 0) > 0]
    levels = _service_level_sources(inventory, rows)
    uri = f"s3://{bucket}/{layout.PLANS_PREFIX}{plan.plan_date.isoformat()}/"
    return {
        "status": "succeeded",
        "run_id": plan.run_id,
        "plan_date": plan.plan_date.isoformat(),
        "as_of": plan.as_of.isoformat(),
        "horizon": plan.horizon,
        "shards": len(plan.shards),
        "series": len(collected.all_series),
        "series_forecast": sum(1 for r in series.values() if r.get("demand_class") != "no_history"),
        "demand_classes": dict(Counter(str(r.get("demand_class")) for r in series.values()).most_common()),
        "models": dict(Counter(str(r.get("model")) for r in series.values()).most_common()),
        "failed_shards": collected.failed_shards,
        "promotions": {
            "series_with_promo_days": len(collected.promo_days),
            "promo_days": sum(len(days) for days in collected.promo_days.values()),
        },
        "data_issues": data_issues,
        "plan": {
            "lines": len(rows),
            "needing_order": len(orders),
            "order_units": float(sum(row["order_qty"] for row in orders)),
            "not_planned": sum(1 for row in rows if row.get("abc") is None),
        },
        "service_levels": levels,
        "accuracy": accuracy,
        "files": {name: f"{uri}{name}" for name in layout.PLAN_FILES},
    }


def _service_level_sources(inventory: pa.Table, rows: list[dict[str, Any]]) -> dict[str, int]:
    """How many planned lines took their service level from the inventory row, how many from the class."""
    row_levels = dict(
        zip(
            zip(inventory["sku"].to_pylist(), inventory["location"].to_pylist(), strict=True),
            inventory["service_level"].to_pylist(),
            strict=True,
        )
    )  # the last row of a duplicated key wins, as in the plan
    planned = [(row["sku"], row["location"]) for row in rows if row.get("abc") is not None]
    from_row = sum(1 for key in planned if row_levels.get(key) is not None)
    return {"from_inventory_row": from_row, "class_default": len(planned) - from_row}


def _forecast_items(plan: PlanOutput, collected: _Collected) -> Iterable[dict[str, Any]]:
    columns = collected.forecasts.sort_by([("unique_id", "ascending"), ("ds", "ascending")]).to_pydict()
    points: dict[Key, list[tuple[Any, ...]]] = defaultdict(list)
    models: dict[Key, str] = {}
    for sku, location, ds, mean, lo95, lo80, hi80, hi95, model in zip(
        columns["sku"],
        columns["location"],
        columns["ds"],
        columns["mean"],
        columns["lo_95"],
        columns["lo_80"],
        columns["hi_80"],
        columns["hi_95"],
        columns["model"],
        strict=True,
    ):
        promo = ds in collected.promo_days.get((sku, location), ())
        points[(sku, location)].append((ds, mean, lo80, hi80, lo95, hi95, promo))
        models[(sku, location)] = model
    for key, series_points in points.items():
        yield store.forecast_item(
            key[0],
            key[1],
            series_points,
            model=models[key],
            demand_class=collected.series.get(key, {}).get("demand_class"),
            plan_date=plan.plan_date,
            as_of=plan.as_of,
            run_id=plan.run_id,
        )


def _report_input(
    plan: PlanOutput,
    collected: _Collected,
    rows: list[dict[str, Any]],
    summary: dict[str, Any],
    accuracy: list[dict[str, Any]],
    inventory: pa.Table,
) -> ReportInput:
    """Plots for the largest series by forecast volume and for every line that needs an order."""
    forecasts = collected.forecasts
    volume = {
        (entry["sku"], entry["location"]): entry["mean_sum"]
        for entry in forecasts.group_by(["sku", "location"]).aggregate([("mean", "sum")]).to_pylist()
    }
    largest = sorted(volume, key=lambda key: (-volume[key], key))[:LARGEST_SERIES_PLOTTED]
    unit_cost = dict(
        zip(
            zip(inventory["sku"].to_pylist(), inventory["location"].to_pylist(), strict=True),
            inventory["unit_cost"].to_pylist(),
            strict=True,
        )
    )
    by_key = {(row["sku"], row["location"]): row for row in rows}
    orders = sorted(
        (key for key, row in by_key.items() if (row.get("order_qty") or 0) > 0),
        key=lambda key: (-(by_key[key]["order_qty"] * (unit_cost.get(key) or 1.0)), key),
    )
    selection = select_plots(largest, orders, plan.report_max_plots)
    chosen = [*selection.largest, *selection.orders]
    captions: dict[Key, str] = {}
    for key in selection.largest:
        info = collected.series.get(key, {})
        captions[key] = (
            f"{volume[key]:,.0f} units in {plan.horizon} d; {info.get('model')}, "
            f"{info.get('demand_class')}; {_order_caption(by_key.get(key, {}))}"
        )
    for key in selection.orders:
        captions[key] = _order_caption(by_key[key])

    chosen_ids = pa.array([f"{sku}|{location}" for sku, location in chosen], pa.string())
    since = plan.as_of - timedelta(days=PLOT_HISTORY_DAYS - 1)
    history = collected.history.filter(
        pc.and_(
            pc.is_in(series_id_column(collected.history), value_set=chosen_ids),
            pc.greater_equal(collected.history.column("date"), pa.scalar(since, pa.date32())),
        )
    )
    history_by_key: dict[Key, list[tuple[date, float]]] = defaultdict(list)
    promo_by_key: dict[Key, set[date]] = defaultdict(set)
    promoted = history.filter(pc.fill_null(history.column("promo"), False))
    for row in promoted.select(["sku", "location", "date"]).to_pylist():
        if row["date"] <= plan.as_of:
            promo_by_key[(row["sku"], row["location"])].add(row["date"])
    for row in daily_actuals(history).to_pylist():
        if row["ds"] <= plan.as_of:
            history_by_key[(row["sku"], row["location"])].append((row["ds"], row["actual"]))
    picked = forecasts.filter(pc.is_in(forecasts.column("unique_id"), value_set=chosen_ids))
    forecast_by_key: dict[Key, list[tuple[Any, ...]]] = defaultdict(list)
    for row in picked.select(
        ["sku", "location", "ds", "mean", "lo_80", "hi_80", "lo_95", "hi_95"]
    ).to_pylist():
        forecast_by_key[(row["sku"], row["location"])].append(
            (row["ds"], row["mean"], row["lo_80"], row["hi_80"], row["lo_95"], row["hi_95"])
        )
    plots = [
        SeriesPlot(
            sku=key[0],
            location=key[1],
            caption=captions[key],
            history=_zero_filled(history_by_key[key], since, plan.as_of),
            forecast=sorted(forecast_by_key[key]),
            promo_days=sorted(promo_by_key[key] | collected.promo_days.get(key, set())),
        )
        for key in chosen
    ]
    return ReportInput(
        plan_date=plan.plan_date,
        as_of=plan.as_of,
        summary=summary,
        accuracy=accuracy,
        plots=plots,
        plan_rows=rows,
        notes=[selection.note()],
        largest_count=len(selection.largest),
    )


def _order_caption(row: Mapping[str, Any]) -> str:
    """The plan line in a dozen words; the full reason is in the plan table and plan.csv."""
    if row.get("abc") is None:
        return "not planned"
    level = row.get("service_level")
    target = f"{row['abc']}{row['xyz']} {level:.1%}" if level is not None else f"{row['abc']}{row['xyz']}"
    position = f"position {row['inventory_position']:g}, reorder point {row['reorder_point']:.1f}"
    if (row.get("order_qty") or 0) > 0:
        return f"order {row['order_qty']:g}: {position}; {target}"
    return f"no order: {position}; {target}"


def _zero_filled(days: list[tuple[date, float]], start: date, end: date) -> list[tuple[date, float]]:
    observed = dict(days)
    first = min(observed, default=end)
    start = max(start, first)
    return [
        (start + timedelta(days=n), observed.get(start + timedelta(days=n), 0.0))
        for n in range((end - start).days + 1)
    ]


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
