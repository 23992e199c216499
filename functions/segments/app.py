"""Nightly customer segmentation, fired by the `segment-customers` EventBridge schedule.

Scores every customer in the curated interactions (RFM), writes the segments table and exports
`segments/<as_of>/` and `segments/latest/` for marketing. Curated data and the table hold pseudonyms; the CRM
export names customers by the retailer's ids, from the vault. The work lives in `shelfwise.segments.job`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.parser import ValidationError, parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from shelfwise.privacy.identities import CustomerIdVault
from shelfwise.segments.job import run_segmentation
from shelfwise.segments.schedule import AsOfInFutureError, SegmentRunDetail, resolve_as_of
from shelfwise.settings import Settings

logger, tracer, metrics = Logger(), Tracer(), Metrics()


class SegmentRunEvent(EventBridgeModel):
    detail: SegmentRunDetail


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        run_event = parse(event=event, model=SegmentRunEvent)
        as_of = resolve_as_of(run_event.time, run_event.detail.as_of)
    except ValidationError as error:
        return _rejected(
            [
                {"field": ".".join(str(part) for part in issue["loc"]), "message": issue["msg"]}
                for issue in error.errors()
            ]
        )
    except AsOfInFutureError as error:
        return _rejected([{"field": "detail.as_of", "message": str(error)}])

    settings = Settings.from_env()
    logger.append_keys(as_of=as_of.isoformat(), schedule_event_id=run_event.id)
    run = run_segmentation(
        as_of=as_of,
        bucket=settings.data_bucket,
        segments_table=settings.segments_table,
        customer_ids_table=CustomerIdVault.from_env().table_name,
    )

    summary = run.summary
    metrics.add_metric(name="UsersScored", unit=MetricUnit.Count, value=summary.users)
    metrics.add_metric(name="HighValueUsers", unit=MetricUnit.Count, value=summary.high_value_users)
    for segment, stats in summary.segments.items():
        with single_metric(name="SegmentUsers", unit=MetricUnit.Count, value=stats.users) as metric:
            metric.add_dimension(name="segment", value=segment)

    result = run.as_dict()
    logger.info(result["message"], extra={"segments": result["segments"]})
    return result


def _rejected(problems: list[dict[str, str]]) -> dict[str, Any]:
    # A malformed trigger is reported, not retried: running it again would fail the same way.
    logger.error("scheduled event rejected", extra={"errors": problems})
    metrics.add_metric(name="RejectedEvents", unit=MetricUnit.Count, value=1)
    return {"status": "rejected", "message": "The scheduled event is not valid.", "errors": problems}
