"""The replenishment plan as an Excel workbook (openpyxl) a buyer opens without importing a CSV.

Sheet "Plan": one row per line, lines needing an order first (largest order value first), whole-number
quantities, money in the deployment's currency, header frozen and filterable. Sheet "Totals": lines, units
and order value overall and per location. openpyxl is imported on use: only the forecast container image
(which pins it) writes workbooks.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

# (field, header, number format); None keeps the cell as text.
COLUMNS: tuple[tuple[str, str, str | None], ...] = (
    ("sku", "SKU", None),
    ("title", "Title", None),
    ("location", "Location", None),
    ("order_qty", "Order qty", "#,##0"),
    ("unit_cost", "Unit cost", "#,##0.00"),
    ("order_value", "Order value", "#,##0.00"),
    ("inventory_position", "Position", "#,##0"),
    ("reorder_point", "Reorder point", "#,##0.0"),
    ("safety_stock", "Safety stock", "#,##0.0"),
    ("lead_time_demand_mean", "Lead-time demand", "#,##0.0"),
    ("eoq", "EOQ", "#,##0"),
    ("abc", "ABC", None),
    ("xyz", "XYZ", None),
    ("service_level", "Service level", "0.0%"),
    ("reason", "Reason", None),
)
WHOLE = {"order_qty", "inventory_position", "eoq"}


def ordered_lines(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Lines to order first, largest order value first; then the rest by SKU and location."""
    return sorted(
        rows,
        key=lambda r: (
            not (r.get("order_qty") or 0) > 0,
            -(r.get("order_value") or 0.0),
            r["sku"],
            r["location"],
        ),
    )


def plan_xlsx(
    rows: Sequence[Mapping[str, Any]], totals: Mapping[str, Any], plan_date: date, currency: str
) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Plan"
    headers = [
        f"{label} ({currency})" if name in ("unit_cost", "order_value") else label
        for name, label, _ in COLUMNS
    ]
    sheet.append(headers)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in ordered_lines(rows):
        values = []
        for name, _, _ in COLUMNS:
            value = row.get(name)
            if name in WHOLE and value is not None:
                value = round(value)
            values.append(value)
        sheet.append(values)
    for index, (_, _, number_format) in enumerate(COLUMNS, start=1):
        if number_format is None:
            continue
        for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
            cell.number_format = number_format
    sheet.freeze_panes = "B2"
    sheet.auto_filter.ref = sheet.dimensions
    for letter, width in zip("ABC", (14, 32, 12), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.column_dimensions["O"].width = 80

    summary = workbook.create_sheet("Totals")
    summary.append([f"Replenishment plan for {plan_date.isoformat()}"])
    summary.append(["Location", "Lines", "Lines to order", "Units to order", f"Order value ({currency})"])
    for cell in summary[2]:
        cell.font = Font(bold=True)
    for location, figures in totals.get("by_location", {}).items():
        summary.append(_totals_row(location, figures))
    summary.append(_totals_row("All locations", totals))
    for cell in summary[summary.max_row]:
        cell.font = Font(bold=True)
    for (cell,) in summary.iter_rows(min_row=3, min_col=5, max_col=5):
        cell.number_format = "#,##0.00"
    summary.column_dimensions["A"].width = 18
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _totals_row(label: str, figures: Mapping[str, Any]) -> list[Any]:
    return [
        label,
        figures.get("lines", 0),
        figures.get("needing_order", 0),
        figures.get("order_units", 0),
        figures.get("order_value", 0.0),
    ]
