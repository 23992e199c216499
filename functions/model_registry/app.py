"""Validates and promotes model versions: S3 ObjectCreated under `models/` -> SQS -> this function.

Each SQS message carries an S3 event notification. A training job's `model.tar.gz` is unpacked into
`models/<model_name>/<version>/`; that version (or one uploaded directly with its manifest.json) is checked
against its sha256 list, smoke-tested, gated against the version in service, and recorded as promoted or
rejected (`shelfwise.model_registry.promotion`). Every other key is ignored without reading it. A message
that fails (S3 or DynamoDB unavailable) is reported as a partial batch failure, retried and dead-lettered;
a bad model is never a failure, it is a rejection with a reason.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from shelfwise.aws.s3_notifications import notified_objects
from shelfwise.model_registry.promotion import Outcome, Registrar, RegistryTargets, classify
from shelfwise.settings import Settings

logger, tracer, metrics = Logger(), Tracer(), Metrics()
processor = BatchProcessor(event_type=EventType.SQS)

_METRIC_FOR = {"promoted": "ModelVersionsPromoted", "rejected": "ModelVersionsRejected"}


@cache
def _registrar() -> Registrar:
    settings = Settings.from_env()
    return Registrar(
        RegistryTargets(
            bucket=settings.data_bucket, models_table=settings.models_table, event_bus=settings.event_bus
        )
    )


@tracer.capture_method
def process_key(key: str) -> Outcome | None:
    outcome = _registrar().process(key)
    if outcome is not None:
        metrics.add_metric(
            name=_METRIC_FOR.get(outcome.status, "ModelNotificationsSkipped"), unit=MetricUnit.Count, value=1
        )
    return outcome


def record_handler(record: SQSRecord) -> list[dict[str, Any]]:
    outcomes = []
    for notified in notified_objects(record):
        if classify(notified.key) is None:
            # The registry's own uploads and other files: nothing to decide, nothing read.
            metrics.add_metric(name="ModelNotificationsIgnored", unit=MetricUnit.Count, value=1)
            continue
        logger.append_keys(object_key=notified.key)
        outcome = process_key(notified.key)
        if outcome is not None:
            outcomes.append(outcome.__dict__)
    return outcomes


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
