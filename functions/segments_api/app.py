"""`GET /v1/customers/{user_id}/segment`: a customer's RFM segment from the last scoring run.

The segments table is keyed by customer pseudonyms (`shelfwise.privacy`): the id in the path is pseudonymized
here and the answer names the customer by the caller's id.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from shelfwise.api.access import require_scope
from shelfwise.api.customer_path import CustomerIdPath, customer_id_in_path
from shelfwise.api.http import create_resolver, error_response
from shelfwise.api.models import ErrorDetail
from shelfwise.auth import READ_SCOPE
from shelfwise.privacy.pseudonyms import pseudonymizer_from_env
from shelfwise.segments.lookup import customer_segment
from shelfwise.segments.records import (
    CustomerSegmentResponse,
    user_id_errors,
)
from shelfwise.settings import Settings

logger, tracer, metrics = Logger(), Tracer(), Metrics()
app = create_resolver()

ROUTE_RESOURCE = "/v1/customers/{user_id}/segment"


@app.get(
    "/v1/customers/<user_id>/segment",
    tags=["segments"],
    summary="A customer's RFM segment",
    description="Recency/frequency/monetary scores and the marketing segment from the nightly scoring run. "
    "Users who interacted but never bought are `prospects`, with null scores.",
)
# The response names the customer: kept out of traces like out of logs.
@tracer.capture_method(capture_response=False)
def get_customer_segment(
    user_id: CustomerIdPath,
) -> CustomerSegmentResponse:
    require_scope(app, READ_SCOPE)
    decoded = customer_id_in_path(app, user_id)
    return customer_segment(
        decoded,
        pseudonymizer_from_env()().pseudonym(decoded),
        segments_table=Settings.from_env().segments_table,
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = _malformed_user_id(event) or app.resolve(event, context)
    metrics.add_metric(name=_outcome_metric(response["statusCode"]), unit=MetricUnit.Count, value=1)
    return response


def _outcome_metric(status: int) -> str:
    if status == 200:
        return "SegmentServed"
    if status == 404:
        return "SegmentNotFound"
    return "SegmentRequestRejected" if status < 500 else "SegmentRequestFailed"


def _malformed_user_id(event: dict[str, Any]) -> dict[str, Any] | None:
    """422 for an id the router cannot even match (empty, or control characters once decoded)."""
    if event.get("resource") != ROUTE_RESOURCE:
        return None
    user_id = (event.get("pathParameters") or {}).get("user_id", "")
    problems = user_id_errors(user_id)
    if not problems:
        return None
    request_id = (event.get("requestContext") or {}).get("requestId")
    response = error_response(
        422,
        "validation_error",
        "Invalid request: path.user_id.",
        [ErrorDetail(field="path.user_id", message=problems[0])],
        request_id=request_id,
    )
    return {
        "statusCode": response.status_code,
        "multiValueHeaders": {"Content-Type": [response.headers.get("Content-Type", "application/json")]},
        "body": response.body,
        "isBase64Encoded": False,
    }
