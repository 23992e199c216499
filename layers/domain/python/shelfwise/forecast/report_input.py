"""The report's input: which series to plot, their captions, and the history and forecast points drawn.

Its own module because choosing and shaping what the report shows needs pyarrow and the run's collected
outputs, while `report` renders HTML with the standard library only and `finalize` orchestrates the run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from shelfwise.forecast.accuracy import daily_actuals
from shelfwise.forecast.collected import Collected, Key
from shelfwise.forecast.planning import series_id_column
from shelfwise.forecast.report import ReportInput, SeriesPlot, select_plots
from shelfwise.forecast.workflow import PlanOutput

LARGEST_SERIES_PLOTTED = 6
PLOT_HISTORY_DAYS = 56


def build_report_input(
    plan: PlanOutput,
    collected: Collected,
    rows: list[dict[str, Any]],
    summary: dict[str, Any],
    accuracy: list[dict[str, Any]],
    inventory: pa.Table,
) -> ReportInput:
    """Plots for the largest series by forecast volume and for every line that needs an order."""
    forecasts = collected.forecasts
    volume = {
        (entry["sku"], entry["location"]): entry["expected_sum"]
        for entry in forecasts.group_by(["sku", "location"]).aggregate([("expected", "sum")]).to_pylist()
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
            f"{volume[key]:,.0f} units expected in {plan.horizon} d; {info.get('model')}, "
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
            title=by_key.get(key, {}).get("title"),
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
        value = row.get("order_value")
        worth = f" (value {value:,.2f})" if value is not None else ""
        return f"order {row['order_qty']:,.0f}{worth}: {position}; {target}"
    return f"no order: {position}; {target}"


def _zero_filled(days: list[tuple[date, float]], start: date, end: date) -> list[tuple[date, float]]:
    observed = dict(days)
    first = min(observed, default=end)
    start = max(start, first)
    return [
        (start + timedelta(days=n), observed.get(start + timedelta(days=n), 0.0))
        for n in range((end - start).days + 1)
    ]
