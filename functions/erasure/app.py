"""The erasure job, fired by the `erase-customers` EventBridge schedule.

Works off every open erasure request: the deny list, the DynamoDB tables, the curated Parquet, raw files,
rejection reports, segment exports and recommender models; publishes `CustomerErased` per request and leaves
an audit record without personal data. The work lives in `shelfwise.privacy.erasure_job`.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import ValidationError, parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from shelfwise.privacy.erasure import ErasureRequests
from shelfwise.privacy.erasure_job import ErasureJob, ErasureTargets
from shelfwise.settings import CUSTOMER_IDS_TABLE_ENV, Settings

logger, tracer, metrics = Logger(), Tracer(), Metrics()


def _targets() -> ErasureTargets:
    settings = Settings.from_env()
    return ErasureTargets(
        bucket=settings.data_bucket,
        activity_table=settings.user_activity_table,
        segments_table=settings.segments_table,
        chat_sessions_table=settings.chat_sessions_table,
        idempotency_table=settings.idempotency_table,
        models_table=settings.models_table,
        event_bus=settings.event_bus,
        customer_ids_table=os.environ.get(CUSTOMER_IDS_TABLE_ENV) or None,
    )


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        parse(event=event, model=EventBridgeModel)
    except ValidationError as error:
        # A malformed trigger is reported, not retried: running it again would fail the same way.
        problems = [
            {"field": ".".join(str(part) for part in issue["loc"]), "message": issue["msg"]}
            for issue in error.errors()
        ]
        logger.error("scheduled event rejected", extra={"errors": problems})
        metrics.add_metric(name="RejectedEvents", unit=MetricUnit.Count, value=1)
        return {"status": "rejected", "message": "The scheduled event is not valid.", "errors": problems}

    run = ErasureJob(_targets(), ErasureRequests.from_env()).run()
    metrics.add_metric(name="CustomersErased", unit=MetricUnit.Count, value=len(run.completed))
    metrics.add_metric(name="ErasuresWaiting", unit=MetricUnit.Count, value=len(run.waiting))
    metrics.add_metric(name="ErasuresFailed", unit=MetricUnit.Count, value=len(run.failed))
    result = run.as_dict()
    if run.failed:
        logger.error(result["message"], extra={"failed": run.failed})
    else:
        logger.info(result["message"], extra={"completed": run.completed, "waiting": run.waiting})
    return result
