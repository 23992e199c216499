"""The forecast run's light parts: workflow events, S3 layout, stored items, accuracy and the HTML report."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from pydantic import ValidationError
from shelfwise.forecast import layout, store
from shelfwise.forecast.accuracy import daily_actuals, score_previous_runs
from shelfwise.forecast.report import (
    ReportInput,
    SeriesPlot,
    render_report,
    select_plots,
    series_svg,
    thin,
)
from shelfwise.forecast.workflow import DEFAULT_HORIZON, DEFAULT_SHARD_SIZE, PlanStep, ScheduledEvent

DAY = dt.date(2025, 6, 1)
FORECAST_API = Path(__file__).resolve().parents[2] / "functions" / "forecast_api" / "app.py"


def test_schedule_detail_sets_horizon_as_of_and_shard_size_from_strings() -> None:
    event = ScheduledEvent.model_validate(
        {
            "time": "2025-06-02T02:00:00Z",
            "detail": {"horizon": "14", "as_of": "2025-05-31", "shard_size": "100"},
        }
    )
    assert (event.detail.horizon, event.detail.as_of, event.detail.shard_size) == (
        14,
        DAY - dt.timedelta(1),
        100,
    )
    defaults = ScheduledEvent.model_validate({"detail": {}}).detail
    assert (defaults.horizon, defaults.as_of, defaults.shard_size, defaults.report_max_plots) == (
        DEFAULT_HORIZON,
        None,
        DEFAULT_SHARD_SIZE,
        1000,
    )


@pytest.mark.parametrize(
    ("detail", "field"),
    [
        ({"horizon": "0"}, "horizon"),
        ({"horizon": "a week"}, "horizon"),
        ({"as_of": "31/05/2025"}, "as_of"),
        ({"report_max_plots": "-1"}, "report_max_plots"),
        ({"report_max_plots": "1000000"}, "report_max_plots"),  # no Lambda response could carry it
    ],
)
def test_bad_schedule_settings_name_their_field(detail: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        PlanStep.model_validate({"step": "plan", "run_id": "r1", "scheduled_event": {"detail": detail}})
    assert raised.value.errors()[0]["loc"] == ("scheduled_event", "detail", field)


def test_run_ids_that_would_escape_the_run_folder_are_refused() -> None:
    with pytest.raises(ValidationError):
        PlanStep.model_validate({"step": "plan", "run_id": "../plans"})


def test_layout_keys_and_reading_a_plan_date_back() -> None:
    assert layout.shard_input_key("r1", 7) == "forecasts/runs/r1/input/shard-0007.parquet"
    assert layout.plan_key(DAY, "report.html") == "plans/2025-06-01/report.html"
    assert layout.plan_date_from_daily_key(layout.daily_forecasts_key(DAY)) == DAY
    assert layout.plan_date_from_daily_key("forecasts/daily/not-a-date/forecasts.parquet") is None
    with pytest.raises(ValueError, match="unknown plan file"):
        layout.plan_key(DAY, "secrets.txt")


def test_forecast_points_round_trip_through_the_compact_item() -> None:
    points = [(DAY, 3.14159, 1.0, 5.0, 0.0, 7.25), (DAY + dt.timedelta(1), 2.0, 1.0, 3.0, 0.5, 4.0)]
    item = store.forecast_item(
        "sku-1", "north", points, model="ets_ana", demand_class="smooth", plan_date=DAY, as_of=DAY, run_id="r"
    )
    assert json.loads(item["points"])[0] == ["2025-06-01", 3.142, 1.0, 5.0, 0.0, 7.25, 0]
    decoded = store.decode_points(item["points"])
    assert decoded[1].date == DAY + dt.timedelta(1) and decoded[1].hi_95 == 4.0
    assert not decoded[0].promo


def test_promotion_days_are_flagged_in_stored_points_and_old_items_still_read() -> None:
    points = [(DAY, 9.0, 6.0, 12.0, 5.0, 14.0, True), (DAY + dt.timedelta(1), 4.0, 2.0, 6.0, 1.0, 8.0, False)]
    decoded = store.decode_points(store.encode_points(points))
    assert [point.promo for point in decoded] == [True, False]
    assert decoded[0].model_dump()["promo"] is True
    # Items written before promotions were planned have six-element rows: no promotion day.
    (old,) = store.decode_points('[["2025-06-01",3.0,1.0,5.0,0.0,7.0]]')
    assert old.mean == 3.0 and old.promo is False and old.expected is None


def test_expected_demand_is_stored_after_the_promotion_flag() -> None:
    points = [(DAY, 3.0, 1.0, 5.0, 0.0, 7.0, False, 4.12345)]
    item = store.forecast_item(
        "sku-1",
        "north",
        points,
        model="combo_smooth",
        demand_class="smooth",
        plan_date=DAY,
        as_of=DAY,
        run_id="r",
    )
    assert json.loads(item["points"])[0] == ["2025-06-01", 3.0, 1.0, 5.0, 0.0, 7.0, 0, 4.123]
    (decoded,) = store.decode_points(item["points"])
    assert decoded.mean == 3.0 and decoded.expected == 4.123


def test_plan_items_keep_missing_figures_as_null_and_flag_orders() -> None:
    row = {"sku": "a", "location": "b", "order_qty": 12.0, "safety_stock": float("nan"), "reason": "order 12"}
    item = store.plan_item(DAY, row, "r1")
    assert item["item_key"] == "a#b" and item["needs_order"] is True
    assert item["safety_stock"] is None and str(item["order_qty"]) == "12.0"
    assert store.plan_item(DAY, {"sku": "a", "location": "b", "reason": "x"}, "r1")["needs_order"] is False


def test_the_forecast_api_function_loads_without_pandas_pyarrow_or_statsforecast() -> None:
    # The zip function ships with the domain layer only; importing any of these there would fail in AWS.
    code = (
        "import importlib.util, sys; "
        f"spec = importlib.util.spec_from_file_location('forecast_api_app', {str(FORECAST_API)!r}); "
        "spec.loader.exec_module(importlib.util.module_from_spec(spec)); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pandas', 'pyarrow', 'statsforecast'}))"
    )
    environment = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_SERVICE_NAME": "test"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environment
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


def forecast_table(plan_date: dt.date, means: list[float], width: float) -> pa.Table:
    days = [plan_date + dt.timedelta(days=n) for n in range(len(means))]
    return pa.table(
        {
            "sku": ["a"] * len(means),
            "location": ["n"] * len(means),
            "ds": pa.array(days, pa.date32()),
            "mean": means,
            "lo_80": [max(m - width, 0) for m in means],
            "hi_80": [m + width for m in means],
            "lo_95": [max(m - 2 * width, 0) for m in means],
            "hi_95": [m + 2 * width for m in means],
        }
    )


def test_previous_runs_are_scored_on_the_days_observed_since_with_missing_days_as_zero() -> None:
    sales = pa.table(
        {
            "sku": ["a", "a", "a", "a"],
            "location": ["n"] * 4,
            "date": pa.array([DAY, DAY, DAY + dt.timedelta(1), DAY + dt.timedelta(3)], pa.date32()),
            "units": [4.0, 6.0, 10.0, -2.0],  # DAY sold twice; a return on day 3 is no demand; day 2 missing
        }
    )
    previous = {DAY: forecast_table(DAY, [10.0, 10.0, 10.0, 10.0, 10.0], width=1.0)}

    (scored,) = score_previous_runs(previous, daily_actuals(sales), DAY + dt.timedelta(3), pa.array(["a|n"]))

    assert scored.days == 4 and scored.points == 4 and scored.actual_units == 20.0
    assert scored.wape == pytest.approx((0 + 0 + 10 + 10) / 20)
    assert scored.bias == pytest.approx((40 - 20) / 20)
    assert scored.coverage_95 == 0.5


def test_bias_sums_the_expected_demand_and_wape_the_point_forecast() -> None:
    sales = pa.table(
        {
            "sku": ["a", "a"],
            "location": ["n", "n"],
            "date": pa.array([DAY, DAY + dt.timedelta(1)], pa.date32()),
            "units": [8.0, 16.0],  # a promotion nobody announced on the second day
        }
    )
    # Median days of 8, expected days of 12 (one day in three promoted at 2.5x).
    table = forecast_table(DAY, [8.0, 8.0], width=1.0).append_column("expected", pa.array([12.0, 12.0]))

    (scored,) = score_previous_runs(
        {DAY: table}, daily_actuals(sales), DAY + dt.timedelta(1), pa.array(["a|n"])
    )

    assert scored.forecast_units == 24.0 and scored.bias == 0.0
    assert scored.wape == round(8 / 24, 4)


def test_runs_whose_days_are_all_in_the_future_are_not_scored() -> None:
    previous = {DAY: forecast_table(DAY, [1.0, 1.0], width=1.0)}
    empty = pa.table(
        {
            "sku": pa.array([], pa.string()),
            "location": pa.array([], pa.string()),
            "date": pa.array([], pa.date32()),
            "units": pa.array([], pa.float64()),
        }
    )
    assert score_previous_runs(previous, daily_actuals(empty), DAY - dt.timedelta(1), pa.array(["a|n"])) == []


def plot(sku: str) -> SeriesPlot:
    history = [(DAY - dt.timedelta(days=n), float(n % 5)) for n in range(14, 0, -1)]
    forecast = [(DAY + dt.timedelta(days=n), 2.0, 1.0, 3.0, 0.5, 4.0) for n in range(7)]
    return SeriesPlot(sku=sku, location="north", caption="order 12 <now>", history=history, forecast=forecast)


def test_series_plot_is_inline_svg_with_bands_history_and_forecast() -> None:
    svg = series_svg(plot("a"))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    for part in ("b95", "b80", "h", "f", "c"):  # 95% and 80% bands, history, forecast, as-of line
        assert svg.count(f"<path class='{part}'") == 1, part


def busy_plot(sku: str, rng_seed: int = 0) -> SeriesPlot:
    """Eight weeks of noisy daily sales with a quiet week, and a 28-day forecast with intervals."""
    rng = np.random.default_rng(rng_seed)
    history = [
        (DAY - dt.timedelta(days=56 - n), 0.0 if 20 <= n < 27 else float(rng.poisson(40))) for n in range(56)
    ]
    forecast = []
    for n in range(28):
        mean = 40 + 8 * np.sin(n / 7 * 2 * np.pi)
        forecast.append((DAY + dt.timedelta(days=n), mean, mean - 9, mean + 9, mean - 15, mean + 15))
    return SeriesPlot(sku=sku, location="north", caption="order 12", history=history, forecast=forecast)


def test_a_small_multiple_of_eight_weeks_and_a_28_day_forecast_stays_near_a_kilobyte() -> None:
    svg = series_svg(busy_plot("a"))
    assert len(svg.encode()) < 1600
    assert "l0 0 0 0" not in svg  # the quiet week is one flat segment, not seven points


def test_thinning_keeps_peaks_and_drops_only_points_on_straight_runs() -> None:
    flat_then_peak = [(0, 50), (2, 50), (4, 50), (6, 50), (8, 10), (10, 50)]
    assert thin(flat_then_peak) == [(0, 50), (6, 50), (8, 10), (10, 50)]
    # Several days in one pixel column: first, lowest, highest and last survive, in order.
    crowded = [(0, 30), (1, 20), (1, 5), (1, 40), (1, 25), (2, 30)]
    assert thin(crowded) == [(0, 30), (1, 20), (1, 5), (1, 40), (1, 25), (2, 30)]
    same_column = [(1, 20), (1, 22), (1, 24), (1, 21)]
    assert thin(same_column) == [(1, 20), (1, 24), (1, 21)]
    assert thin([(3, 3)]) == [(3, 3)] and thin([]) == []


def test_every_line_needing_an_order_is_plotted_once_beside_the_largest() -> None:
    largest = [("big", "n"), ("big", "s")]
    orders = [("o1", "n"), ("big", "s"), ("o2", "n")]  # biggest order value first

    selection = select_plots(largest, orders, max_plots=1000)

    assert selection.largest == largest and selection.orders == [("o1", "n"), ("o2", "n")]
    assert selection.orders_plotted == selection.orders_total == 3 and selection.orders_left_out == 0
    assert selection.note() == "All 3 lines that need an order are plotted."


def test_when_the_plot_cap_bites_the_report_says_exactly_how_many_lines_are_left_out() -> None:
    orders = [(f"o{n:03d}", "n") for n in range(250)]

    selection = select_plots([("big", "n"), ("o000", "n")], orders, max_plots=100)

    assert selection.orders == orders[1:99] and selection.orders_plotted == 99
    assert selection.orders_left_out == 151
    assert selection.note().startswith("250 lines need an order; 99 are plotted (largest order value first)")
    assert "151 are left out: this report plots at most 100 series" in selection.note()
    assert "plan.csv" in selection.note()
    assert select_plots([], [], 0).note() == "No line needs an order today."


def test_report_escapes_data_and_holds_summary_accuracy_plots_and_plan() -> None:
    rows = [
        {"sku": "<b>x</b>", "location": "north", "order_qty": 12.0, "abc": "A", "reason": "order 12"},
        {"sku": "y", "location": "north", "order_qty": 0.0, "abc": "C", "reason": "no order"},
    ]
    html = render_report(
        ReportInput(
            plan_date=DAY,
            as_of=DAY - dt.timedelta(1),
            summary={
                "plan": {"lines": 2, "needing_order": 1},
                "data_issues": {"all_zero_sales": {"count": 1, "examples": ["z@n"]}},
            },
            accuracy=[
                {
                    "plan_date": "2025-05-20",
                    "days": 7,
                    "series": 2,
                    "actual_units": 30.0,
                    "forecast_units": 33.0,
                    "wape": 0.2,
                    "bias": 0.1,
                    "coverage_80": 0.8,
                    "coverage_95": 0.95,
                }
            ],
            plots=[plot("x"), plot("y")],
            plan_rows=rows,
            largest_count=1,
        )
    )
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert "order 12 &lt;now&gt;" in html and html.count("<svg") == 2
    assert "20.0%" in html and "z@n" in html
    assert "1 of 2 lines need an order" in html and ">y<" not in html  # quiet lines are only counted
    assert "<script" not in html
    assert html.index("Largest forecast volume") < html.index("x @ north") < html.index("Lines that need")
    assert html.index("Lines that need an order") < html.index("y @ north")


def test_a_report_with_a_thousand_order_plots_stays_small_and_self_contained() -> None:
    plots = [busy_plot(f"sku-{n:04d}", rng_seed=n) for n in range(1000)]
    rows = [
        {"sku": p.sku, "location": "north", "order_qty": 6.0, "abc": "B", "reason": "order 6"} for p in plots
    ]
    html = render_report(
        ReportInput(
            plan_date=DAY,
            as_of=DAY - dt.timedelta(1),
            summary={"plan": {"lines": 1000, "needing_order": 1000}},
            accuracy=[],
            plots=plots,
            plan_rows=rows,
            notes=["All 1000 lines that need an order are plotted."],
        )
    )
    assert html.count("<svg") == 1000 and "sku-0999 @ north" in html
    assert len(html.encode()) < 2_000_000  # about 1.5 KB per plot and its caption, plus the 500-row table
    assert "<script" not in html and "http" not in html  # nothing loaded from elsewhere


def test_a_sku_with_quotes_cannot_leave_its_attribute_or_caption() -> None:
    hostile = "x' onmouseover='alert(1)"
    svg = series_svg(replace(plot("a"), sku=hostile, location="<script>north</script>"))
    html = render_report(
        ReportInput(
            plan_date=DAY,
            as_of=DAY - dt.timedelta(1),
            summary={},
            accuracy=[],
            plots=[replace(plot("a"), sku=hostile, title="<i>Pasta</i>")],
            plan_rows=[{"sku": hostile, "location": "n", "order_qty": 1.0, "abc": "A", "reason": "r"}],
        )
    )
    for page in (svg, html):
        assert "onmouseover='" not in page and "<script>" not in page and "<i>" not in page
    assert "x&#39; onmouseover=&#39;alert(1)" in html and "&lt;i&gt;Pasta&lt;/i&gt;" in html
