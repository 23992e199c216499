"""Ingests files dropped under `incoming/<kind>/`: S3 ObjectCreated -> SQS -> this function.

Each SQS message carries an S3 event notification. Every object it names is validated and landed as curated
Parquet, DynamoDB items and (for bad rows) a rejection report by `shelfwise.ingest.pipeline`. The same object
(bucket, key, etag, version) is processed once within `IDEMPOTENCY_DAYS`, however often it is delivered. A
message that fails is reported as a partial batch failure, so only it is retried and then dead-lettered.

Customer ids in interactions files are replaced by their keyed pseudonyms before anything lands or is logged
(the key is the `PseudonymKey` secret; `shelfwise.privacy`).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel
from shelfwise.aws.s3_notifications import notified_objects
from shelfwise.ingest import outcomes
from shelfwise.ingest.pipeline import CUSTOMER_KINDS, IngestTargets, ingest_object, kind_of
from shelfwise.privacy.identities import CustomerIdVault
from shelfwise.privacy.pseudonyms import pseudonymizer_from_env
from shelfwise.settings import Settings

IDEMPOTENCY_DAYS = 30

logger, tracer, metrics = Logger(), Tracer(), Metrics()
processor = BatchProcessor(event_type=EventType.SQS)
idempotency_config = IdempotencyConfig(
    event_key_jmespath="[bucket, key, etag, version_id]",
    expires_after_seconds=IDEMPOTENCY_DAYS * 24 * 3600,
)
persistence = DynamoDBPersistenceLayer(table_name=Settings.from_env().idempotency_table)


class DroppedObject(BaseModel):
    bucket: str
    key: str
    etag: str
    version_id: str | None = None


def _log_progress(progress: dict[str, Any]) -> None:
    logger.info("ingest progress", extra=progress)


@idempotent_function(
    data_keyword_argument="dropped", config=idempotency_config, persistence_store=persistence
)
@tracer.capture_method
def ingest_dropped_object(dropped: DroppedObject) -> dict[str, Any]:
    settings = Settings.from_env()
    targets = IngestTargets(
        data_bucket=settings.data_bucket,
        catalog_table=settings.catalog_table,
        user_activity_table=settings.user_activity_table,
        customer_ids_table=CustomerIdVault.from_env().table_name,
    )
    # The key is read only for files of customer data (and cached for a warm container).
    pseudonymizer = pseudonymizer_from_env()() if kind_of(dropped.key) in CUSTOMER_KINDS else None
    manifest = ingest_object(
        dropped.bucket,
        dropped.key,
        dropped.etag,
        targets,
        progress=_log_progress,
        pseudonymizer=pseudonymizer,
    )
    summary = manifest.model_dump(
        mode="json",
        include={
            "kind",
            "file_id",
            "status",
            "rows_total",
            "rows_landed",
            "rows_rejected",
            "rejection_report_key",
        },
    )
    # Inside the idempotent function, so a re-delivered object is announced once; a failed announcement
    # fails the message, which is retried (ingestion is safe to repeat).
    outcomes.announce(manifest, data_bucket=settings.data_bucket, table_name=outcomes.ingest_files_table())
    # The message names the file and its report: the local cloud echoes warnings on its console as one line.
    report = (
        f"; report s3://{settings.data_bucket}/{manifest.rejection_report_key}"
        if manifest.rejection_report_key
        else ""
    )
    if manifest.file_error or manifest.status == "rejected":
        reason = manifest.file_error.reason if manifest.file_error else "every row was rejected"
        logger.warning(
            f"file rejected: {dropped.key} — {reason}{report}", extra={**summary, "reason": reason}
        )
        metrics.add_metric(name="FilesRejected", unit=MetricUnit.Count, value=1)
    elif manifest.rows_rejected:
        logger.warning(
            f"file ingested with rejections: {dropped.key} — {manifest.rows_landed} of {manifest.rows_total} "
            f"rows landed, {manifest.rows_rejected} rejected{report}",
            extra=summary,
        )
        metrics.add_metric(name="FilesIngested", unit=MetricUnit.Count, value=1)
    else:
        logger.info(f"file ingested: {dropped.key} — {manifest.rows_landed} rows landed", extra=summary)
        metrics.add_metric(name="FilesIngested", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="RowsLanded", unit=MetricUnit.Count, value=manifest.rows_landed)
    metrics.add_metric(name="RowsRejected", unit=MetricUnit.Count, value=manifest.rows_rejected)
    return summary


def record_handler(record: SQSRecord) -> list[dict[str, Any]]:
    results = []
    for notified in notified_objects(record):
        dropped = DroppedObject(
            bucket=notified.bucket, key=notified.key, etag=notified.etag, version_id=notified.version_id
        )
        logger.append_keys(object_key=dropped.key)
        results.append(ingest_dropped_object(dropped=dropped))
    return results


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency_config.register_lambda_context(context)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
