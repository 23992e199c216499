"""The replenishment report as a buyer sees it: rendered by the system's Chromium, read off the page.

Checks what a person looks for (titles beside SKU codes, order values and totals in the currency, dated plot
axes, whole quantities) in the rendered page rather than in the HTML source, and that the page fits a laptop
screen; a screenshot is kept under the test's temporary folder for a human look.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from pathlib import Path

import pytest
from shelfwise.forecast.report import ReportInput, SeriesPlot, render_report

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
AS_OF = dt.date(2018, 11, 30)


def require_chromium() -> None:
    if CHROMIUM.is_file():
        return
    reason = f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def report_html() -> str:
    history = [(AS_OF - dt.timedelta(days=n), 5 + 3 * math.sin(n)) for n in range(90, -1, -1)]
    forecast = [(AS_OF + dt.timedelta(days=n), 6.0, 4.0, 8.0, 3.0, 9.5) for n in range(1, 29)]
    line = {
        "sku": "B1_1", "title": "Spaghetti n.5, 500 g", "location": "store", "abc": "A", "xyz": "X",
        "service_level": 0.99, "lead_time_demand_mean": 42.3, "lead_time_demand_sd": 6.1,
        "safety_stock": 14.2, "reorder_point": 56.5, "eoq": 120.0, "inventory_position": 30.0,
        "order_qty": 120.0, "unit_cost": 0.85, "order_value": 102.0, "reason": "order 120 (10 packs of 12)",
    }  # fmt: skip
    totals = {"lines": 1, "needing_order": 1, "order_units": 120, "order_value": 1234.5}
    summary = {"plan": totals | {"currency": "CHF", "by_location": {"store": totals}}}
    plot = SeriesPlot("B1_1", "store", "order 120", history, forecast, title="Spaghetti n.5, 500 g")
    return render_report(
        ReportInput(AS_OF + dt.timedelta(days=1), AS_OF, summary, [], [plot], [line], largest_count=1)
    )


def test_a_buyer_sees_titles_values_dated_axes_and_whole_quantities(tmp_path: Path) -> None:
    require_chromium()
    from playwright.sync_api import sync_playwright

    page_file = tmp_path / "report.html"
    page_file.write_text(report_html(), encoding="utf-8")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(page_file.as_uri())
            text = page.inner_text("body")
            axis_labels = page.locator("svg text").all_text_contents()
            plan_cells = page.locator("h2:text('Plan') ~ table tr").nth(1).locator("td").all_inner_texts()
            fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()
    assert "B1_1 @ store Spaghetti n.5, 500 g" in text
    assert "order value (CHF)" in text and "1,234.50" in text
    assert {"1 Sep", "1 Oct", "1 Nov", "1 Dec"} <= set(axis_labels)
    assert plan_cells[:3] == ["B1_1", "Spaghetti n.5, 500 g", "store"]
    assert "120" in plan_cells and "120.0" not in plan_cells and "102.00" in plan_cells
    assert fits, "the report is wider than a laptop screen"
    assert (tmp_path / "report.png").stat().st_size > 10_000
