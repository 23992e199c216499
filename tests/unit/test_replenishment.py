"""Replenishment math on cases worked out by hand."""

from __future__ import annotations

import datetime as dt
import math
import subprocess
import sys

import pyarrow as pa
import pytest
from shelfwise.forecast.replenishment import (
    PLAN_SCHEMA,
    ReplenishmentConfig,
    abc_classes,
    economic_order_quantity,
    lead_time_sum,
    plan_replenishment,
    plan_totals,
    round_order,
    xyz_class,
    z_value,
)

Z_975 = 1.959963984540054
TODAY = dt.date(2024, 6, 30)


def inventory_row(sku: str, **overrides: float) -> dict:
    row = {
        "sku": sku,
        "location": "wh1",
        "on_hand": 20.0,
        "on_order": 10.0,
        "lead_time_days": 4.0,
        "lead_time_sd_days": 1.0,
        "unit_cost": 20.0,
        "order_cost": 50.0,
        "holding_cost_rate": 0.25,
        "service_level": 0.95,
        "moq": 100,
        "pack_size": 24,
    }
    return row | overrides


def flat_forecast(sku: str, mean: float, sd: float, days: int = 28, location: str = "wh1") -> list[dict]:
    return [
        {
            "sku": sku,
            "location": location,
            "ds": TODAY + dt.timedelta(days=day + 1),
            "mean": mean,
            "hi_95": mean + Z_975 * sd,
        }
        for day in range(days)
    ]


def weekly_history(sku: str, weekly_units: list[float]) -> list[dict]:
    rows = []
    for week, units in enumerate(reversed(weekly_units)):
        rows.append(
            {"sku": sku, "location": "wh1", "date": TODAY - dt.timedelta(days=7 * week), "units": units}
        )
    return rows


@pytest.mark.parametrize(
    ("quantity", "moq", "pack", "expected"),
    [
        (37, 50, 12, 60),
        (61, 50, 12, 72),
        (0, 50, 12, 0),
        (48, 0, 12, 48),
        (5.2, 0, 0, 6),
        (270.18, 100, 24, 288),
    ],
)
def test_orders_round_up_to_moq_then_whole_packs(
    quantity: float, moq: float, pack: float, expected: float
) -> None:
    assert round_order(quantity, moq, pack) == expected


def test_eoq_follows_the_square_root_formula() -> None:
    assert economic_order_quantity(3650, 50, 0.25, 20) == pytest.approx(math.sqrt(73000))
    assert economic_order_quantity(0, 50, 0.25, 20) == 0
    assert economic_order_quantity(3650, 50, 0, 20) == 0


def test_abc_boundaries_use_the_value_share_of_items_ranked_above() -> None:
    assert abc_classes([5, 50, 15, 30]) == ["C", "A", "B", "A"]
    assert abc_classes([70, 20, 10]) == ["A", "A", "B"]
    assert abc_classes([100, 0]) == ["A", "C"]
    assert abc_classes([40, 40, 10, 10], thresholds=(0.5, 0.9)) == ["A", "A", "B", "C"]


@pytest.mark.parametrize(
    ("weekly", "expected"),
    [([10, 10, 10, 10], "X"), ([5, 15], "X"), ([0, 20], "Y"), ([0, 0, 30], "Z"), ([0, 0], "Z")],
)
def test_xyz_boundaries_on_weekly_cv(weekly: list[float], expected: str) -> None:
    assert xyz_class(weekly)[0] == expected


def test_lead_time_sum_handles_fractions_and_lead_times_beyond_the_horizon() -> None:
    assert lead_time_sum([1, 2, 3], 1.5) == 2.0
    assert lead_time_sum([1, 2, 3], 5) == 10.0
    assert lead_time_sum([1, 2, 3], 0) == 0.0


def test_plan_row_matches_hand_computed_safety_stock_reorder_point_and_order() -> None:
    result = plan_replenishment(
        pa.Table.from_pylist([inventory_row("P1")]),
        pa.Table.from_pylist(flat_forecast("P1", mean=10, sd=2)),
        pa.Table.from_pylist(weekly_history("P1", [70, 70, 70, 70])),
    )
    row = result.plan.to_pylist()[0]
    # Forecast variance with daily errors correlated at rho = 0.2: 0.8 * (4 * 2^2) + 0.2 * (4 * 2)^2 = 25.6,
    # plus the lead time's own spread d^2 sd_L^2 = 10^2 * 1^2.
    lead_time_sd = math.sqrt(0.8 * 4 * 2**2 + 0.2 * (4 * 2) ** 2 + 10**2 * 1**2)
    safety = z_value(0.95) * lead_time_sd
    assert row["abc"] == "A" and row["xyz"] == "X"
    assert row["lead_time_demand_mean"] == pytest.approx(40)
    assert row["lead_time_demand_sd"] == pytest.approx(lead_time_sd)
    assert row["safety_stock"] == pytest.approx(safety)
    assert row["reorder_point"] == pytest.approx(40 + safety)
    assert row["eoq"] == 288  # sqrt(2 * 3650 * 50 / 5) = 270.2 -> above MOQ 100 -> 12 packs of 24
    assert row["inventory_position"] == 30
    assert row["order_qty"] == 288  # catch-up need 40 + 18.4 - 30 + 10 = 38.4 is below the EOQ
    assert row["reason"].startswith("order 288 (12 packs of 24)")
    assert result.issues == []


def test_expected_demand_sets_lead_time_demand_and_eoq_while_the_intervals_set_the_reorder_point() -> None:
    """Point forecast 10 a day (the median day), expected demand 12 (unknown promotion days included)."""
    forecast = [day | {"expected": 12.0} for day in flat_forecast("P1", mean=10, sd=2)]
    row = plan_replenishment([inventory_row("P1")], forecast).plan.to_pylist()[0]
    # The lead time's own spread now uses the expected daily demand: 12^2 * 1^2.
    lead_time_sd = math.sqrt(0.8 * 4 * 2**2 + 0.2 * (4 * 2) ** 2 + 12**2 * 1**2)
    reorder_point = 40 + z_value(0.95) * lead_time_sd  # the interval's quantile around the point forecasts
    assert row["lead_time_demand_mean"] == pytest.approx(48)
    assert row["reorder_point"] == pytest.approx(reorder_point)
    assert row["safety_stock"] == pytest.approx(reorder_point - 48)
    assert row["eoq"] == 312  # sqrt(2 * 12 * 365 * 50 / 5) = 296.0 -> 13 packs of 24


def test_the_reorder_point_never_falls_below_expected_lead_time_demand() -> None:
    # A narrow interval around a median day far below the expected one (a SKU promoted on unknown days).
    forecast = [day | {"expected": 20.0} for day in flat_forecast("P1", mean=10, sd=0.5)]
    row = plan_replenishment(
        [inventory_row("P1", lead_time_sd_days=0, service_level=0.9)], forecast
    ).plan.to_pylist()[0]
    assert row["lead_time_demand_mean"] == pytest.approx(80)
    assert row["reorder_point"] == pytest.approx(80)
    assert row["safety_stock"] == pytest.approx(0)


@pytest.mark.parametrize(
    ("correlation", "forecast_sd"),
    [
        (0.0, math.sqrt(14 * 2**2)),  # independent days: sqrt(L) * sd
        (1.0, 14 * 2),  # one shared error: L * sd
        (0.5, math.sqrt(0.5 * 14 * 2**2 + 0.5 * (14 * 2) ** 2)),
    ],
)
def test_correlated_daily_errors_widen_a_long_lead_times_demand_spread(
    correlation: float, forecast_sd: float
) -> None:
    row = plan_replenishment(
        [inventory_row("P1", lead_time_days=14, lead_time_sd_days=0)],
        flat_forecast("P1", mean=10, sd=2),
        config=ReplenishmentConfig(daily_error_correlation=correlation),
    ).plan.to_pylist()[0]
    assert row["lead_time_demand_sd"] == pytest.approx(forecast_sd)
    assert row["safety_stock"] == pytest.approx(z_value(0.95) * forecast_sd)


@pytest.mark.parametrize(
    ("service_level", "daily_spread"),
    [
        (0.90, 1.0),  # z 1.28: the 80% interval's upper bound
        (0.975, 2.0),  # z 1.96: the 95% interval's upper bound
        (0.99, 1.0 + (z_value(0.99) - z_value(0.90)) / (Z_975 - z_value(0.90))),  # beyond: 2.54
    ],
)
def test_a_heavy_upper_tail_raises_high_service_levels_safety_stock_more(
    service_level: float, daily_spread: float
) -> None:
    """hi_80 one normal spread above the mean but hi_95 two: the spread follows z through both bounds."""
    forecast = [
        day | {"hi_80": day["mean"] + z_value(0.90) * 1.0, "hi_95": day["mean"] + Z_975 * 2.0}
        for day in flat_forecast("P1", mean=10, sd=0)
    ]
    row = plan_replenishment(
        [inventory_row("P1", lead_time_days=1, lead_time_sd_days=0, service_level=service_level)],
        forecast,
    ).plan.to_pylist()[0]
    assert row["lead_time_demand_sd"] == pytest.approx(daily_spread)
    assert row["safety_stock"] == pytest.approx(z_value(service_level) * daily_spread)


def test_daily_error_correlation_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="daily_error_correlation"):
        ReplenishmentConfig(daily_error_correlation=1.5)


def test_deep_shortfall_orders_more_than_eoq_in_whole_packs() -> None:
    row = plan_replenishment(
        [
            inventory_row(
                "P1", on_hand=0, on_order=0, lead_time_sd_days=0, order_cost=1.0, moq=0, pack_size=10
            )
        ],
        flat_forecast("P1", mean=10, sd=0),
    ).plan.to_pylist()[0]
    # EOQ = sqrt(2 * 3650 / 5) = 38.2 -> 40; need = ROP 40 - IP 0 + one day 10 = 50 -> 50.
    assert row["eoq"] == 40
    assert row["order_qty"] == 50


def test_no_order_above_the_reorder_point() -> None:
    row = plan_replenishment([inventory_row("P1", on_hand=500)], flat_forecast("P1", 10, 2)).plan.to_pylist()[
        0
    ]
    assert row["order_qty"] == 0
    assert row["reason"].startswith("no order: inventory position 510")


def test_class_service_level_applies_when_the_row_has_none() -> None:
    config = ReplenishmentConfig(service_levels={f"{a}{x}": 0.9 for a in "ABC" for x in "XYZ"} | {"AZ": 0.8})
    row = plan_replenishment(
        [inventory_row("P1", service_level=None)], flat_forecast("P1", 10, 2), config=config
    ).plan.to_pylist()[0]
    assert row["service_level"] == 0.8  # no history -> Z; only item -> A
    assert "at 80.0% service (class AZ default)" in row["reason"] and "treated as Z" in row["reason"]


def test_a_service_level_on_the_inventory_row_overrides_the_class_default() -> None:
    config = ReplenishmentConfig(service_levels={f"{a}{x}": 0.9 for a in "ABC" for x in "XYZ"} | {"AZ": 0.8})
    default, overridden = plan_replenishment(
        [inventory_row("P1", service_level=None), inventory_row("P2", service_level=0.99)],
        flat_forecast("P1", 10, 2) + flat_forecast("P2", 10, 2),
        config=config,
    ).plan.to_pylist()
    assert overridden["service_level"] == 0.99 and default["service_level"] == 0.8
    assert "at 99.0% service (set on the inventory row, overriding the class" in overridden["reason"]
    assert overridden["safety_stock"] > default["safety_stock"]  # same demand, higher target


def test_unmatched_inventory_and_sales_are_reported_not_dropped() -> None:
    result = plan_replenishment(
        [inventory_row("stock-only")],
        flat_forecast("sold-only", 3, 1),
    )
    plan = {row["sku"]: row for row in result.plan.to_pylist()}
    assert set(plan) == {"stock-only", "sold-only"}
    assert plan["stock-only"]["order_qty"] is None and "no sales history" in plan["stock-only"]["reason"]
    assert "no inventory record" in plan["sold-only"]["reason"]
    assert {issue["issue"] for issue in result.issues} == {
        "inventory_without_sales",
        "sales_without_inventory",
    }


def test_plan_has_exactly_the_published_columns() -> None:
    assert PLAN_SCHEMA.names == [
        "sku", "location", "title", "abc", "xyz", "service_level", "lead_time_demand_mean",
        "lead_time_demand_sd", "safety_stock", "reorder_point", "eoq", "inventory_position", "order_qty",
        "unit_cost", "order_value", "reason",
    ]  # fmt: skip


SLOW_MOVER = {
    "on_hand": 0.0, "on_order": 0.0, "lead_time_days": 7.0, "lead_time_sd_days": 0.0, "unit_cost": 2.0,
    "order_cost": 50.0, "holding_cost_rate": 0.25, "service_level": 0.95, "moq": 1, "pack_size": 1,
}  # fmt: skip


def _slow_line(config: ReplenishmentConfig, **overrides: float) -> dict:
    # 0.1 units a day, no spread: lead-time demand 0.7 = reorder point (no safety stock), position 0.
    rows = plan_replenishment(
        [inventory_row("slow", **(SLOW_MOVER | overrides))], flat_forecast("slow", 0.1, 0.0), config=config
    ).plan.to_pylist()
    return rows[0]


def test_slow_mover_order_is_capped_by_days_of_supply() -> None:
    # EOQ = sqrt(2 x 36.5/yr x 50 / (0.25 x 2)) = sqrt(7300) = 85.4 -> 86 units, 860 days of demand.
    uncapped = _slow_line(ReplenishmentConfig(max_days_of_supply=None))
    assert uncapped["eoq"] == 86 and uncapped["order_qty"] == 86
    assert "capped" not in uncapped["reason"]
    # 90 days x 0.1/day = 9 units of supply; position 0, so 9 units, worth 9 x 2 = 18.
    capped = _slow_line(ReplenishmentConfig(max_days_of_supply=90))
    assert capped["order_qty"] == 9 and capped["order_value"] == 18.0
    assert "EOQ 86 capped at 90 days of supply (9.0 units at 0.10/day" in capped["reason"]
    # Packs of 4: 9 rounds up to 3 packs = 12, and the reason says so.
    packed = _slow_line(ReplenishmentConfig(max_days_of_supply=90), pack_size=4)
    assert packed["order_qty"] == 12 and "rounded up to MOQ 1 / packs of 4" in packed["reason"]
    # A cap below what the reorder point needs never wins: 5 days = 0.5 units < 0.7 + 0.1 needed -> 1.
    tight = _slow_line(ReplenishmentConfig(max_days_of_supply=5))
    assert tight["order_qty"] == 1 and "raised to what the reorder point needs" in tight["reason"]


def test_a_shorter_shelf_life_tightens_the_cap() -> None:
    # 30 days of shelf life x 0.1/day = 3 units, below the 90-day cap of 9.
    line = _slow_line(ReplenishmentConfig(max_days_of_supply=90), shelf_life_days=30.0)
    assert line["order_qty"] == 3 and "capped at 30 days of shelf life (3.0 units" in line["reason"]
    # A longer shelf life leaves the days-of-supply cap in charge.
    assert _slow_line(ReplenishmentConfig(max_days_of_supply=90), shelf_life_days=400.0)["order_qty"] == 9


def test_plan_totals_sum_order_value_per_location() -> None:
    rows = [
        {"sku": "a", "location": "north", "order_qty": 12.0, "order_value": 30.0},
        {"sku": "b", "location": "north", "order_qty": 0.0, "order_value": 0.0},
        {"sku": "a", "location": "south", "order_qty": 5.0, "order_value": 12.5},
        {"sku": "c", "location": "south", "order_qty": None, "order_value": None},
    ]
    totals = plan_totals(rows)
    assert (totals["lines"], totals["needing_order"], totals["order_units"]) == (4, 2, 17)
    assert totals["order_value"] == 42.5
    assert totals["by_location"]["north"] == {
        "lines": 2, "needing_order": 1, "order_units": 12, "order_value": 30.0
    }  # fmt: skip
    assert totals["by_location"]["south"]["order_value"] == 12.5


def test_plan_lines_carry_catalog_titles() -> None:
    rows = plan_replenishment(
        [inventory_row("slow", **SLOW_MOVER)],
        flat_forecast("slow", 0.1, 0.0),
        titles={"slow": "Spaghetti n.5, 500 g"},
    ).plan.to_pylist()
    assert rows[0]["title"] == "Spaghetti n.5, 500 g"


def test_replenishment_imports_without_pandas_or_statsforecast() -> None:
    code = (
        "import sys, shelfwise.forecast.replenishment, shelfwise.forecast.sharding, "
        "shelfwise.forecast.metrics, shelfwise.forecast.schema;"
        "heavy = {'pandas', 'statsforecast'} & set(sys.modules); assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
