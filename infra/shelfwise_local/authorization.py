"""The local gateway's authorizers, doing what API Gateway does in front of each route.

- shopper routes: the real `authorizer` function is invoked with a REQUEST authorizer event; an exception
  "Unauthorized" is a 401, a Deny policy a 403, an Allow policy's context becomes `requestContext.authorizer`;
- operations routes: the Cognito user-pool authorizer, played with the local operator key: the access token
  must verify and carry the route's scope; its claims become `requestContext.authorizer.claims`;
- public routes: nothing.

One difference, on purpose: a valid operator token without the route's scope gets 403 `forbidden` naming the
scope here, where API Gateway's Cognito authorizer answers 401.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from shelfwise.auth.tokens import InvalidToken, SharedSecret, TokenVerifier, bearer_token, operator_principal
from shelfwise_infra import spec

from shelfwise_local.functions import ACCOUNT_ID, REGION
from shelfwise_local.routing import API_ID, STAGE
from shelfwise_local.tokens import DevKeys

UNAUTHORIZED_MESSAGE = "Unauthorized: send `Authorization: Bearer <token>` with a valid token."


@dataclass(frozen=True)
class Refusal:
    status: int  # 401 or 403
    code: str
    message: str


def _header(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in headers if key.lower() == name.lower()), None)


class LocalAuthorizers:
    def __init__(self, keys: DevKeys, invoke: Callable[[str, dict[str, Any]], Any]) -> None:
        self.invoke = invoke
        self.operators = TokenVerifier(
            SharedSecret(lambda: keys.operator), issuer=spec.LOCAL_OPERATOR_TOKEN_ISSUER
        )

    def authorize(
        self,
        route: spec.Route,
        *,
        method: str,
        path: str,
        headers: Sequence[tuple[str, str]],
        path_parameters: dict[str, str],
    ) -> dict[str, Any] | Refusal | None:
        """`requestContext.authorizer` for the request, a refusal, or None for a public route."""
        if route.access == "public":
            return None
        if route.access == "operations":
            return self._operator(route.scope, _header(headers, "Authorization"))
        return self._shopper(
            route, method=method, path=path, headers=headers, path_parameters=path_parameters
        )

    def operator_refusal(self, authorization: str | None, scope: str | None) -> Refusal | None:
        decision = self._operator(scope, authorization)
        return decision if isinstance(decision, Refusal) else None

    def _operator(self, scope: str | None, authorization: str | None) -> dict[str, Any] | Refusal:
        try:
            claims = self.operators.claims(bearer_token(authorization), required=("exp",))
            principal = operator_principal(claims)
        except InvalidToken:
            return Refusal(401, "unauthorized", UNAUTHORIZED_MESSAGE)
        if scope and scope not in principal.scopes:
            return Refusal(403, "forbidden", f"This needs an operator token with the {scope} scope.")
        # API Gateway passes Cognito's claims as strings.
        return {"claims": {name: str(value) for name, value in claims.items()}}

    def _shopper(
        self,
        route: spec.Route,
        *,
        method: str,
        path: str,
        headers: Sequence[tuple[str, str]],
        path_parameters: dict[str, str],
    ) -> dict[str, Any] | Refusal:
        event = {
            "type": "REQUEST",
            "methodArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{API_ID}/{STAGE}/{method.upper()}{path}",
            "resource": route.path,
            "path": path,
            "httpMethod": method.upper(),
            "headers": dict(headers),
            "queryStringParameters": {},
            "pathParameters": path_parameters,
            "stageVariables": {},
            "requestContext": {"requestId": str(uuid.uuid4()), "stage": STAGE, "apiId": API_ID},
        }
        try:
            policy = self.invoke(spec.AUTHORIZER_FUNCTION, event)
        except Exception as error:
            if str(error) == "Unauthorized":
                return Refusal(401, "unauthorized", UNAUTHORIZED_MESSAGE)
            raise
        statements = (policy.get("policyDocument") or {}).get("Statement") or []
        if not any(statement.get("Effect") == "Allow" for statement in statements) or any(
            statement.get("Effect") == "Deny" for statement in statements
        ):
            return Refusal(403, "forbidden", "The token does not allow this request.")
        return {"principalId": policy.get("principalId"), **(policy.get("context") or {})}
