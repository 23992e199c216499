"""Replenishment plan from daily forecasts, inventory parameters and sales history (numpy and pyarrow only).

Per sku and location:
- ABC by yearly demand value (expected daily demand x 365 x unit cost): ranked by value, an item is A while
  the items above it hold less than 80% of the total value, B below 95%, C after (thresholds configurable).
- XYZ by the coefficient of variation of weekly units over recent history: X <= 0.5 < Y <= 1.0 < Z.
- Service level: the inventory row's `service_level` when it is set (0 < s < 1), else the ABC-XYZ table
  (`ReplenishmentConfig.service_levels`); the reason says which one applied.
- Lead-time demand over L = lead_time_days: sum of the forecasts' expected daily demand over the first L days
  (fractional days pro rata; beyond the horizon at the horizon's average rate). Expected, not the point
  forecast: without a promotion calendar the point forecast is a day's median, below what the series sells
  on average when some unknown days are promoted: on the 50 validation cutoffs the point forecasts of a
  history-only run summed to 75-80% of actual lead-time demand, the expected demand to 92-98%
  (benchmarks/replenishment_service.py --validation).
- Daily spread at the service level's z: read off the upper interval bounds (the lower ones are clipped at
  zero), s_80 = (hi_80 - mean) / 1.28 and s_95 = (hi_95 - mean) / 1.96, linear in z through those two points
  (and beyond them), so a day whose upper tail is heavier than a normal one gets more safety stock at 99%
  than at 90%. Without hi_80 in the forecasts, s_95 at every level.
- Daily errors of a series are correlated (a level error persists for days), with correlation rho
  (`ReplenishmentConfig.daily_error_correlation`): over the lead time the forecast variance is
  (1 - rho) * sum(s_d^2) + rho * (sum s_d)^2, and
  sd_LT = sqrt(that + d^2 * sd_L^2), with d the mean daily demand over the lead time and sd_L the lead time's
  own sd in days. rho = 0.2 was chosen on validation windows; independent days (rho = 0) left a 14-day
  lead time's 99% target achieved 94.6% of the time (docs/benchmarks.md, Replenishment).
- Reorder point ROP = the sum of the daily point forecasts over L + z(service level) * sd_LT (the intervals
  are centred on the point forecasts), but never below the lead-time demand; safety stock SS = ROP - lead-time
  demand.
- EOQ = sqrt(2 D S / (h c)) with D yearly demand, S order cost, h holding cost rate, c unit cost; rounded up
  to the MOQ, then up to a whole number of packs.
- Policy, continuous review (s, Q) with catch-up: inventory position IP = on hand + on order. When IP <= ROP,
  order max(EOQ, ROP - IP + d * review_period_days), rounded up to MOQ and packs, so that after ordering the
  position clears the reorder point by at least one review period of demand even after a demand spike.
  Otherwise order nothing.
- Slow and intermittent movers: EOQ's cost balance can ask for months of stock of an item that sells one
  unit a week (capital, shelf space and obsolescence it does not price). The order is therefore capped so the
  position after ordering covers at most `max_days_of_supply` days of forecast demand, never below what the
  reorder point needs; the reason names the cap. An inventory row's `shelf_life_days`, when it has one,
  tightens the cap to the shelf life. Quantities are whole units (MOQ and packs are whole).
- Value: order_value = order_qty x unit_cost, in the deployment currency; `plan_totals` sums it by location.

Rows are never dropped: inventory without forecasts (no sales) and forecasts without inventory appear in the
plan with empty figures and a reason, and are listed in `issues`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
import pyarrow as pa

from shelfwise.forecast.schema import expected_column

PLAN_SCHEMA = pa.schema(
    [
        pa.field("sku", pa.string()),
        pa.field("location", pa.string()),
        pa.field("title", pa.string()),
        pa.field("abc", pa.string()),
        pa.field("xyz", pa.string()),
        pa.field("service_level", pa.float64()),
        pa.field("lead_time_demand_mean", pa.float64()),
        pa.field("lead_time_demand_sd", pa.float64()),
        pa.field("safety_stock", pa.float64()),
        pa.field("reorder_point", pa.float64()),
        pa.field("eoq", pa.float64()),
        pa.field("inventory_position", pa.float64()),
        pa.field("order_qty", pa.float64()),
        pa.field("unit_cost", pa.float64()),
        pa.field("order_value", pa.float64()),
        pa.field("reason", pa.string()),
    ]
)
Z_90 = NormalDist().inv_cdf(0.90)
Z_975 = NormalDist().inv_cdf(0.975)

DEFAULT_SERVICE_LEVELS: dict[str, float] = {
    "AX": 0.99, "AY": 0.98, "AZ": 0.95,
    "BX": 0.97, "BY": 0.95, "BZ": 0.92,
    "CX": 0.95, "CY": 0.92, "CZ": 0.90,
}  # fmt: skip


@dataclass(frozen=True)
class ReplenishmentConfig:
    abc_thresholds: tuple[float, float] = (0.80, 0.95)
    xyz_thresholds: tuple[float, float] = (0.5, 1.0)
    xyz_weeks: int = 26
    service_levels: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SERVICE_LEVELS))
    review_period_days: float = 1.0
    days_per_year: float = 365.0
    # Most days of forecast demand the position may cover after an order (None: no cap).
    max_days_of_supply: float | None = 90.0
    # Correlation of a series' daily forecast errors within the lead time; chosen on validation windows so
    # that stated service levels are achieved (benchmarks/replenishment_service.py).
    daily_error_correlation: float = 0.2

    def __post_init__(self) -> None:
        if self.max_days_of_supply is not None and self.max_days_of_supply <= 0:
            raise ValueError("max_days_of_supply must be positive (or None for no cap)")
        if not 0 <= self.daily_error_correlation <= 1:
            raise ValueError("daily_error_correlation must be between 0 and 1")


@dataclass(frozen=True)
class DailyDemand:
    """One series' forecast in date order: daily point forecasts (the centre the interval bounds are read
    from), normal-equivalent spreads at z 1.28 and 1.96, and expected demand (the point forecasts when the
    forecasts carry none)."""

    means: np.ndarray
    spread_80: np.ndarray
    spread_95: np.ndarray
    expected: np.ndarray

    def spread_at(self, z: float) -> np.ndarray:
        """Each day's spread at quantile z, linear in z through the two interval bounds' spreads."""
        slope = (self.spread_95 - self.spread_80) / (Z_975 - Z_90)
        return np.clip(self.spread_80 + slope * (z - Z_90), 0.0, None)


@dataclass(frozen=True)
class PlanResult:
    plan: pa.Table
    issues: list[dict[str, str]]


def z_value(service_level: float) -> float:
    return NormalDist().inv_cdf(service_level)


def round_order(quantity: float, moq: float, pack_size: float) -> float:
    """Up to the MOQ, then up to whole packs; nothing when nothing is needed."""
    if quantity <= 0:
        return 0.0
    pack = pack_size if pack_size >= 1 else 1.0
    return float(math.ceil(max(quantity, moq) / pack - 1e-9) * pack)


def economic_order_quantity(
    yearly_demand: float, order_cost: float, holding_rate: float, unit_cost: float
) -> float:
    holding = holding_rate * unit_cost
    if yearly_demand <= 0 or order_cost <= 0 or holding <= 0:
        return 0.0
    return math.sqrt(2.0 * yearly_demand * order_cost / holding)


def abc_classes(values: np.ndarray, thresholds: tuple[float, float] = (0.80, 0.95)) -> list[str]:
    """Ranked by value, an item is A while the items above it hold less than thresholds[0] of the total."""
    values = np.asarray(values, dtype=float)
    total = values.sum()
    if values.size == 0:
        return []
    order = np.argsort(-values, kind="stable")
    share_above = np.concatenate([[0.0], np.cumsum(values[order])[:-1]]) / (total if total > 0 else 1.0)
    ranked = np.where(share_above < thresholds[0], "A", np.where(share_above < thresholds[1], "B", "C"))
    classes = np.empty(values.size, dtype=object)
    classes[order] = ranked
    classes[values <= 0] = "C"
    return [str(c) for c in classes]


def xyz_class(weekly_units: np.ndarray, thresholds: tuple[float, float] = (0.5, 1.0)) -> tuple[str, float]:
    weekly = np.asarray(weekly_units, dtype=float)
    mean = weekly.mean() if weekly.size else 0.0
    if mean <= 0:
        return "Z", float("inf")
    cv = float(weekly.std() / mean)
    return ("X" if cv <= thresholds[0] else "Y" if cv <= thresholds[1] else "Z"), cv


def lead_time_sum(daily: np.ndarray, lead_time_days: float) -> float:
    """Sum over the first `lead_time_days` days, pro rata for a fraction, at the average rate past the end."""
    daily = np.asarray(daily, dtype=float)
    if lead_time_days <= 0 or daily.size == 0:
        return 0.0
    whole = math.floor(lead_time_days)
    covered = daily[: min(whole, daily.size)].sum()
    if whole < daily.size:
        return float(covered + (lead_time_days - whole) * daily[whole])
    return float(covered + (lead_time_days - daily.size) * daily.mean())


def plan_replenishment(
    inventory: Any,
    forecasts: Any,
    history: Any = None,
    config: ReplenishmentConfig | None = None,
    titles: Mapping[str, str] | None = None,
) -> PlanResult:
    """The plan: one row per sku and location seen in the inventory or the forecasts.

    `inventory` has the curated inventory columns, `forecasts` at least sku, location, ds, mean, hi_95, and
    the optional `history` sku, location, date, units (for XYZ); each as an Arrow table, a pandas frame or a
    list of row dicts. `titles` maps SKUs to catalog titles shown beside them."""
    config = config or ReplenishmentConfig()
    titles = titles or {}
    inventory_rows = {(r["sku"], r["location"]): r for r in _as_table(inventory).to_pylist()}
    series = _forecast_arrays(_as_table(forecasts))
    weekly = _weekly_history(_as_table(history), config.xyz_weeks) if history is not None else {}

    matched = [key for key in inventory_rows if key in series]
    yearly = {key: float(series[key].expected.mean()) * config.days_per_year for key in matched}
    value = [yearly[key] * float(inventory_rows[key]["unit_cost"] or 0.0) for key in matched]
    abc = dict(zip(matched, abc_classes(np.array(value), config.abc_thresholds), strict=True))

    rows: list[dict[str, Any]] = []
    issues: list[dict[str, str]] = []
    for key in sorted(set(inventory_rows) | set(series)):
        sku, location = key
        if key not in series:
            reason = "no sales history for this sku and location: not forecast, not planned"
            issues.append({"sku": sku, "location": location, "issue": "inventory_without_sales"})
            rows.append(_empty_row(sku, location, reason))
        elif key not in inventory_rows:
            reason = "no inventory record: stock, lead time and costs unknown, not planned"
            issues.append({"sku": sku, "location": location, "issue": "sales_without_inventory"})
            rows.append(_empty_row(sku, location, reason))
        else:
            xyz, _ = xyz_class(weekly[key], config.xyz_thresholds) if key in weekly else ("Z", float("inf"))
            rows.append(_plan_row(inventory_rows[key], series[key], abc[key], xyz, key in weekly, config))
    for row in rows:
        row["title"] = titles.get(row["sku"])
    return PlanResult(pa.Table.from_pylist(rows, schema=PLAN_SCHEMA), issues)


def plan_totals(rows: Any) -> dict[str, Any]:
    """Lines needing an order, units and order value, overall and per location (value of priced lines)."""

    def empty() -> dict[str, Any]:
        return {"lines": 0, "needing_order": 0, "order_units": 0, "order_value": 0.0}

    overall = empty()
    by_location: defaultdict[str, dict[str, Any]] = defaultdict(empty)
    for row in rows:
        for bucket in (overall, by_location[row["location"]]):
            bucket["lines"] += 1
            quantity = row.get("order_qty") or 0
            if quantity > 0:
                bucket["needing_order"] += 1
                bucket["order_units"] += round(quantity)
                bucket["order_value"] += float(row.get("order_value") or 0.0)
    for bucket in (overall, *by_location.values()):
        bucket["order_value"] = round(bucket["order_value"], 2)
    return overall | {"by_location": dict(sorted(by_location.items()))}


def _plan_row(
    item: Mapping[str, Any],
    daily: DailyDemand,
    abc: str,
    xyz: str,
    has_history: bool,
    config: ReplenishmentConfig,
) -> dict[str, Any]:
    means = daily.means
    lead_time = max(float(item["lead_time_days"] or 0.0), 0.0)
    lead_time_sd = max(float(item["lead_time_sd_days"] or 0.0), 0.0)
    stated_level = item.get("service_level")
    row_level = float(stated_level) if stated_level is not None else None
    from_row = row_level is not None and 0 < row_level < 1
    class_level = config.service_levels[abc + xyz]
    level = row_level if row_level is not None and from_row else class_level

    demand_mean = lead_time_sum(daily.expected, lead_time)
    daily_rate = demand_mean / lead_time if lead_time > 0 else float(daily.expected.mean())
    z = z_value(level)
    spreads = daily.spread_at(z)
    correlation = config.daily_error_correlation
    forecast_variance = (1 - correlation) * lead_time_sum(spreads**2, lead_time) + correlation * (
        lead_time_sum(spreads, lead_time) ** 2
    )
    demand_sd = math.sqrt(forecast_variance + daily_rate**2 * lead_time_sd**2)
    # The service level's quantile of lead-time demand, read from the point forecasts' intervals; never
    # below the expected demand, which a skewed day (an unknown promotion) puts above the point forecast.
    reorder_point = max(lead_time_sum(means, lead_time) + z * demand_sd, demand_mean)
    safety = reorder_point - demand_mean

    moq = max(float(item["moq"] or 0), 0.0)
    pack = max(float(item["pack_size"] or 1), 1.0)
    yearly = float(daily.expected.mean()) * config.days_per_year
    raw_eoq = economic_order_quantity(
        yearly,
        float(item["order_cost"] or 0),
        float(item["holding_cost_rate"] or 0),
        float(item["unit_cost"] or 0),
    )
    eoq = round_order(raw_eoq, moq, pack)
    position = float(item["on_hand"] or 0) + float(item["on_order"] or 0)
    needed = reorder_point - position + daily_rate * config.review_period_days
    wanted, cap_note = max(eoq, needed), ""
    cap_days, cap_name = config.max_days_of_supply, "days of supply"
    shelf_life = item.get("shelf_life_days")
    if (
        shelf_life is not None
        and float(shelf_life) > 0
        and (cap_days is None or float(shelf_life) < cap_days)
    ):
        cap_days, cap_name = float(shelf_life), "days of shelf life"
    if cap_days is not None and position <= reorder_point:
        ceiling = cap_days * daily_rate
        room = ceiling - position
        if wanted > max(room, needed):
            wanted = max(room, needed)
            cap_note = (
                f"; EOQ {eoq:g} capped at {cap_days:g} {cap_name} "
                f"({ceiling:.1f} units at {daily_rate:.2f}/day, position included"
                + (", raised to what the reorder point needs" if needed > room else "")
                + ")"
            )
    order = round_order(wanted, moq, pack) if position <= reorder_point else 0.0
    if cap_note and order > wanted + 1e-9:
        cap_note += f", rounded up to MOQ {moq:g} / packs of {pack:g}"
    unit_cost = float(item["unit_cost"] or 0)

    source = (
        f"set on the inventory row, overriding the class {abc}{xyz} default {class_level:.1%}"
        if from_row
        else f"class {abc}{xyz} default"
    )
    basis = (
        f"reorder point {reorder_point:.1f} = lead-time demand {demand_mean:.1f} over {lead_time:g} d"
        f" + safety stock {safety:.1f} at {level:.1%} service ({source})"
    )
    if order > 0:
        packs = f"{order / pack:g} packs of {pack:g}"
        reason = f"order {order:g} ({packs}): inventory position {position:g} <= {basis}{cap_note}"
    else:
        reason = f"no order: inventory position {position:g} > {basis}"
    if lead_time > means.size:
        reason += f"; lead time beyond the {means.size}-day forecast, extended at its average rate"
    if not has_history:
        reason += "; no sales history for XYZ, treated as Z"
    return {
        "sku": item["sku"],
        "location": item["location"],
        "abc": abc,
        "xyz": xyz,
        "service_level": level,
        "lead_time_demand_mean": demand_mean,
        "lead_time_demand_sd": demand_sd,
        "safety_stock": safety,
        "reorder_point": reorder_point,
        "eoq": eoq,
        "inventory_position": position,
        "order_qty": order,
        "unit_cost": unit_cost,
        "order_value": round(order * unit_cost, 2),
        "reason": reason,
    }


def _as_table(rows: Any) -> pa.Table:
    """Arrow tables, pandas frames, column dicts or lists of row dicts."""
    return pa.Table.from_pylist(rows) if isinstance(rows, list) else pa.table(rows)


def _empty_row(sku: str, location: str, reason: str) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(PLAN_SCHEMA.names)
    return row | {"sku": sku, "location": location, "reason": reason}


def _forecast_arrays(forecasts: pa.Table) -> dict[tuple[str, str], DailyDemand]:
    """Per (sku, location): its days in date order. hi_80 is optional (then hi_95 sets every spread), and so
    is expected (then the point forecast stands for it)."""
    upper_80 = "hi_80" if "hi_80" in forecasts.column_names else "hi_95"
    names = ("sku", "location", "ds", "mean", upper_80, "hi_95", expected_column(forecasts))
    columns = [forecasts.column(name).to_pylist() for name in names]
    grouped: dict[tuple[str, str], list[tuple[Any, float, float, float, float]]] = defaultdict(list)
    for sku, location, ds, mean, high_80, high_95, expected_units in zip(*columns, strict=True):
        grouped[(sku, location)].append(
            (ds, float(mean), float(high_80), float(high_95), float(expected_units))
        )
    result = {}
    for key, days in grouped.items():
        days.sort(key=lambda day: day[0])
        means = np.clip(np.array([d[1] for d in days]), 0.0, None)
        spread_95 = np.clip((np.array([d[3] for d in days]) - means) / Z_975, 0.0, None)
        spread_80 = (
            np.clip((np.array([d[2] for d in days]) - means) / Z_90, 0.0, None)
            if upper_80 == "hi_80"
            else spread_95
        )
        result[key] = DailyDemand(
            means, spread_80, spread_95, np.clip(np.array([d[4] for d in days]), 0.0, None)
        )
    return result


def _weekly_history(history: pa.Table, weeks: int) -> dict[tuple[str, str], np.ndarray]:
    """Units per 7-day block over the last `weeks` weeks before the latest date, from the first sale on."""
    columns = history.select(["sku", "location", "date", "units"]).to_pydict()
    if not columns["date"]:
        return {}
    last = max(columns["date"])
    totals: dict[tuple[str, str], np.ndarray] = defaultdict(lambda: np.zeros(weeks))
    oldest: dict[tuple[str, str], int] = defaultdict(int)
    for sku, location, day, units in zip(*columns.values(), strict=True):
        block = (last - day).days // 7
        if block < weeks:
            totals[(sku, location)][weeks - 1 - block] += max(float(units or 0.0), 0.0)
        oldest[(sku, location)] = max(oldest[(sku, location)], min(block, weeks - 1))
    # A series that started selling recently is judged on its own weeks, not on the zeros before it existed.
    return {key: values[weeks - 1 - oldest[key] :] for key, values in totals.items()}
