"""Operations endpoint: `GET /v1/ingest/files?kind=&status=&since=&limit=&cursor=`.

Recently processed dropped files, newest first, with their outcome and a pre-signed link to each rejection
report, read from the ingested-files log the ingest function writes (`shelfwise.ingest.outcomes`). Only the
domain layer is on this function's path: no pyarrow.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from shelfwise.api.errors import BadRequest
from shelfwise.api.http import create_resolver
from shelfwise.api.params import IsoDateTime
from shelfwise.auth import Principal
from shelfwise.aws import s3
from shelfwise.ingest import outcomes
from shelfwise.ingest.outcomes import IngestedFilesResponse, IngestKind
from shelfwise.ingest.status import IngestStatus
from shelfwise.settings import Settings

logger, tracer, metrics = Logger(), Tracer(), Metrics()
app = create_resolver()

DEFAULT_PAGE = 50
MAX_PAGE = 200
REPORT_LINK_SECONDS = 15 * 60


@app.get(
    "/v1/ingest/files",
    tags=["ingestion"],
    summary="Recently dropped files and their outcome",
    description="Files processed since `since` (default: the last 7 days; at most the last 90, as long as "
    "reports are kept), newest first: status, rows landed and rejected, why a file was rejected whole, and "
    "a link to its rejection report. Follow `next_cursor` for the next page; a cursor this listing did not "
    "hand out is a 400.",
)
@tracer.capture_method
def list_ingested_files(
    kind: Annotated[IngestKind | None, Query(description="Only files of this kind.")] = None,
    status: Annotated[IngestStatus | None, Query(description="Only files with this outcome.")] = None,
    since: Annotated[
        IsoDateTime | None,
        Query(
            description="Only files finished at or after this moment (ISO 8601, e.g. 2024-03-01T00:00:00Z)."
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Files per page.")] = DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(min_length=1, max_length=512, description="`next_cursor`.")] = None,
) -> IngestedFilesResponse:
    settings = Settings.from_env()
    caller = Principal.from_request_context(app.current_event.raw_event.get("requestContext"))
    logger.append_keys(caller=caller.subject if caller else None)
    client = s3.client()

    def report_link(key: str) -> str:
        return client.generate_presigned_url(
            "get_object", Params={"Bucket": settings.data_bucket, "Key": key}, ExpiresIn=REPORT_LINK_SECONDS
        )

    if since is not None and since.tzinfo is None:
        # A moment without a zone is ambiguous; guessing UTC would silently skip or repeat files.
        raise BadRequest("since needs a time zone (e.g. 2024-03-01T00:00:00Z)", field="query.since")
    listing = outcomes.list_files(
        outcomes.ingest_files_table(),
        kind=kind,
        status=status,
        since=since,
        limit=limit,
        cursor=cursor,
        presign=report_link,
    )
    metrics.add_metric(name="IngestedFilesListed", unit=MetricUnit.Count, value=len(listing.files))
    return listing


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = app.resolve(event, context)
    metrics.add_metric(name=f"Responses{response['statusCode'] // 100}xx", unit=MetricUnit.Count, value=1)
    return response
