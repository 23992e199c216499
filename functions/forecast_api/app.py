"""Forecast and replenishment endpoints: read what the nightly forecast run stored.

- `GET /v1/forecasts/{sku}?location=`: the SKU's daily forecast with 80/95% intervals and its catalog title.
  `location` may be left out when the SKU is forecast at one location only; with several, the answer is 422
  naming `query.location` and listing the locations; an unknown SKU or location is 404.
- `GET /v1/replenishment/plan?date=&limit=&cursor=`: the plan of that date (YYYY-MM-DD), or the latest plan
  without a date; paged in SKU order (a 30,000-line plan is larger than a Lambda response may be). Lines carry
  the catalog title, unit cost and order value; every page carries the whole plan's totals (lines to order,
  units, order value overall and per location, currency).
- `GET /v1/replenishment/report?date=`: the run's HTML report (text/html).

Only the domain layer is on this function's path: DynamoDB items and S3 objects, no pandas or pyarrow.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from shelfwise.api.access import require_scope
from shelfwise.api.http import create_resolver
from shelfwise.auth import READ_SCOPE
from shelfwise.forecast.store import (
    AmbiguousLocation,
    ForecastResponse,
    PlanResponse,
    get_forecast,
    get_plan,
    get_report,
    latest_plan_date,
)
from shelfwise.settings import Settings

logger, tracer, metrics = Logger(), Tracer(), Metrics()
app = create_resolver()

ID_MAX_LENGTH = 128
DEFAULT_PAGE = 1000
MAX_PAGE = 5000
PlanDate = Annotated[
    date | None,
    Query(description="Plan date, YYYY-MM-DD (the first forecast day). Without it: the latest plan."),
]


@app.get(
    "/v1/forecasts/<sku>",
    tags=["forecasts"],
    summary="A SKU's demand forecast",
    description="Daily point forecasts with 80% and 95% intervals from the latest forecast run, starting the "
    "day after the last observed sales day. `location` is required when the SKU is sold at several.",
)
@tracer.capture_method
def get_sku_forecast(
    sku: Annotated[str, Path(min_length=1, max_length=ID_MAX_LENGTH, description="Stock-keeping unit.")],
    location: Annotated[
        str | None, Query(min_length=1, max_length=ID_MAX_LENGTH, description="Store or warehouse.")
    ] = None,
) -> ForecastResponse:
    require_scope(app, READ_SCOPE)
    try:
        return get_forecast(Settings.from_env().forecasts_table, sku, location)
    except AmbiguousLocation as ambiguous:
        choices = ", ".join(ambiguous.locations)
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "location"),
                    "msg": f"SKU {sku!r} is forecast at several locations; choose one of: {choices}",
                    "type": "value_error",
                }
            ]
        ) from None


@app.get(
    "/v1/replenishment/plan",
    tags=["replenishment"],
    summary="The replenishment plan",
    description="What to order today per SKU and location, and why: catalog title, ABC/XYZ class, service "
    "level, lead-time demand, safety stock, reorder point, EOQ (rounded to MOQ and pack size), inventory "
    "position, order quantity in whole units (capped by the maximum days of supply), unit cost and order "
    "value. `totals` sums the orders per location and overall in the deployment's currency. Lines are in "
    "SKU order; follow `next_cursor` for the next page.",
)
@tracer.capture_method
def get_replenishment_plan(
    date: PlanDate = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Lines per page.")] = DEFAULT_PAGE,
    cursor: Annotated[
        str | None, Query(min_length=1, max_length=2 * ID_MAX_LENGTH + 1, description="`next_cursor`.")
    ] = None,
) -> PlanResponse:
    require_scope(app, READ_SCOPE)
    table = Settings.from_env().plans_table
    return get_plan(table, date or latest_plan_date(table), limit=limit, cursor=cursor)


@app.get(
    "/v1/replenishment/report",
    tags=["replenishment"],
    summary="The forecast run's HTML report",
    description="Plots of history and forecast for the largest SKUs and for the SKUs that need an order, "
    "the accuracy of previous runs and the plan table, as one self-contained HTML page.",
    responses={200: {"description": "The report.", "content": {"text/html": {"schema": {"type": "string"}}}}},
)
@tracer.capture_method
def get_replenishment_report(date: PlanDate = None) -> Response[str]:
    require_scope(app, READ_SCOPE)
    settings = Settings.from_env()
    plan_date = date or latest_plan_date(settings.plans_table)
    return Response(
        status_code=200,
        content_type="text/html; charset=utf-8",
        body=get_report(settings.data_bucket, plan_date),
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = app.resolve(event, context)
    metrics.add_metric(name=_outcome_metric(response["statusCode"]), unit=MetricUnit.Count, value=1)
    return response


def _outcome_metric(status: int) -> str:
    if status == 200:
        return "ForecastRequestServed"
    if status == 404:
        return "ForecastNotFound"
    return "ForecastRequestRejected" if status < 500 else "ForecastRequestFailed"
