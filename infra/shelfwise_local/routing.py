"""API Gateway emulation: matching paths against route templates and building REST (v1) proxy events.

Pure functions, so the exact event shape handlers receive locally is unit-tested without a server.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from shelfwise_infra import spec

from shelfwise_local.functions import ACCOUNT_ID

STAGE = "local"
API_ID = "shelfwiselocal"
# The synchronous Lambda invocation payload limit; API Gateway + Lambda reject larger requests.
MAX_REQUEST_BYTES = 6 * 1024 * 1024

_PARAMETER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(\+?)\}")


@dataclass(frozen=True)
class CompiledRoute:
    route: spec.Route
    pattern: re.Pattern[str]

    @property
    def literal_characters(self) -> int:
        """How much of the template is fixed text; API Gateway prefers the most specific resource."""
        return len(_PARAMETER.sub("", self.route.path))


@dataclass(frozen=True)
class RouteMatch:
    route: spec.Route | None
    path_parameters: dict[str, str]
    allowed_methods: tuple[str, ...]  # methods declared for the matched resource; empty when no resource


def compile_template(template: str) -> re.Pattern[str]:
    """`/v1/users/{user_id}/x` → a regex capturing `user_id` from one segment; `{proxy+}` spans segments."""
    pattern = ""
    position = 0
    for parameter in _PARAMETER.finditer(template):
        pattern += re.escape(template[position : parameter.start()])
        greedy = parameter.group(2) == "+"
        pattern += f"(?P<{parameter.group(1)}>{'.+' if greedy else '[^/]+'})"
        position = parameter.end()
    pattern += re.escape(template[position:])
    return re.compile(f"^{pattern}$")


class Router:
    def __init__(self, routes: Iterable[spec.Route]) -> None:
        compiled = [CompiledRoute(route, compile_template(route.path)) for route in routes]
        self._routes = sorted(compiled, key=lambda candidate: -candidate.literal_characters)

    def match(self, method: str, path: str) -> RouteMatch:
        """The route for (method, path); no route but `allowed_methods` set when only the method is wrong."""
        matching_resource: str | None = None
        allowed: list[str] = []
        for candidate in self._routes:
            found = candidate.pattern.match(path)
            if found is None:
                continue
            # The most specific resource wins; other templates that also match are different resources.
            if matching_resource is not None and candidate.route.path != matching_resource:
                continue
            matching_resource = candidate.route.path
            parameters = {name: unquote(value) for name, value in found.groupdict().items()}
            if candidate.route.method == method.upper():
                return RouteMatch(candidate.route, parameters, (candidate.route.method,))
            allowed.append(candidate.route.method)
        return RouteMatch(None, {}, tuple(sorted(set(allowed))))


def _single_and_multi(
    pairs: Sequence[tuple[str, str]],
) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    """API Gateway's two views of repeated values: last value wins in the single map; all in the multi map."""
    if not pairs:
        return None, None
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def encode_body(raw: bytes) -> tuple[str | None, bool]:
    """Text bodies pass as text; anything that is not UTF-8 is base64-encoded, as API Gateway does."""
    if not raw:
        return None, False
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), True


def build_proxy_event(
    *,
    route: spec.Route,
    method: str,
    path: str,
    query_string: str,
    headers: Sequence[tuple[str, str]],
    path_parameters: dict[str, str],
    body: bytes,
    source_ip: str,
    now: datetime | None = None,
    authorizer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The REST API (payload v1) proxy event API Gateway sends to a Lambda integration.

    `authorizer` is what the route's authorizer vouched for (`requestContext.authorizer`), None on public
    routes.
    """
    moment = now or datetime.now(UTC)
    request_id = str(uuid.uuid4())
    single_headers, multi_headers = _single_and_multi(list(headers))
    single_query, multi_query = _single_and_multi(parse_qsl(query_string, keep_blank_values=True))
    text_body, is_base64 = encode_body(body)
    user_agent = next((value for name, value in headers if name.lower() == "user-agent"), None)
    host = next((value for name, value in headers if name.lower() == "host"), "localhost")
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": method.upper(),
        "headers": single_headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": single_query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": uuid.uuid5(uuid.NAMESPACE_URL, route.path).hex[:6],
            "resourcePath": route.path,
            "httpMethod": method.upper(),
            "extendedRequestId": request_id,
            "requestTime": moment.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{STAGE}{path}",
            "accountId": ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": STAGE,
            "domainPrefix": host.split(".")[0].split(":")[0],
            "requestTimeEpoch": int(moment.timestamp() * 1000),
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": source_ip,
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": user_agent,
                "user": None,
            },
            "domainName": host,
            "apiId": API_ID,
            **({"authorizer": authorizer} if authorizer is not None else {}),
        },
        "body": text_body,
        "isBase64Encoded": is_base64,
    }


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class InvalidHandlerResponseError(ValueError):
    """The handler returned something API Gateway could not turn into an HTTP response (a 502 in AWS)."""


def proxy_response_to_http(result: Any) -> HttpResponse:
    """Turn a Lambda proxy integration result into an HTTP response, with API Gateway's rules."""
    if not isinstance(result, dict) or "statusCode" not in result:
        raise InvalidHandlerResponseError("handler result is not a proxy response with a statusCode")
    try:
        status = int(result["statusCode"])
    except (TypeError, ValueError) as error:
        raise InvalidHandlerResponseError("statusCode is not an integer") from error
    headers: list[tuple[str, str]] = []
    multi = result.get("multiValueHeaders") or {}
    for name, values in multi.items():
        headers.extend((name, str(value)) for value in values)
    for name, value in (result.get("headers") or {}).items():
        if name not in multi:
            headers.append((name, str(value)))
    body = result.get("body") or ""
    if not isinstance(body, str):
        raise InvalidHandlerResponseError("body is not a string")
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    return HttpResponse(status, headers, raw)


def error_response(
    status: int, code: str, message: str, *, request_id: str | None = None, **extra_headers: str
) -> HttpResponse:
    """A gateway-generated error in the platform's error shape.

    API Gateway gives every request an id, also the ones it answers itself; so does this, in the body like
    the functions' errors and in the `x-amzn-RequestId` header like API Gateway.
    """
    request_id = request_id or str(uuid.uuid4())
    error = {"code": code, "message": message, "details": [], "request_id": request_id}
    body = json.dumps({"error": error}).encode("utf-8")
    headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id)]
    headers.extend((name.replace("_", "-"), value) for name, value in extra_headers.items())
    return HttpResponse(status, headers, body)


# What the API's CORS preflight allows (API Gateway's `defaultCorsPreflightOptions` in the CDK app).
PREFLIGHT_ALLOWED_HEADERS = ("Authorization", "Content-Type", "X-Api-Key")


def preflight_response(
    origin: str | None, allowed_origins: Sequence[str], methods: Iterable[str]
) -> HttpResponse:
    """What API Gateway's mock-integration CORS preflight (as the CDK builds it) answers to OPTIONS.

    204 with the allowed headers and the resource's methods. `Access-Control-Allow-Origin` is the first
    allowed origin, replaced by the request's `Origin` when that is one of the others: an origin not in the
    list gets an origin that is not its own, and the browser refuses the call.
    """
    headers = [
        ("Access-Control-Allow-Origin", origin if origin in allowed_origins else allowed_origins[0]),
        ("Access-Control-Allow-Headers", ",".join(PREFLIGHT_ALLOWED_HEADERS)),
        ("Access-Control-Allow-Methods", ",".join(sorted(set(methods)))),
        ("Vary", "Origin"),
    ]
    return HttpResponse(204, headers, b"")
