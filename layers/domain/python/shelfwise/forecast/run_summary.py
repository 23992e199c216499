"""The run summary: `summary.json`, the report's first section and the figures of the ready event.

Its own module because deciding what a run tells its reader (which data issues to name, with how many
examples, and the plan in a few numbers) is a separate concern from collecting the shards' outputs and
writing the files, which stay in `finalize`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from shelfwise.forecast import layout
from shelfwise.forecast.collected import Collected, Key
from shelfwise.forecast.replenishment import plan_totals
from shelfwise.forecast.workflow import FinalizeStep

MAX_EXAMPLES = 20


def _issue(keys: Iterable[Any], **extra: Any) -> dict[str, Any]:
    ordered = sorted(keys)
    examples = ["@".join(key) if isinstance(key, tuple) else str(key) for key in ordered[:MAX_EXAMPLES]]
    return {"count": len(ordered), "examples": examples, **extra}


def build_summary(
    step: FinalizeStep,
    collected: Collected,
    inventory: pa.Table,
    plan_issues: list[dict[str, str]],
    rows: list[dict[str, Any]],
    accuracy: list[dict[str, Any]],
    bucket: str,
    currency: str = "EUR",
) -> dict[str, Any]:
    """The run's `summary.json`: counts, data issues, the plan in figures, accuracy, files written."""
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
            (k for k, n in inventory_keys.items() if n > 1), note="the newest file's row is used"
        ),
    }
    data_issues.update(plan.issues)
    data_issues = {
        name: value
        for name, value in data_issues.items()
        if not (isinstance(value, dict) and value.get("count") == 0)
    }
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
        # Totals per location too: a buyer signs off spend per warehouse, in the deployment's currency.
        "plan": plan_totals(rows)
        | {"not_planned": sum(1 for row in rows if row.get("abc") is None), "currency": currency},
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
