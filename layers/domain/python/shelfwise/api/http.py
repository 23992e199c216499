"""The platform's HTTP layer: one resolver factory every API function uses.

Usage in `functions/<name>/app.py`::

    from typing import Annotated

    from aws_lambda_powertools import Logger, Metrics, Tracer
    from aws_lambda_powertools.event_handler.openapi.params import Path, Query
    from aws_lambda_powertools.logging import correlation_paths

    from shelfwise.api.errors import NotFound
    from shelfwise.api.http import create_resolver

    logger, tracer, metrics = Logger(), Tracer(), Metrics()
    app = create_resolver()

    @app.get("/v1/things/<thing_id>", tags=["things"])
    def get_thing(
        thing_id: Annotated[str, Path(min_length=1, max_length=128)],
        k: Annotated[int, Query(ge=1, le=100)] = 10,
    ) -> ThingResponse:  # a pydantic model: validated, serialised and documented in OpenAPI
        raise NotFound(f"no thing {thing_id!r}", field="path.thing_id")

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
    @tracer.capture_lambda_handler
    @metrics.log_metrics(capture_cold_start_metric=True)
    def handler(event, context):
        return app.resolve(event, context)

What the resolver guarantees, so handlers never deal with it:

- every error body has the shape `{"error": {"code", "message", "details": [{"field", "message"}],
  "request_id"}}` (`shelfwise.api.models.ErrorResponse`);
- a parameter or body that fails validation -> 422 `validation_error`, one detail per field, named by where it
  is (`query.k`, `path.user_id`, `body.events.0.item_id`);
- a paging `cursor` that is not one the route handed out -> 400 `invalid_cursor` naming `query.cursor`,
  whether it fails the parameter's schema (empty, too long) or the route's own check
  (`shelfwise.api.errors.InvalidCursor`); with other invalid parameters besides, the 422 names them all;
- a body that is not JSON -> 400 `invalid_json`; a body that is not UTF-8 -> 400 `invalid_encoding`; a body
  (or a POST/PUT/PATCH) with any content type but `application/json` (form, multipart, text...) -> 415
  `unsupported_media_type`: the platform speaks JSON only, so nothing else is ever parsed;
- a body larger than `max_body_bytes` (default `MAX_REQUEST_BODY_BYTES`, 1 MiB) -> 413 `payload_too_large`,
  checked before anything parses it;
- an unknown path -> 404 `not_found`; a known path with the wrong method -> 405 `method_not_allowed` with an
  `Allow` header;
- cross-origin calls from the origins listed in `SHELFWISE_CORS_ALLOWED_ORIGINS` (comma separated) get
  `Access-Control-Allow-Origin` (Powertools `CORSConfig`); other origins get no CORS headers at all;
- `shelfwise.api.errors.NotFound` / `BadRequest` raised below a route -> 404 / 400 with their message;
  Powertools `ServiceError`s (e.g. `BadRequestError`) keep their status;
- anything else -> 500 `internal_error` with the request id only: the exception and stack trace go to the log
  (`logger.exception`), never to the caller.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import json
import os
import re
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError, ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
    ResponseValidationError,
)
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from shelfwise.api.errors import BadRequest, InvalidCursor, NotFound, ShelfwiseError
from shelfwise.api.models import ErrorDetail, ErrorInfo, ErrorResponse
from shelfwise.settings import CORS_ALLOWED_ORIGINS_ENV

logger = Logger(child=True)

# API Gateway accepts 10 MB and a synchronous Lambda invoke 6 MB; no platform endpoint needs more than a
# batch of a few thousand events, so anything past 1 MiB is a mistake or abuse and is refused unparsed.
MAX_REQUEST_BODY_BYTES = 1024 * 1024

# Documented on every operation of the OpenAPI document (see `PlatformResolver.openapi_document`).
ERROR_STATUS_DESCRIPTIONS: dict[int, str] = {
    400: "Malformed request (e.g. the body is not JSON or not UTF-8, or a paging cursor the route did not "
    "hand out).",
    404: "Unknown route or resource.",
    413: "Request body too large.",
    422: "A parameter or body field failed validation; `details` names each field.",
    500: "Unexpected server error; quote `request_id` when reporting it.",
}
# Documented only on operations that take a body.
UNSUPPORTED_MEDIA_TYPE_DESCRIPTION = "The body is not `application/json` (forms and multipart are refused)."

JSON_MEDIA_TYPE = "application/json"
# The query parameter every paged route takes its `next_cursor` back in.
CURSOR_FIELD = "query.cursor"
# Methods whose requests carry a body by nature; their content type is checked even when the body is empty.
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

_SCHEMA_REF = "#/components/schemas/"
_ERROR_CONTENT = {JSON_MEDIA_TYPE: {"schema": {"$ref": f"{_SCHEMA_REF}ErrorResponse"}}}
# Powertools' `<name>` path placeholders, matched the way API Gateway matches `{name}`: one whole segment.
_RULE_PARAMETER = re.compile(r"<\w+>")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    503: "service_unavailable",
}


def error_response(
    status: int,
    code: str,
    message: str,
    details: Iterable[ErrorDetail] = (),
    *,
    request_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A JSON error response in the platform's shape; use it for errors a route wants to return itself."""
    body = ErrorResponse(
        error=ErrorInfo(code=code, message=message, details=list(details), request_id=request_id)
    )
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=body.model_dump_json(exclude_none=True),
        headers=headers,
    )


def field_name(location: Sequence[str | int]) -> str:
    """`("query", "k")` -> `query.k`; `("body", "events", 0, "item_id")` -> `body.events.0.item_id`."""
    return ".".join(str(part) for part in location) or "request"


def validation_details(errors: Iterable[dict[str, Any]]) -> list[ErrorDetail]:
    # Only pydantic's message and location are exposed: they describe the expectation, never internals.
    return [
        ErrorDetail(field=field_name(error.get("loc", ())), message=str(error.get("msg", "invalid")))
        for error in errors
    ]


def allowed_origins(environ: Mapping[str, str] | None = None) -> list[str]:
    """The browser origins allowed to call the API, from `SHELFWISE_CORS_ALLOWED_ORIGINS` (comma separated).

    An origin is `scheme://host[:port]` exactly as browsers send it; a trailing slash is dropped. `*` is
    refused: shoppers' browsers send bearer tokens, so only the retailer's own shop pages may call.
    """
    raw = (os.environ if environ is None else environ).get(CORS_ALLOWED_ORIGINS_ENV, "")
    origins = [origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip()]
    for origin in origins:
        if origin == "*" or not re.fullmatch(r"https?://[^/\s]+", origin):
            raise ValueError(
                f"{CORS_ALLOWED_ORIGINS_ENV}: {origin!r} is not an origin like https://shop.example.com"
            )
    return list(dict.fromkeys(origins))


def cors_config(origins: Sequence[str]) -> CORSConfig | None:
    """Powertools CORS for exactly these origins; None (no CORS headers at all) when there are none."""
    if not origins:
        return None
    return CORSConfig(allow_origin=origins[0], extra_origins=list(origins[1:]))


class PlatformResolver(APIGatewayRestResolver):
    """`APIGatewayRestResolver` that refuses bodies it must not parse before validation touches them."""

    def __init__(
        self, *, max_body_bytes: int = MAX_REQUEST_BODY_BYTES, cors: CORSConfig | None = None, **kwargs: Any
    ) -> None:
        super().__init__(cors=cors, **kwargs)
        self.max_body_bytes = max_body_bytes
        self.cors_config = cors
        # (path pattern, method) of every route, to tell a wrong method (405) from an unknown path (404).
        self.route_methods: list[tuple[re.Pattern[str], str]] = []

    # Takes and forwards every argument of Powertools' `route` unchanged (its long signature is not repeated
    # here, so a Powertools upgrade that adds one needs no edit), hence the narrower declared signature.
    def route(  # type: ignore[override]
        self, rule: str, method: Any, *args: Any, **kwargs: Any
    ) -> Callable[[Callable], Callable]:
        register = super().route(rule, method, *args, **kwargs)
        methods = [method] if isinstance(method, str) else list(method)
        pattern = _rule_pattern(rule)

        def decorator(func: Callable) -> Callable:
            _resolve_string_annotations(func)
            self.route_methods.extend((pattern, name.upper()) for name in methods)
            return register(func)

        return decorator

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        # Powertools' validation parses the body before any middleware runs, and crashes (500) on bodies
        # that are not UTF-8 or on multipart without a boundary: such requests are answered here instead.
        refusal = self.refuse_body(APIGatewayProxyEvent(dict(event)))
        if refusal is not None:
            return refusal
        return super().resolve(_canonical_content_type(event), context)

    def request_id(self) -> str | None:
        return _request_id(self.current_event)

    def allowed_methods(self, path: str) -> list[str]:
        """Methods registered for a path, to tell a wrong method (405) from an unknown path (404)."""
        return sorted({method for pattern, method in self.route_methods if pattern.match(path)})

    def refuse_body(self, event: APIGatewayProxyEvent) -> dict[str, Any] | None:
        """The proxy response for a body the platform does not accept, or None to go on routing."""
        problem = self.body_problem(event)
        if problem is None:
            return None
        response = error_response(*problem[:3], details=[problem[3]], request_id=_request_id(event))
        headers: dict[str, Any] = dict(response.headers)
        if self.cors_config is not None:
            headers.update(self.cors_config.to_dict(event.headers.get("origin")))
        return {
            "statusCode": response.status_code,
            "multiValueHeaders": {
                name: value if isinstance(value, list) else [value] for name, value in headers.items()
            },
            "body": response.body,
            "isBase64Encoded": False,
        }

    def body_problem(self, event: APIGatewayProxyEvent) -> tuple[int, str, str, ErrorDetail] | None:
        """(status, code, message, detail) when the body must be refused; None when it may be parsed."""
        body = event.body or ""
        size = _body_size(body, bool(event.is_base64_encoded))
        if size > self.max_body_bytes:
            # Before routing, so even a wrong path never makes the function read a huge body.
            return (
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                "payload_too_large",
                f"Request body is {size} bytes; the limit is {self.max_body_bytes} bytes.",
                ErrorDetail(field="body", message=f"at most {self.max_body_bytes} bytes"),
            )
        method = (event.http_method or "").upper()
        if method not in self.allowed_methods(event.path or ""):
            return None  # routing answers 404/405 (or the CORS preflight), whatever the body
        if body and event.is_base64_encoded and not _is_utf8(body):
            return (
                HTTPStatus.BAD_REQUEST,
                "invalid_encoding",
                "Request body is not UTF-8 text; send a JSON document encoded as UTF-8.",
                ErrorDetail(field="body", message="not valid UTF-8"),
            )
        content_type = event.headers.get("content-type") or ""
        if (body or method in _BODY_METHODS) and content_type.strip() and not _is_json(content_type):
            return (
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                f"Content type {_printable(content_type)!r} is not supported; send application/json.",
                ErrorDetail(field="header.content-type", message="expected application/json"),
            )
        return None

    def openapi_document(self, **kwargs: Any) -> dict[str, Any]:
        """This function's OpenAPI document with the platform's error shape on every operation.

        Powertools documents 422 with its own `HTTPValidationError`; the platform answers every 4xx and 5xx
        with `ErrorResponse`, so the document says that, whatever model a route declared for an error status.
        Keyword arguments go to `get_openapi_schema` (title, version...).
        """
        document = self.get_openapi_schema(**kwargs).model_dump(mode="json", by_alias=True, exclude_none=True)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        error_schema = ErrorResponse.model_json_schema(ref_template=f"{_SCHEMA_REF}{{model}}")
        schemas.update(error_schema.pop("$defs", {}))
        schemas["ErrorResponse"] = error_schema
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                responses = {str(status): value for status, value in operation.get("responses", {}).items()}
                takes_input = bool(operation.get("parameters") or operation.get("requestBody"))
                for status, description in ERROR_STATUS_DESCRIPTIONS.items():
                    if status == 422 and not takes_input:
                        responses.pop("422", None)
                        continue
                    responses[str(status)] = {"description": description}
                if "requestBody" in operation:
                    responses["415"] = {"description": UNSUPPORTED_MEDIA_TYPE_DESCRIPTION}
                for code, response in responses.items():
                    if code[:1] in {"4", "5"}:
                        response["content"] = _ERROR_CONTENT
                operation["responses"] = dict(sorted(responses.items()))
        if f"{_SCHEMA_REF}ResponseValidationError" not in json.dumps(document.get("paths", {})):
            # Powertools registers this schema on every app; it is only meaningful when a route returns it.
            schemas.pop("ResponseValidationError", None)
        return document


def _canonical_content_type(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """Media types are case-insensitive (RFC 9110); Powertools compares them as written, so a client sending
    `Application/JSON` would get a 415. The accepted JSON type is passed on in lower case."""
    headers = event.get("headers") or {}
    name = next((key for key in headers if key.lower() == "content-type"), None)
    if name is None or headers[name] == headers[name].lower() or not _is_json(headers[name]):
        return event
    canonical = headers[name].lower()
    multi = dict(event.get("multiValueHeaders") or {})
    for key in [key for key in multi if key.lower() == "content-type"]:
        multi[key] = [canonical]
    return {**event, "headers": {**headers, name: canonical}, "multiValueHeaders": multi or None}


def _rule_pattern(rule: str) -> re.Pattern[str]:
    """`/v1/items/<item_id>` -> a regex where each placeholder spans exactly one path segment."""
    literals = _RULE_PARAMETER.split(rule)
    return re.compile("^" + "[^/]+".join(re.escape(literal) for literal in literals) + "$")


def _request_id(event: APIGatewayProxyEvent) -> str | None:
    try:
        return event.request_context.request_id
    except (AttributeError, KeyError, TypeError):
        return None


def _body_size(body: str, is_base64_encoded: bool) -> int:
    if not body:
        return 0
    if is_base64_encoded:
        # Decoded size without decoding: 3 bytes per 4 characters, minus padding.
        return len(body) * 3 // 4 - body[-2:].count("=")
    return len(body.encode("utf-8", errors="surrogatepass"))


def _is_utf8(encoded: str) -> bool:
    try:
        base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return False
    return True


def _is_json(content_type: str) -> bool:
    """`application/json`, optionally with `charset=utf-8`: the one body format every route reads."""
    media_type, *parameters = (part.strip().lower() for part in content_type.split(";"))
    if media_type != JSON_MEDIA_TYPE:
        return False
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip() == "charset" and value.strip().strip('"') not in {"utf-8", "utf8"}:
            return False
    return True


def _resolve_string_annotations(func: Callable) -> None:
    """Turn string annotations (`from __future__ import annotations`) into the objects they name.

    Powertools evaluates them in the namespace of the function it is given; behind a decorator such as
    `tracer.capture_method` that is the decorator's module, where the route's models are unknown. Evaluating
    them here, in the route's own module, makes validation and the OpenAPI document work either way.
    """
    original = inspect.unwrap(func)
    try:
        hints = typing.get_type_hints(original, include_extras=True)
    except (NameError, TypeError):
        return  # names defined later in the module: Powertools resolves those lazily, as before
    original.__annotations__.update(hints)


def create_resolver(
    *, max_body_bytes: int = MAX_REQUEST_BODY_BYTES, cors: CORSConfig | None = None, **kwargs: Any
) -> PlatformResolver:
    """A REST (v1 proxy) resolver with validation on and the platform's error handling registered.

    CORS comes from `SHELFWISE_CORS_ALLOWED_ORIGINS` unless `cors` is given. Extra keyword arguments go to
    `APIGatewayRestResolver`.
    """
    if cors is None:
        cors = cors_config(allowed_origins())
    app = PlatformResolver(max_body_bytes=max_body_bytes, cors=cors, enable_validation=True, **kwargs)
    _register_error_handlers(app)
    return app


def _register_error_handlers(app: PlatformResolver) -> None:
    @app.exception_handler(RequestValidationError)
    def _invalid_request(error: RequestValidationError) -> Response:
        errors = list(error.errors())
        if any(tuple(e.get("loc", ()))[:1] == ("response",) for e in errors):
            # Powertools reports a route's own output failing its model this way: a bug here, not bad input.
            return _internal_error(error)
        if any(e.get("type") == "json_invalid" for e in errors):
            reason = next(e for e in errors if e.get("type") == "json_invalid").get("ctx", {}).get("error")
            return error_response(
                HTTPStatus.BAD_REQUEST,
                "invalid_json",
                "Request body is not valid JSON.",
                [ErrorDetail(field="body", message=str(reason or "not valid JSON"))],
                request_id=app.request_id(),
            )
        details = validation_details(errors)
        fields = ", ".join(dict.fromkeys(detail.field for detail in details))
        if fields == CURSOR_FIELD:
            # An opaque token cannot be "corrected" field by field: it is one routes did not hand out.
            return error_response(
                HTTPStatus.BAD_REQUEST,
                InvalidCursor.code,
                "cursor is not one this listing handed out; start again without it.",
                details,
                request_id=app.request_id(),
            )
        return error_response(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "validation_error",
            f"Invalid request: {fields}.",
            details,
            request_id=app.request_id(),
        )

    @app.exception_handler(json.JSONDecodeError)
    def _invalid_json(error: json.JSONDecodeError) -> Response:
        # Routes that read `app.current_event.json_body` themselves end up here.
        return error_response(
            HTTPStatus.BAD_REQUEST,
            "invalid_json",
            "Request body is not valid JSON.",
            [ErrorDetail(field="body", message=f"{error.msg} at position {error.pos}")],
            request_id=app.request_id(),
        )

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported_media_type(_: RequestUnsupportedContentType) -> Response:
        content_type = app.current_event.headers.get("content-type", "")
        return error_response(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            f"Content type {_printable(content_type)!r} is not supported; send application/json.",
            [ErrorDetail(field="header.content-type", message="expected application/json")],
            request_id=app.request_id(),
        )

    @app.not_found
    def _no_route(error: NotFoundError) -> Response:
        method = app.current_event.http_method.upper()
        # The resolver strips no prefixes (API Gateway passes the resource path without the stage).
        path = app.current_event.path
        allowed = app.allowed_methods(path)
        if method in allowed:
            # A route matched and raised Powertools' NotFoundError itself: the resource is missing.
            return error_response(404, "not_found", _message(error.msg), request_id=app.request_id())
        if allowed:
            return error_response(
                HTTPStatus.METHOD_NOT_ALLOWED,
                "method_not_allowed",
                f"{method} is not allowed on {_printable(path)}; allowed: {', '.join(allowed)}.",
                request_id=app.request_id(),
                headers={"Allow": ", ".join(allowed)},
            )
        return error_response(
            HTTPStatus.NOT_FOUND,
            "not_found",
            f"No route for {method} {_printable(path)}.",
            request_id=app.request_id(),
        )

    @app.exception_handler(ShelfwiseError)
    def _domain_error(error: ShelfwiseError) -> Response:
        status = error.status
        details = [ErrorDetail(field=error.field, message=error.message)] if error.field else []
        return error_response(status, error.code, error.message, details, request_id=app.request_id())

    @app.exception_handler(ServiceError)
    def _service_error(error: ServiceError) -> Response:
        status = int(error.status_code)
        if status >= 500:
            return _internal_error(error)
        code = _STATUS_CODES.get(status, "client_error")
        return error_response(status, code, _message(error.msg), request_id=app.request_id())

    @app.exception_handler(Exception)
    def _internal_error(error: Exception) -> Response:
        request_id = app.request_id()
        if isinstance(error, ResponseValidationError | RequestValidationError):
            # Where and why only: an error's `input` is the response itself, which can name a customer.
            problems = [{"loc": issue.get("loc"), "msg": issue.get("msg")} for issue in error.errors()]
            logger.error("response does not match its model", extra={"errors": problems})
        logger.exception("unhandled error while serving request", extra={"request_id": request_id})
        return error_response(
            HTTPStatus.INTERNAL_SERVER_ERROR,
            "internal_error",
            "Something went wrong on our side. Quote the request id when reporting it.",
            request_id=request_id,
        )


def _message(message: str | dict) -> str:
    if isinstance(message, dict):
        return str(message.get("message") or message)
    return str(message)


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")


def _printable(text: str, limit: int = 200) -> str:
    """Callers' text echoed in messages: control characters removed, length capped."""
    cleaned = _UNPRINTABLE.sub("?", text)
    return cleaned if len(cleaned) <= limit else cleaned[:limit] + "..."


__all__ = [
    "ERROR_STATUS_DESCRIPTIONS",
    "MAX_REQUEST_BODY_BYTES",
    "BadRequest",
    "NotFound",
    "PlatformResolver",
    "allowed_origins",
    "cors_config",
    "create_resolver",
    "error_response",
    "field_name",
    "validation_details",
]
