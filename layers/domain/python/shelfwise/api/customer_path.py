"""The customer id in a `/v1/customers/{user_id}/...` path, as the handlers of those routes read it."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path

from shelfwise.segments.records import USER_ID_MAX_LENGTH, USER_ID_PATTERN, user_id_errors

PATH_PARAMETER = "user_id"

# The route parameter as the OpenAPI document describes it (the handler checks it again once decoded).
CustomerIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=USER_ID_MAX_LENGTH,
        pattern=USER_ID_PATTERN,
        description="The retailer's id of the customer, as in the interactions data.",
    ),
]


def customer_id_in_path(app: APIGatewayRestResolver, captured: str) -> str:
    """The id API Gateway decoded into pathParameters (the route's capture is the raw path text); a 422
    naming `path.user_id` when it is not a customer id the interactions contract accepts."""
    decoded = (app.current_event.path_parameters or {}).get(PATH_PARAMETER, captured)
    problems = user_id_errors(decoded)
    if problems:
        raise RequestValidationError(
            [{"loc": ("path", PATH_PARAMETER), "msg": problems[0], "type": "value_error"}]
        )
    return decoded
