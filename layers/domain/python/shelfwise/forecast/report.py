"""The run's HTML report: self-contained (inline SVG, inline CSS, no scripts), standard library only.

Sections: run summary and data issues, accuracy of previous runs, small-multiple plots (history, forecast
mean, 80% and 95% intervals, the as-of line, promotion days shaded) for the largest series and for every
line that needs an order, and the plan table. Plots share one time axis and one style sheet and their
paths are thinned to what a small plot can show, so each costs about a kilobyte; a safety cap
(`DEFAULT_MAX_PLOTS`, set per run) bounds the report of a very large shop, and the report then says how many
lines it left out. The complete plan is always in plan.xlsx / plan.csv / plan.parquet beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from html import escape
from itertools import pairwise
from typing import Any

PLOT_WIDTH = 240
PLOT_HEIGHT = 84
# The bottom margin holds the date labels of the time axis.
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 24, 4, 4, 14
MAX_TABLE_ROWS = 500
DEFAULT_MAX_PLOTS = 1000

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}h3{font-size:15px}
table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ddd;padding:3px 6px;text-align:right}
td.t,th.t{text-align:left}tr.order td{background:#fff6e0}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:6px}
figure{margin:0;border:1px solid #eee;padding:2px}figcaption{font-size:11px;line-height:1.25}
svg.s{display:block;font-size:9px}.s .a{stroke:#bbb}.s .c{stroke:#444;stroke-dasharray:2,2}
.s .b95{fill:#d8e6f7}.s .b80{fill:#a9c8ec}.s .h{fill:none;stroke:#777}
.s .f{fill:none;stroke:#1f5fbf;stroke-width:1.5}.s .p{fill:#fbe3a1}
.note{color:#666;font-size:12px}
"""


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


def render_report(data: ReportInput) -> str:
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Replenishment plan {data.plan_date.isoformat()}</title><style>{CSS}</style></head><body>",
        f"<h1>Replenishment plan for {data.plan_date.isoformat()}</h1>",
        f"<p>Sales up to and including {data.as_of.isoformat()}; "
        f"forecasts start {data.plan_date.isoformat()}.</p>",
        _summary_section(data.summary),
        _totals_section(data.summary),
        _accuracy_section(data.accuracy),
        _plots_section(data),
        _plan_section(data.plan_rows, str(data.summary.get("plan", {}).get("currency") or "")),
        "</body></html>",
    ]
    return "".join(parts)


def _kv_table(values: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><th class='t'>{escape(str(k))}</th><td>{escape(_text(v))}</td></tr>" for k, v in values.items()
    )
    return f"<table>{rows}</table>"


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items()) or "none"
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value) or "none"
    return str(value)


def _totals_section(summary: Mapping[str, Any]) -> str:
    """What the plan asks to buy: lines, units and money per location and overall."""
    plan = summary.get("plan", {})
    if "order_value" not in plan:
        return ""
    currency = escape(str(plan.get("currency") or ""))

    def row(label: str, figures: Mapping[str, Any], css: str = "") -> str:
        return (
            f"<tr{css}><td class='t'>{escape(label)}</td><td>{figures.get('needing_order', 0):,}</td>"
            f"<td>{figures.get('order_units', 0):,}</td><td>{figures.get('order_value', 0.0):,.2f}</td></tr>"
        )

    body = "".join(row(location, f) for location, f in plan.get("by_location", {}).items())
    body += row("All locations", plan, " class='order'")
    return (
        f"<h2>Orders to place</h2><table><tr><th class='t'>location</th><th>lines to order</th>"
        f"<th>units</th><th>order value ({currency})</th></tr>{body}</table>"
    )


def _summary_section(summary: Mapping[str, Any]) -> str:
    plan = summary.get("plan", {})
    overview = {
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
    issues = {name: _issue_text(value) for name, value in summary.get("data_issues", {}).items()}
    failed = "".join(
        f"<li>shard {escape(str(f.get('shard')))} ({escape(str(f.get('series')))} series): "
        f"{escape(str(f.get('error')))}</li>"
        for f in summary.get("failed_shards", [])
    )
    return (
        "<h2>Run</h2>"
        + _kv_table(overview)
        + "<h2>Data issues</h2>"
        + (_kv_table(issues) if issues else "<p>None found.</p>")
        + (
            f"<p>Failed shards (their series are listed in the plan as not forecast):</p><ul>{failed}</ul>"
            if failed
            else ""
        )
    )


def _issue_text(value: Any) -> str:
    if isinstance(value, Mapping) and "count" in value:
        examples = value.get("examples") or []
        shown = f" (e.g. {', '.join(map(str, examples[:5]))})" if examples else ""
        extra = {k: v for k, v in value.items() if k not in {"count", "examples"}}
        more = f"; {_text(extra)}" if extra else ""
        return f"{value['count']}{shown}{more}"
    return _text(value)


def _accuracy_section(accuracy: Sequence[Mapping[str, Any]]) -> str:
    if not accuracy:
        return (
            "<h2>Accuracy of previous runs</h2>"
            "<p>No earlier run has forecast days that have since been observed.</p>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "plan date",
            "days",
            "series",
            "actual units",
            "forecast units",
            "WAPE",
            "bias",
            "80% covered",
            "95% covered",
        )
    )
    rows = "".join(
        "<tr>"
        + f"<td class='t'>{escape(str(a['plan_date']))}</td><td>{a['days']}</td><td>{a['series']}</td>"
        + f"<td>{a['actual_units']:,.0f}</td><td>{a['forecast_units']:,.0f}</td>"
        + f"<td>{_percent(a.get('wape'))}</td><td>{_percent(a.get('bias'))}</td>"
        + f"<td>{_percent(a.get('coverage_80'))}</td><td>{_percent(a.get('coverage_95'))}</td></tr>"
        for a in accuracy
    )
    return (
        "<h2>Accuracy of previous runs</h2><p class='note'>Each earlier plan's forecasts against the sales "
        "observed since. WAPE = sum |actual - forecast| / sum actual; bias > 0 means over-forecast.</p>"
        f"<table><tr>{head}</tr>{rows}</table>"
    )


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _plots_section(data: ReportInput) -> str:
    plots = list(data.plots)
    first, last = _window(plots)
    legend = (
        "<p class='note'>Each plot: daily sales (grey) from "
        f"{first.isoformat() if first else '-'} and the forecast mean (blue) with its 80% and 95% intervals "
        f"(shaded) to {last.isoformat() if last else '-'}; dashed line: {data.as_of.isoformat()}, the last "
        "observed day; shaded in yellow: promotion days, past and planned. Each plot has its own scale, "
        "from 0 to the number at its top left.</p>"
    )
    note = "".join(f"<p class='note'>{escape(n)}</p>" for n in data.notes)
    largest, orders = plots[: data.largest_count], plots[data.largest_count :]
    groups = ""
    if largest:
        groups += f"<h3>Largest forecast volume</h3><div class='plots'>{_figures(largest, first, last)}</div>"
    if orders:
        groups += f"<h3>Lines that need an order</h3><div class='plots'>{_figures(orders, first, last)}</div>"
    return f"<h2>Forecasts</h2>{legend}{note}{groups}"


def _window(plots: Sequence[SeriesPlot]) -> tuple[date | None, date | None]:
    """One time axis for every plot, so small multiples can be compared at a glance."""
    days = [d for plot in plots for d, *_ in (*plot.history, *plot.forecast)]
    return (min(days), max(days)) if days else (None, None)


def _figures(plots: Sequence[SeriesPlot], first: date | None, last: date | None) -> str:
    return "".join(
        f"<figure>{series_svg(plot, first, last)}<figcaption><b>{escape(plot.sku)} @ "
        f"{escape(plot.location)}</b> {escape(plot.title) if plot.title else ''}<br>"
        f"{escape(plot.caption)}</figcaption></figure>"
        for plot in plots
    )


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


def series_svg(plot: SeriesPlot, first: date | None = None, last: date | None = None) -> str:
    """A small-multiple line chart on the time axis `first`..`last` (default: the plot's own days)."""
    days = [d for d, _ in plot.history] + [row[0] for row in plot.forecast]
    if not days:
        return "<svg class='s' width='0' height='0'></svg>"
    first = first or min(days)
    last = last or max(days)
    span = max((last - first).days, 1)
    top = max([v for _, v in plot.history] + [row[5] for row in plot.forecast] + [1.0]) * 1.05
    inner_w = PLOT_WIDTH - PAD_LEFT - PAD_RIGHT
    inner_h = PLOT_HEIGHT - PAD_TOP - PAD_BOTTOM
    bottom, right = PAD_TOP + inner_h, PLOT_WIDTH - PAD_RIGHT

    def x(day: date) -> int:
        return round(PAD_LEFT + (day - first).days / span * inner_w)

    def y(value: float) -> int:
        return round(PAD_TOP + inner_h - min(max(value, 0.0), top) / top * inner_h)

    def band(lo: int, hi: int) -> str:
        upper = thin([(x(r[0]), y(r[hi])) for r in plot.forecast])
        lower = thin([(x(r[0]), y(r[lo])) for r in reversed(plot.forecast)])
        return _path(upper + lower, close=True)

    shapes = [_promo_shading(plot.promo_days, first, last, x, bottom)]
    shapes += [
        f"<path class='a' d='M{PAD_LEFT} {bottom}H{right}M{PAD_LEFT} {PAD_TOP}V{bottom}'/>",
        f"<text x='{PAD_LEFT - 2}' y='{PAD_TOP + 7}' text-anchor='end'>{_axis(top)}</text>",
        _date_ticks(first, last, x, bottom),
    ]
    if plot.forecast:
        shapes.append(f"<path class='b95' d='{band(4, 5)}'/>")
        shapes.append(f"<path class='b80' d='{band(2, 3)}'/>")
    if plot.history:
        line = thin([(x(d), y(v)) for d, v in plot.history])
        shapes.append(f"<path class='h' d='{_path(line)}'/>")
        cut = x(max(d for d, _ in plot.history))
        shapes.append(f"<path class='c' d='M{cut} {PAD_TOP}V{bottom}'/>")
    if plot.forecast:
        line = thin([(x(r[0]), y(r[1])) for r in plot.forecast])
        shapes.append(f"<path class='f' d='{_path(line)}'/>")
    return (
        f"<svg class='s' width='{PLOT_WIDTH}' height='{PLOT_HEIGHT}' role='img' "
        f"aria-label='{escape(plot.sku)} at {escape(plot.location)}'>" + "".join(shapes) + "</svg>"
    )


def _promo_shading(
    days: Sequence[date], first: date, last: date, x: Callable[[date], int], bottom: int
) -> str:
    """One rectangle per run of consecutive promotion days, each day from half a day before to after."""
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
    rects = "".join(
        f"M{x(start) - half:g} {PAD_TOP}H{x(end) + half:g}V{bottom}H{x(start) - half:g}z"
        for start, end in runs
    )
    return f"<path class='p' d='{rects}'/>"


def _date_ticks(first: date, last: date, x: Callable[[date], int], bottom: int) -> str:
    """Tick marks and day-month labels on the first day of each month, or every Monday on short axes."""
    span = (last - first).days
    days = [first + timedelta(days=n) for n in range(span + 1)]
    ticks = [d for d in days if d.day == 1] if span > 60 else [d for d in days if d.weekday() == 0]
    if len(ticks) > 6:  # keep labels from overlapping on a small plot
        ticks = ticks[:: -(-len(ticks) // 6)]
    marks = "".join(f"M{x(d)} {bottom}v3" for d in ticks)
    labels = "".join(
        f"<text x='{x(d)}' y='{bottom + 11}' text-anchor='middle'>{d.day} {d.strftime('%b')}</text>"
        for d in ticks
    )
    return (f"<path class='a' d='{marks}'/>" if marks else "") + labels


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


def _plan_section(rows: Sequence[Mapping[str, Any]], currency: str = "") -> str:
    """Lines that need an order or could not be planned; lines needing nothing are only counted."""
    actionable = sorted(
        (r for r in rows if (r.get("order_qty") or 0) > 0 or r.get("abc") is None),
        key=lambda r: (r.get("abc") is None, r["sku"], r["location"]),
    )
    shown = actionable[:MAX_TABLE_ROWS]
    head = "".join(
        f"<th class='{'t' if n in TEXT_COLUMNS else ''}'>{label}"
        f"{f' ({escape(currency)})' if n in MONEY_COLUMNS and currency else ''}</th>"
        for n, label in PLAN_COLUMNS
    )
    body = "".join(_plan_row(row) for row in shown)
    quiet = len(rows) - len(actionable)
    note = (
        f"<p class='note'>{len(actionable)} of {len(rows)} lines need an order or could not be planned"
        f"{f'; {len(shown)} are shown' if len(shown) < len(actionable) else ''}. The other {quiet} lines "
        "need no order today. Every line, with its reason, is in plan.xlsx, plan.csv and plan.parquet beside "
        "this "
        "report and at GET /v1/replenishment/plan.</p>"
    )
    return f"<h2>Plan</h2>{note}<table><tr>{head}</tr>{body}</table>"


def _plan_row(row: Mapping[str, Any]) -> str:
    cells = []
    for name, _ in PLAN_COLUMNS:
        value = row.get(name)
        if name in TEXT_COLUMNS:
            cells.append(f"<td class='t'>{escape(str(value or ''))}</td>")
        elif name in WHOLE_COLUMNS and value is not None:
            cells.append(f"<td>{value:,.0f}</td>")
        elif name in MONEY_COLUMNS and value is not None:
            cells.append(f"<td>{value:,.2f}</td>")
        elif name == "service_level":
            cells.append(f"<td>{'' if value is None else f'{value:.1%}'}</td>")
        elif isinstance(value, float):
            cells.append(f"<td>{value:,.1f}</td>")
        else:
            cells.append(f"<td>{escape('' if value is None else str(value))}</td>")
    css = " class='order'" if (row.get("order_qty") or 0) > 0 else ""
    return f"<tr{css}>{''.join(cells)}</tr>"
