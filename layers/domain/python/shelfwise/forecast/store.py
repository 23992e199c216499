"""Forecasts and plans in DynamoDB, and the API's view of them (standard library, pydantic, boto3 only).

The zip `forecast_api` function imports this module; it must never pull in pandas or pyarrow.

Items:
- forecasts table, pk `sku`, sk `location`: `plan_date`, `as_of`, `run_id`, `model`, `demand_class`,
  `format_version` 1 and `points`, a compact JSON string of `[date, mean, lo_80, hi_80, lo_95, hi_95, promo]`
  rows, promo 1 on a planned promotion day and 0 otherwise (items written before promotions were planned
  have six-element rows: no promotion day). 28 rows are about 1.5 KB; an attribute list of maps would be
  ten times that in read capacity.
- plans table, pk `plan_date` (YYYY-MM-DD), sk `item_key` = `sku#location`: the plan fields, numbers as
  Decimal, absent figures as null, plus `needs_order`.
- plans table, pk `latest`, sk `latest`: `plan_date` and `run_id` of the newest plan; written last, so the
  API never points at a half-written plan.
- plans table, pk `totals#<plan_date>`, sk `totals`: the plan's totals (lines, units and order value overall
  and per location, currency) as a JSON string; outside the plan's partition so paging never meets it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from shelfwise.api.errors import InvalidCursor, NotFound
from shelfwise.aws import dynamodb, s3
from shelfwise.forecast import layout

FORMAT_VERSION = 1
LATEST_KEY = "latest"
ITEM_KEY_SEPARATOR = "#"
PLAN_NUMBER_FIELDS = (
    "service_level",
    "lead_time_demand_mean",
    "lead_time_demand_sd",
    "safety_stock",
    "reorder_point",
    "eoq",
    "inventory_position",
    "order_qty",
    "unit_cost",
    "order_value",
)
PLAN_TEXT_FIELDS = ("sku", "location", "title", "abc", "xyz", "reason")
TOTALS_PREFIX = "totals#"
POINT_FIELDS = ("date", "mean", "lo_80", "hi_80", "lo_95", "hi_95")


class ForecastPoint(BaseModel):
    date: date
    mean: float = Field(
        description="The point forecast: the day's median demand where it is skewed (a promotion that may "
        "or may not run, a store that may be closed); the intervals are centred on it."
    )
    lo_80: float
    hi_80: float
    lo_95: float
    hi_95: float
    promo: bool = Field(
        default=False,
        description="A planned promotion day (incoming/promotions/): the mean includes the SKU's uplift.",
    )
    expected: float | None = Field(
        default=None,
        description="The day's expected demand (probability-weighted: unknown promotion days and likely "
        "closures included); sums over days to what the SKU is expected to sell, as the plan uses it. "
        "Null for forecasts stored before it was published.",
    )


class ForecastResponse(BaseModel):
    sku: str
    location: str
    title: str | None = Field(default=None, description="The catalog title of the SKU, when it has one.")
    model: str = Field(description="The model chosen for this series by cross-validation (or its fallback).")
    demand_class: str | None = Field(
        default=None, description="smooth, erratic, intermittent, lumpy, short or all_zero."
    )
    plan_date: date | None = Field(default=None, description="The run's plan date; forecasts start on it.")
    points: list[ForecastPoint] = Field(description="Daily forecasts with 80% and 95% intervals.")


class PlanItem(BaseModel):
    sku: str
    location: str
    title: str | None = Field(default=None, description="The catalog title of the SKU, when it has one.")
    abc: str | None = Field(
        description="ABC class by yearly demand value; null when the line is not planned."
    )
    xyz: str | None = Field(description="XYZ class by variability of weekly sales.")
    service_level: float | None
    lead_time_demand_mean: float | None
    lead_time_demand_sd: float | None
    safety_stock: float | None
    reorder_point: float | None
    eoq: float | None = Field(description="Economic order quantity, rounded up to MOQ and pack size.")
    inventory_position: float | None = Field(description="On hand plus on order.")
    order_qty: float | None = Field(description="What to order today, whole units; 0 when nothing is needed.")
    unit_cost: float | None = Field(default=None, description="Purchase cost per unit (inventory file).")
    order_value: float | None = Field(
        default=None, description="order_qty x unit_cost, in `totals.currency`."
    )
    reason: str


class LocationTotals(BaseModel):
    lines: int
    needing_order: int
    order_units: int = Field(description="Units to order, summed over the lines needing an order.")
    order_value: float = Field(description="Value of those orders at unit cost.")


class PlanTotals(LocationTotals):
    currency: str = Field(description="The deployment's currency (ISO 4217) of every value in the plan.")
    not_planned: int = Field(default=0, description="Lines without a forecast or inventory record.")
    by_location: dict[str, LocationTotals] = Field(default_factory=dict)


class PlanResponse(BaseModel):
    date: date
    items: list[PlanItem]
    totals: PlanTotals | None = Field(
        default=None, description="The whole plan's totals (every page has them); null for older plans."
    )
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null on the last page."
    )


def item_key(sku: str, location: str) -> str:
    return f"{sku}{ITEM_KEY_SEPARATOR}{location}"


# --- writing (finalize) ------------------------------------------------------------------------------------


def _number(value: float | None) -> Decimal | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return dynamodb.to_decimal(round(float(value), 4))


def encode_points(points: Iterable[Sequence[Any]]) -> str:
    """Rows of (date, mean, lo_80, hi_80, lo_95, hi_95[, promo[, expected]]) as compact JSON, numbers to 3
    decimals and the promotion flag as 1 or 0; expected last, so older six- and seven-element rows still
    decode."""
    rows = []
    for point in points:
        row = [
            str(point[0]),
            *(round(float(value), 3) for value in point[1:6]),
            int(bool(point[6])) if len(point) > 6 else 0,
        ]
        if len(point) > 7:
            row.append(round(float(point[7]), 3))
        rows.append(row)
    return json.dumps(rows, separators=(",", ":"))


def decode_points(text: str) -> list[ForecastPoint]:
    points = []
    fields = len(POINT_FIELDS)
    for row in json.loads(text):
        values = dict(zip(POINT_FIELDS, row[:fields], strict=True))
        promo = bool(row[fields]) if len(row) > fields else False
        expected = row[fields + 1] if len(row) > fields + 1 else None
        points.append(ForecastPoint(**values, promo=promo, expected=expected))
    return points


def forecast_item(
    sku: str,
    location: str,
    points: Iterable[Sequence[Any]],
    *,
    model: str,
    demand_class: str | None,
    plan_date: date,
    as_of: date,
    run_id: str,
    title: str | None = None,
) -> dict[str, Any]:
    return {
        "sku": sku,
        "location": location,
        "title": title,
        "model": model,
        "demand_class": demand_class,
        "plan_date": plan_date.isoformat(),
        "as_of": as_of.isoformat(),
        "run_id": run_id,
        "format_version": FORMAT_VERSION,
        "points": encode_points(points),
    }


def plan_item(plan_date: date, row: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "plan_date": plan_date.isoformat(),
        "item_key": item_key(row["sku"], row["location"]),
        "run_id": run_id,
        "needs_order": bool((row.get("order_qty") or 0) > 0),
    }
    item.update({name: row.get(name) for name in PLAN_TEXT_FIELDS})
    item.update({name: _number(row.get(name)) for name in PLAN_NUMBER_FIELDS})
    return item


def write_forecasts(table_name: str, items: Iterable[dict[str, Any]]) -> int:
    return dynamodb.batch_put(table_name, items, key_names=["sku", "location"])


def write_plan(table_name: str, plan_date: date, rows: Iterable[Mapping[str, Any]], run_id: str) -> int:
    items = (plan_item(plan_date, row, run_id) for row in rows)
    return dynamodb.batch_put(table_name, items, key_names=["plan_date", "item_key"])


def write_plan_totals(table_name: str, plan_date: date, totals: Mapping[str, Any], run_id: str) -> None:
    dynamodb.table(table_name).put_item(
        Item={
            "plan_date": f"{TOTALS_PREFIX}{plan_date.isoformat()}",
            "item_key": "totals",
            "run_id": run_id,
            "totals": json.dumps(totals, separators=(",", ":")),
        }
    )


def mark_latest(table_name: str, plan_date: date, run_id: str) -> None:
    dynamodb.table(table_name).put_item(
        Item={
            "plan_date": LATEST_KEY,
            "item_key": LATEST_KEY,
            "latest_plan_date": plan_date.isoformat(),
            "run_id": run_id,
        }
    )


# --- reading (API) -----------------------------------------------------------------------------------------


def get_forecast(table_name: str, sku: str, location: str | None) -> ForecastResponse:
    """The SKU's forecast at `location`; without one, at its only location.

    Raises NotFound for an unknown SKU or location, and `AmbiguousLocation` when the SKU is stocked at
    several locations and none was given."""
    items = dynamodb.query_partition(table_name, "sku", sku)
    if not items:
        raise NotFound(f"No forecast for SKU {sku!r}.", field="path.sku")
    by_location = {str(item["location"]): item for item in items}
    if location is None:
        if len(by_location) > 1:
            raise AmbiguousLocation(sorted(by_location))
        item = next(iter(by_location.values()))
    elif location in by_location:
        item = by_location[location]
    else:
        known = ", ".join(sorted(by_location))
        raise NotFound(
            f"No forecast for SKU {sku!r} at location {location!r}; it is forecast at: {known}.",
            field="query.location",
        )
    return ForecastResponse(
        sku=str(item["sku"]),
        location=str(item["location"]),
        model=str(item.get("model") or "none"),
        demand_class=item.get("demand_class"),
        title=item.get("title"),
        plan_date=item.get("plan_date"),
        points=decode_points(str(item.get("points") or "[]")),
    )


class AmbiguousLocation(Exception):
    def __init__(self, locations: list[str]) -> None:
        super().__init__(f"the SKU is forecast at {len(locations)} locations")
        self.locations = locations


def latest_plan_date(table_name: str) -> date:
    item = (
        dynamodb.table(table_name).get_item(Key={"plan_date": LATEST_KEY, "item_key": LATEST_KEY}).get("Item")
    )
    if not item:
        raise NotFound("No replenishment plan has been made yet; run the forecast first.", field="query.date")
    return date.fromisoformat(str(item["latest_plan_date"]))


def get_plan(table_name: str, plan_date: date, *, limit: int, cursor: str | None) -> PlanResponse:
    if cursor is not None and not _plan_has_line(table_name, plan_date, cursor):
        raise InvalidCursor(
            f"cursor is not a next_cursor of the plan for {plan_date.isoformat()}; start again without it.",
            field="query.cursor",
        )
    items, next_key = dynamodb.query_page(
        table_name,
        "plan_date",
        plan_date.isoformat(),
        limit=limit,
        start_key={"plan_date": plan_date.isoformat(), "item_key": cursor} if cursor else None,
    )
    if not items and cursor is None:
        raise NotFound(f"No replenishment plan for {plan_date.isoformat()}.", field="query.date")
    return PlanResponse(
        date=plan_date,
        items=[_plan_item_from_dynamo(item) for item in items],
        totals=_plan_totals(table_name, plan_date),
        next_cursor=str(next_key["item_key"]) if next_key else None,
    )


def _plan_totals(table_name: str, plan_date: date) -> PlanTotals | None:
    key = {"plan_date": f"{TOTALS_PREFIX}{plan_date.isoformat()}", "item_key": "totals"}
    item = dynamodb.table(table_name).get_item(Key=key).get("Item")
    return PlanTotals.model_validate_json(str(item["totals"])) if item else None


def _plan_has_line(table_name: str, plan_date: date, cursor: str) -> bool:
    """A next_cursor is the key of the last line of a page, so a genuine one names a line of this plan."""
    sku, separator, location = cursor.partition(ITEM_KEY_SEPARATOR)
    if not (separator and sku and location):
        return False
    found = dynamodb.table(table_name).get_item(
        Key={"plan_date": plan_date.isoformat(), "item_key": cursor}, ProjectionExpression="item_key"
    )
    return "Item" in found


def _plan_item_from_dynamo(item: Mapping[str, Any]) -> PlanItem:
    values: dict[str, Any] = {name: item.get(name) for name in PLAN_TEXT_FIELDS}
    values.update(
        {name: float(item[name]) if item.get(name) is not None else None for name in PLAN_NUMBER_FIELDS}
    )
    return PlanItem(**values)


def get_report(bucket: str, plan_date: date, *, s3_client: s3.S3Client | None = None) -> str:
    try:
        body = s3.get_bytes(bucket, layout.plan_key(plan_date, "report.html"), s3_client=s3_client)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            raise NotFound(
                f"No replenishment report for {plan_date.isoformat()}.", field="query.date"
            ) from error
        raise
    return body.decode("utf-8")
