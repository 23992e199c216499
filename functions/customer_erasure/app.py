"""`DELETE /v1/customers/{user_id}` records an erasure request; `GET /v1/customers/erasures/{request_id}`
reports its progress. The erasure job (`functions/erasure`) does the work; the domain is in
`shelfwise.privacy.erasure`."""

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from shelfwise.api.access import require_scope
from shelfwise.api.customer_path import CustomerIdPath, customer_id_in_path
from shelfwise.api.errors import NotFound
from shelfwise.api.http import create_resolver
from shelfwise.auth import READ_SCOPE, WRITE_SCOPE
from shelfwise.privacy.erasure import (
    REQUEST_ID_PATTERN,
    ErasureAccepted,
    ErasureRequests,
    ErasureStatusResponse,
)
from shelfwise.privacy.erasure_job import STEP_NAMES
from shelfwise.privacy.pseudonyms import pseudonymizer_from_env

logger, tracer, metrics = Logger(), Tracer(), Metrics()
app = create_resolver()

STATUS_PATH = "/v1/customers/erasures/{request_id}"


@app.delete(
    "/v1/customers/<user_id>",
    tags=["privacy"],
    summary="Erase a customer (right to erasure)",
    description="Records the request and answers 202 at once; the erasure job removes the customer from "
    "every store within its next run (every 15 minutes) and keeps an audit record without personal data. "
    "Asking again while the request is open returns the same request. `Location` names the status route.",
    responses={
        202: {
            "description": "The request is recorded (or was already open).",
            "content": {"application/json": {"model": ErasureAccepted}},
            "headers": {
                "Location": {"description": "The request's status route.", "schema": {"type": "string"}}
            },
        }
    },
)
@tracer.capture_method
def delete_customer(
    user_id: CustomerIdPath,
) -> Response[ErasureAccepted]:
    operator = require_scope(app, WRITE_SCOPE)
    decoded = customer_id_in_path(app, user_id)
    pseudonym = pseudonymizer_from_env()().pseudonym(decoded)
    request, created = ErasureRequests.from_env().request(
        customer_id=decoded, pseudonym=pseudonym, requested_by=operator.subject
    )
    metrics.add_metric(
        name="ErasureRequested" if created else "ErasureRequestRepeated", unit=MetricUnit.Count, value=1
    )
    logger.info("erasure request recorded", extra={"request_id": request.request_id, "new_request": created})
    accepted = ErasureAccepted(request_id=request.request_id, status=request.status)
    return Response(
        status_code=202,
        content_type="application/json",
        body=accepted,
        headers={"Location": STATUS_PATH.format(request_id=request.request_id)},
    )


@app.get(
    "/v1/customers/erasures/<request_id>",
    tags=["privacy"],
    summary="An erasure request's progress",
    description="Status (pending, running, completed, failed — a failed request is retried by the next run), "
    "the steps done with their counts, and timestamps. Once completed this is the audit record: it names no "
    "customer.",
)
@tracer.capture_method
def get_erasure(
    request_id: Annotated[
        str, Path(pattern=REQUEST_ID_PATTERN, description="The `request_id` the DELETE answered with.")
    ],
) -> ErasureStatusResponse:
    require_scope(app, READ_SCOPE)
    request = ErasureRequests.from_env().get(request_id)
    if request is None:
        raise NotFound(f"No erasure request {request_id}.", field="path.request_id")
    return request.view(STEP_NAMES)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
