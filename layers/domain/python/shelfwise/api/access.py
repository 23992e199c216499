"""What the caller of a route may see: checked in the handler, behind API Gateway's authorizers.

The authorizers decide who the caller is (`shelfwise.auth.Principal`); these checks decide, per request,
whether that caller may act for the customer named in the request. A route that reaches a handler without
an authorizer's verdict (a misconfigured stage) is refused rather than served.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from shelfwise.api.errors import Forbidden, Unauthorized
from shelfwise.auth import SERVER_SCOPE, Principal


def caller(app: APIGatewayRestResolver) -> Principal:
    principal = Principal.from_request_context(app.current_event.raw_event.get("requestContext"))
    if principal is None:
        raise Unauthorized("This route needs a bearer token.", field="header.authorization")
    return principal


def require_customer(app: APIGatewayRestResolver, customer_ids: Iterable[str], *, field: str) -> Principal:
    """The caller must be each of these customers, or a server acting for customers."""
    principal = caller(app)
    for customer_id in customer_ids:
        if not principal.may_act_for(customer_id):
            raise Forbidden(_not_yours(principal), field=field)
    return principal


def require_scope(app: APIGatewayRestResolver, scope: str) -> Principal:
    principal = caller(app)
    if not principal.has_scope(scope):
        raise Forbidden(f"This route needs an operator token with the {scope} scope.")
    return principal


def _not_yours(principal: Principal) -> str:
    if principal.kind == "customer":
        return "A customer token may only be used for that customer's own data."
    return f"Acting for a customer needs an operator token with the {SERVER_SCOPE} scope."
