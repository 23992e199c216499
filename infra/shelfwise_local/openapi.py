"""The platform's OpenAPI document, generated from the handlers' code.

Every function that serves a route in `shelfwise_infra.spec.ROUTES` builds its resolver with
`shelfwise.api.http.create_resolver()`, whose route signatures (pydantic models, `Query`/`Path` parameters)
describe the API. `build_openapi()` loads each of those functions by file path, asks its resolver for its
document and merges them into one (Powertools' `OpenAPIMerge`), adding the title, version, servers and the
bearer-token security scheme the gateway enforces on every route that is not public.

`write_openapi()` stores it as `functions/api/openapi.json`, which ships with the `api` function and is
served at `GET /v1/openapi.json`. Regenerate it after changing any route; a test fails
while the committed file differs from a fresh build:

    shelfwise openapi --out functions/api/openapi.json
    python -c "from shelfwise_local.openapi import write_openapi; write_openapi()"   # same file
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import shelfwise
from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
from aws_lambda_powertools.event_handler.openapi.models import Server
from shelfwise_infra import spec

OPENAPI_PATH = spec.FUNCTIONS_DIR / "api" / "openapi.json"
TITLE = "shelfwise API"
DESCRIPTION = (
    "Recommendations, customer-service chat triage, demand forecasts and replenishment plans, and customer "
    "segments for online retailers. Every error body has the shape "
    '`{"error": {"code", "message", "details": [{"field", "message"}], "request_id"}}`.'
)
SERVERS = (
    Server(url="http://localhost:3000", description="Local cloud (`shelfwise local up`)"),
    Server(
        url="https://{api_id}.execute-api.{region}.amazonaws.com/{stage}",
        description="Deployed stage",
        variables={
            "api_id": {"default": "api-id", "description": "REST API id from the stack outputs"},
            "region": {"default": "us-east-1"},
            "stage": {"default": "prod"},
        },
    ),
)
BEARER_SCHEME = "BearerAuth"
BEARER_SECURITY_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "A shopper's customer token (shopper routes) or an operator token with the route's scope "
    f"(`{spec.READ_SCOPE}` for reads, `{spec.WRITE_SCOPE}` for changes; `{spec.SERVER_SCOPE}` for the "
    "retailer's servers calling shopper routes).",
}
ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
# Answered by the gateway on any operation, before a function sees the request.
GATEWAY_RESPONSES = {
    "414": {"description": "The URL is longer than the gateway accepts.", "content": ERROR_CONTENT},
}
# The gateway refuses a request before the function sees it; the body is the platform's error shape.
AUTH_RESPONSES = {
    "401": {"description": "Missing, expired or invalid bearer token.", "content": ERROR_CONTENT},
    "403": {
        "description": "The token does not grant this operation (audience or scope).",
        "content": ERROR_CONTENT,
    },
}


class OpenAPIConflictError(RuntimeError):
    """Two functions describe the same operation or the same schema name differently."""


def api_functions(routes: Iterable[spec.Route] = spec.ROUTES) -> list[str]:
    """Names of the functions serving routes, in spec order."""
    return list(dict.fromkeys(route.function for route in routes))


def function_document(name: str) -> dict[str, Any]:
    """One function's OpenAPI document, from its resolver `app`."""
    app = getattr(_load_function_module(name), "app", None)
    if app is None or not hasattr(app, "get_openapi_schema"):
        raise OpenAPIConflictError(f"function {name!r} serves routes but defines no resolver named `app`")
    if hasattr(app, "openapi_document"):
        return app.openapi_document()
    return app.get_openapi_schema().model_dump(mode="json", by_alias=True, exclude_none=True)


def build_openapi(*, version: str = shelfwise.__version__) -> dict[str, Any]:
    """The merged OpenAPI document of every function that has routes in the platform spec."""
    documents = [function_document(name) for name in api_functions()]
    check_schema_names(documents)
    merge = OpenAPIMerge(
        title=TITLE,
        version=version,
        description=DESCRIPTION,
        servers=list(SERVERS),
        security_schemes={BEARER_SCHEME: BEARER_SECURITY_SCHEME},
        on_conflict="error",
    )
    for document in documents:
        merge.add_schema(document)
    try:
        merged = merge.get_openapi_schema()
    except Exception as error:  # OpenAPIMergeError: the same method and path in two functions
        raise OpenAPIConflictError(str(error)) from error
    return _with_security(merged)


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def write_openapi(path: Path = OPENAPI_PATH, *, document: dict[str, Any] | None = None) -> Path:
    """Write the document (a fresh build unless given) to `path`; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(document if document is not None else build_openapi()), encoding="utf-8")
    return path


def _with_security(document: dict[str, Any]) -> dict[str, Any]:
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            public = (method.upper(), path) in spec.public_routes()
            operation["security"] = [] if public else [{BEARER_SCHEME: []}]
            operation.setdefault("responses", {}).update(GATEWAY_RESPONSES)
            operation["responses"] = dict(sorted(operation["responses"].items()))
            if not public:
                responses = operation.setdefault("responses", {})
                responses.update(AUTH_RESPONSES)
                operation["responses"] = dict(sorted(responses.items()))
    return document


def check_schema_names(documents: list[dict[str, Any]]) -> None:
    # OpenAPIMerge lets a later schema silently replace an earlier one with the same name; refuse instead.
    seen: dict[str, Any] = {}
    for document in documents:
        for name, schema in document.get("components", {}).get("schemas", {}).items():
            if name in seen and seen[name] != schema:
                raise OpenAPIConflictError(f"two functions define different schemas named {name!r}")
            seen[name] = schema


def _load_function_module(name: str) -> Any:
    from shelfwise_local import functions

    # Handlers may create AWS clients at import time; a region is all boto3 needs for that.
    os.environ.setdefault("AWS_DEFAULT_REGION", functions.REGION)
    functions.load_handler(name)
    return sys.modules[f"shelfwise_fn_{name}"]
