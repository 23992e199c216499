"""The run's HTML report: self-contained (inline SVG, inline CSS, no scripts), from Jinja2 templates.

Sections: run summary and data issues, accuracy of previous runs, small-multiple plots (history, forecast
mean, 80% and 95% intervals, the as-of line, promotion days shaded) for the largest series and for every
line that needs an order, and the plan table. Plots share one time axis and one style sheet and their
paths are thinned to what a small plot can show, so each costs about a kilobyte; a safety cap
(`DEFAULT_MAX_PLOTS`, set per run) bounds the report of a very large shop, and the report then says how many
lines it left out. The complete plan is always in plan.xlsx / plan.csv / plan.parquet beside it.

The markup lives in `templates/` (package data, shipped with the library); this module computes what the
templates show: the figures, formatted, and each plot's geometry. Autoescaping is on, so a SKU, title,
reason or error message from the shop's files is always text, never markup.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from itertools import pairwise
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

PLOT_WIDTH = 240
PLOT_HEIGHT = 84
# The bottom margin holds the date labels of the time axis.
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 24, 4, 4, 14
MAX_TABLE_ROWS = 500
DEFAULT_MAX_PLOTS = 1000


@dataclass(frozen=True)
class SeriesPlot:
    sku: str
    location: str
    caption: str
    history: Sequence[tuple[date, float]]
    # (date, mean, lo_80, hi_80, lo_95, hi_95)
    forecast: Sequence[tuple[date, float, float, float, float, float]]
    # Promotion days, past (sales flagged promo) and planned (from incoming/promotions/), shaded in the plot.
    promo_days: Sequence[date] = ()
    # The catalog title of the SKU, shown beside its code.
    title: str | None = None


@dataclass
class ReportInput:
    plan_date: date
    as_of: date
    summary: Mapping[str, Any]
    accuracy: Sequence[Mapping[str, Any]]
    plots: Sequence[SeriesPlot]
    plan_rows: Sequence[Mapping[str, Any]]
    notes: list[str] = field(default_factory=list)
    # Plots after this many (from the start of `plots`) belong to "lines that need an order".
    largest_count: int = 0


Key = tuple[str, str]


@dataclass(frozen=True)
class PlotSelection:
    """Which series the report plots: the largest, then every line that needs an order, up to a cap."""

    largest: list[Key]
    orders: list[Key]  # lines needing an order not already among `largest`, biggest order value first
    orders_total: int  # lines needing an order
    orders_plotted: int  # of those, how many have a plot (in either group)
    max_plots: int

    @property
    def orders_left_out(self) -> int:
        return self.orders_total - self.orders_plotted

    def note(self) -> str:
        if not self.orders_total:
            return "No line needs an order today."
        if not self.orders_left_out:
            return f"All {self.orders_total} lines that need an order are plotted."
        return (
            f"{self.orders_total} lines need an order; {self.orders_plotted} are plotted (largest order "
            f"value first) and {self.orders_left_out} are left out: this report plots at most "
            f"{self.max_plots} series. plan.xlsx, plan.csv and plan.parquet beside this report hold "
            "every line."
        )


def select_plots(largest: Sequence[Key], orders_by_value: Sequence[Key], max_plots: int) -> PlotSelection:
    """`largest` by forecast volume and the lines needing an order, biggest order value first."""
    limit = max(max_plots, 0)
    chosen_largest = list(dict.fromkeys(largest))[:limit]
    shown = set(chosen_largest)
    ordered = list(dict.fromkeys(orders_by_value))
    remaining = [key for key in ordered if key not in shown]
    chosen_orders = remaining[: limit - len(chosen_largest)]
    plotted = sum(1 for key in ordered if key in shown) + len(chosen_orders)
    return PlotSelection(chosen_largest, chosen_orders, len(ordered), plotted, limit)


@cache
def _templates() -> Environment:
    environment = Environment(
        loader=PackageLoader("shelfwise.forecast", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["text"] = _text
    environment.filters["percent"] = _percent
    environment.filters["number"] = format
    return environment


def render_report(data: ReportInput) -> str:
    summary = data.summary
    plan = summary.get("plan", {})
    currency = str(plan.get("currency") or "")
    plots = list(data.plots)
    first, last = _window(plots)
    figures = [
        {
            "svg": series_svg(plot, first, last),
            "sku": plot.sku,
            "location": plot.location,
            "title": plot.title,
            "caption": plot.caption,
        }
        for plot in plots
    ]
    return (
        _templates()
        .get_template("report.html.j2")
        .render(
            plan_date=data.plan_date.isoformat(),
            as_of=data.as_of.isoformat(),
            overview=_overview(summary),
            issues={name: _issue_text(value) for name, value in summary.get("data_issues", {}).items()},
            failed_shards=list(summary.get("failed_shards", [])),
            totals=_totals(plan),
            currency=currency,
            accuracy=list(data.accuracy),
            first=first.isoformat() if first else None,
            last=last.isoformat() if last else None,
            notes=data.notes,
            largest=figures[: data.largest_count],
            orders=figures[data.largest_count :],
            plan=_plan_table(data.plan_rows),
        )
    )


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items()) or "none"
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value) or "none"
    return str(value)


def _totals(plan: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any], str]]:
    """What the plan asks to buy, per location and overall (highlighted); nothing for an older summary."""
    if "order_value" not in plan:
        return []
    rows = [(location, figures, "") for location, figures in plan.get("by_location", {}).items()]
    return [*rows, ("All locations", plan, "order")]


def _overview(summary: Mapping[str, Any]) -> dict[str, Any]:
    plan = summary.get("plan", {})
    return {
        "series forecast": summary.get("series_forecast"),
        "plan lines": plan.get("lines"),
        "currency": plan.get("currency"),
        "lines needing an order": plan.get("needing_order"),
        "lines not planned": plan.get("not_planned"),
        "failed shards": len(summary.get("failed_shards", [])),
        "demand classes": summary.get("demand_classes", {}),
        "models chosen": summary.get("models", {}),
        "planned promotions": summary.get("promotions", {}),
        "service level taken from": summary.get("service_levels", {}),
        "settings": {k: v for k, v in summary.get("settings", {}).items() if k != "service_levels"},
    }


def _issue_text(value: Any) -> str:
    if isinstance(value, Mapping) and "count" in value:
        examples = value.get("examples") or []
        shown = f" (e.g. {', '.join(map(str, examples[:5]))})" if examples else ""
        extra = {k: v for k, v in value.items() if k not in {"count", "examples"}}
        more = f"; {_text(extra)}" if extra else ""
        return f"{value['count']}{shown}{more}"
    return _text(value)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _days(plot: SeriesPlot) -> list[date]:
    return [day for day, _ in plot.history] + [row[0] for row in plot.forecast]


def _window(plots: Sequence[SeriesPlot]) -> tuple[date | None, date | None]:
    """One time axis for every plot, so small multiples can be compared at a glance."""
    days = [day for plot in plots for day in _days(plot)]
    return (min(days), max(days)) if days else (None, None)


Point = tuple[int, int]


def thin(points: Sequence[Point]) -> list[Point]:
    """The points a small plot can show: per pixel column only its first, lowest, highest and last point,
    then no point in the middle of a straight run (a week of zeros is one segment, not seven)."""
    columns: list[Point] = []
    start = 0
    while start < len(points):
        end = start
        while end + 1 < len(points) and points[end + 1][0] == points[start][0]:
            end += 1
        group = points[start : end + 1]
        keep = sorted(
            {0, len(group) - 1}
            | {min(range(len(group)), key=lambda i: group[i][1])}
            | {max(range(len(group)), key=lambda i: group[i][1])}
        )
        columns.extend(group[i] for i in keep)
        start = end + 1
    kept: list[Point] = []
    for point in columns:
        while len(kept) >= 2 and _passes_through(kept[-2], kept[-1], point):
            kept.pop()
        if not kept or kept[-1] != point:
            kept.append(point)
    return kept


def _passes_through(a: Point, b: Point, c: Point) -> bool:
    """True when b lies on the segment from a to c, so drawing a -> c shows the same line."""
    cross = (b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0])
    forward = (b[0] - a[0]) * (c[0] - b[0]) + (b[1] - a[1]) * (c[1] - b[1])
    return cross == 0 and forward >= 0


def _path(points: Sequence[Point], *, close: bool = False) -> str:
    """SVG path data with relative steps: shorter than absolute coordinates for a dense line."""
    if not points:
        return ""
    steps = " ".join(f"{x - px} {y - py}" for (px, py), (x, y) in pairwise(points))
    return f"M{points[0][0]} {points[0][1]}" + (f"l{steps}" if steps else "") + ("z" if close else "")


def series_svg(plot: SeriesPlot, first: date | None = None, last: date | None = None) -> Markup:
    """A small-multiple line chart on the time axis `first`..`last` (default: the plot's own days)."""
    days = [d for d, _ in plot.history] + [row[0] for row in plot.forecast]
    if not days:
        return Markup("<svg class='s' width='0' height='0'></svg>")
    first = first or min(days)
    last = last or max(days)
    span = max((last - first).days, 1)
    top = max([v for _, v in plot.history] + [row[5] for row in plot.forecast] + [1.0]) * 1.05
    inner_w = PLOT_WIDTH - PAD_LEFT - PAD_RIGHT
    inner_h = PLOT_HEIGHT - PAD_TOP - PAD_BOTTOM
    bottom = PAD_TOP + inner_h

    def x(day: date) -> int:
        return round(PAD_LEFT + (day - first).days / span * inner_w)

    def y(value: float) -> int:
        return round(PAD_TOP + inner_h - min(max(value, 0.0), top) / top * inner_h)

    def band(lows: Sequence[float], highs: Sequence[float]) -> str:
        forecast_days = [r[0] for r in plot.forecast]
        upper = thin([(x(d), y(v)) for d, v in zip(forecast_days, highs, strict=True)])
        lower = thin([(x(d), y(v)) for d, v in zip(forecast_days[::-1], lows[::-1], strict=True)])
        return _path(upper + lower, close=True)

    ticks = _date_ticks(first, last)
    svg = (
        _templates()
        .get_template("series.svg.j2")
        .render(
            width=PLOT_WIDTH,
            height=PLOT_HEIGHT,
            left=PAD_LEFT,
            right=PLOT_WIDTH - PAD_RIGHT,
            top=PAD_TOP,
            bottom=bottom,
            sku=plot.sku,
            location=plot.location,
            promo=_promo_shading(plot.promo_days, first, last, x, bottom),
            top_label=_axis(top),
            tick_marks="".join(f"M{x(d)} {bottom}v3" for d in ticks),
            ticks=[{"x": x(d), "label": f"{d.day} {d.strftime('%b')}"} for d in ticks],
            band_95=band([r[4] for r in plot.forecast], [r[5] for r in plot.forecast])
            if plot.forecast
            else None,
            band_80=band([r[2] for r in plot.forecast], [r[3] for r in plot.forecast])
            if plot.forecast
            else None,
            history=_path(thin([(x(d), y(v)) for d, v in plot.history])) if plot.history else None,
            cut=x(max(d for d, _ in plot.history)) if plot.history else None,
            forecast=_path(thin([(x(r[0]), y(r[1])) for r in plot.forecast])) if plot.forecast else None,
        )
    )
    return Markup(svg)  # rendered with autoescaping: safe to place in the page as it is


def _promo_shading(
    days: Sequence[date], first: date, last: date, x: Callable[[date], int], bottom: int
) -> str:
    """Path data of one rectangle per run of consecutive promotion days, each day from half a day before to
    half a day after; empty when no promotion day is on the axis."""
    shown = sorted({day for day in days if first <= day <= last})
    if not shown:
        return ""
    runs: list[list[date]] = [[shown[0], shown[0]]]
    for day in shown[1:]:
        if (day - runs[-1][1]).days == 1:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    half = max((x(first + timedelta(days=1)) - x(first)) / 2, 0.5)
    return "".join(
        f"M{x(start) - half:g} {PAD_TOP}H{x(end) + half:g}V{bottom}H{x(start) - half:g}z"
        for start, end in runs
    )


def _date_ticks(first: date, last: date) -> list[date]:
    """Days that get a tick and a day-month label: the first of each month, or every Monday on short axes."""
    span = (last - first).days
    days = [first + timedelta(days=n) for n in range(span + 1)]
    ticks = [d for d in days if d.day == 1] if span > 60 else [d for d in days if d.weekday() == 0]
    if len(ticks) > 6:  # keep labels from overlapping on a small plot
        ticks = ticks[:: -(-len(ticks) // 6)]
    return ticks


def _axis(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


PLAN_COLUMNS = (
    ("sku", "SKU"),
    ("title", "title"),
    ("location", "location"),
    ("abc", "ABC"),
    ("xyz", "XYZ"),
    ("service_level", "service"),
    ("lead_time_demand_mean", "LT demand"),
    ("lead_time_demand_sd", "LT sd"),
    ("safety_stock", "SS"),
    ("reorder_point", "ROP"),
    ("eoq", "EOQ"),
    ("inventory_position", "position"),
    ("order_qty", "order"),
    ("unit_cost", "unit cost"),
    ("order_value", "order value"),
    ("reason", "reason"),
)
TEXT_COLUMNS = ("sku", "title", "location", "reason")
# Quantities a buyer orders or counts are whole units; statistical figures keep one decimal.
WHOLE_COLUMNS = ("eoq", "inventory_position", "order_qty")
MONEY_COLUMNS = ("unit_cost", "order_value")


def _plan_table(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Lines that need an order or could not be planned; lines needing nothing are only counted."""
    actionable = sorted(
        (r for r in rows if (r.get("order_qty") or 0) > 0 or r.get("abc") is None),
        key=lambda r: (r.get("abc") is None, r["sku"], r["location"]),
    )
    shown = actionable[:MAX_TABLE_ROWS]
    return {
        "lines": len(rows),
        "actionable": len(actionable),
        "shown": len(shown),
        "quiet": len(rows) - len(actionable),
        "columns": [
            {"label": label, "css": "t" if name in TEXT_COLUMNS else "", "money": name in MONEY_COLUMNS}
            for name, label in PLAN_COLUMNS
        ],
        "rows": [
            {
                "order": (row.get("order_qty") or 0) > 0,
                "cells": [
                    {"text": _plan_cell(name, row.get(name)), "css": "t" if name in TEXT_COLUMNS else ""}
                    for name, _ in PLAN_COLUMNS
                ],
            }
            for row in shown
        ],
    }


def _plan_cell(name: str, value: Any) -> str:
    if name in TEXT_COLUMNS:
        return str(value or "")
    if value is None:
        return ""
    if name in WHOLE_COLUMNS:
        return f"{value:,.0f}"
    if name in MONEY_COLUMNS:
        return f"{value:,.2f}"
    if name == "service_level":
        return f"{value:.1%}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)
