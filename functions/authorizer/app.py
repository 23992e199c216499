"""Lambda REQUEST authorizer of the shopper routes: who is this browser (or server) acting for?

Accepts `Authorization: Bearer <token>`: a customer token signed with the retailer's key, or an operator
access token from the user pool (the retailer's servers, which act for any customer with the
`shelfwise/server` scope). A valid token gets a policy allowing the API's shopper routes and a context naming
the principal (`shelfwise.auth.Principal.authorizer_context`); the handlers decide per request what that
principal may see. An invalid or missing token raises "Unauthorized", which API Gateway turns into a 401.
The token itself is never logged.
"""

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from shelfwise.auth.config import authenticator_from_env
from shelfwise.auth.tokens import Authenticator, InvalidToken

logger, tracer, metrics = Logger(), Tracer(), Metrics()


@cache
def _authenticator() -> Authenticator:
    return authenticator_from_env()


# log_event stays off: the event carries the bearer token.
@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_source(data_class=APIGatewayAuthorizerRequestEvent)
def handler(event: APIGatewayAuthorizerRequestEvent, context: LambdaContext) -> dict[str, Any]:
    try:
        principal = _authenticator().principal(event.headers.get("Authorization"))
    except InvalidToken as problem:
        logger.info("request refused", extra={"reason": str(problem), "path": event.resource})
        metrics.add_metric(name="TokensRefused", unit=MetricUnit.Count, value=1)
        # The exact message API Gateway maps to 401 Unauthorized.
        raise Exception("Unauthorized") from None
    arn = event.parsed_arn
    policy = APIGatewayAuthorizerResponse(
        principal_id=f"{principal.kind}:{principal.subject}",
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
        context=principal.authorizer_context(),
    )
    # One policy for every shopper route: API Gateway caches it per token, and the handlers check the subject.
    policy.allow_all_routes()
    metrics.add_metric(name=f"Authorized{principal.kind.capitalize()}", unit=MetricUnit.Count, value=1)
    return policy.asdict()
