"""Re-drives dropped files that never got a manifest, fired by the `reconcile-ingest` schedule.

A file under `incoming/` without a manifest, older than the ingest queue's visibility timeout, lost its
ingestion (a crashed or timed-out attempt whose message is gone or dead-lettered). The work lives in
`shelfwise.ingest.reconcile`: the object is copied onto itself, so S3 sends a fresh ObjectCreated event
through the ingest queue. Two metrics feed the alarms: `FilesRedriven` (crashes are happening) and
`FilesStillStuck` (a re-drive did not help; someone has to look).

The Scheduled Event's `detail` may carry `older_than_seconds` (default: the spec's visibility timeout, set on
the schedule) and `max_redrives` (`"unlimited"` when every unfinished file is known to be dead, as at the
local cloud's start).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import ValidationError, parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field
from shelfwise.ingest.reconcile import MAX_REDRIVES, reconcile
from shelfwise.settings import Settings

logger, tracer, metrics = Logger(), Tracer(), Metrics()

DEFAULT_OLDER_THAN_SECONDS = 900


class ReconcileDetail(BaseModel):
    older_than_seconds: int = Field(default=DEFAULT_OLDER_THAN_SECONDS, ge=0)
    max_redrives: int | str = MAX_REDRIVES


class ReconcileEvent(EventBridgeModel):
    detail: ReconcileDetail


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        detail = parse(event=event, model=ReconcileEvent).detail
        max_redrives = _max_redrives(detail.max_redrives)
    except (ValidationError, ValueError) as error:
        logger.error("invalid reconcile event", extra={"error": str(error)})
        return {"status": "rejected", "message": f"invalid reconcile event: {error}"}

    result = reconcile(
        Settings.from_env().data_bucket,
        older_than=timedelta(seconds=detail.older_than_seconds),
        max_redrives=max_redrives,
    )
    summary = result.summary()
    metrics.add_metric(name="FilesRedriven", unit=MetricUnit.Count, value=len(result.redriven))
    metrics.add_metric(name="FilesStillStuck", unit=MetricUnit.Count, value=len(result.still_stuck))
    if result.still_stuck or result.failed:
        logger.warning("files still without a manifest after a re-drive", extra=summary)
    elif result.redriven:
        logger.warning("re-drove files that had no manifest", extra=summary)
    else:
        logger.info("every dropped file has a manifest or is still on its way", extra=summary)
    return {"status": "succeeded", **summary}


def _max_redrives(value: int | str) -> int | None:
    if isinstance(value, int):
        return value
    if value == "unlimited":
        return None
    return int(value)  # EventBridge details are strings; "3" means 3
