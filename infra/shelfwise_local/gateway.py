"""The local HTTP gateway: API Gateway (REST, proxy integration) in front of the real handlers, plus the
local cloud's control endpoints under `/_local/` (not part of the public API).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from shelfwise.api.http import allowed_origins
from shelfwise.auth import WRITE_SCOPE
from shelfwise_infra import spec

from shelfwise_local.authorization import LocalAuthorizers, Refusal
from shelfwise_local.routing import (
    MAX_REQUEST_BYTES,
    HttpResponse,
    InvalidHandlerResponseError,
    Router,
    build_proxy_event,
    error_response,
    preflight_response,
    proxy_response_to_http,
)

log = logging.getLogger("shelfwise.local")

CONTROL_PREFIX = "/_local/"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_SCHEDULE_RUNS = re.compile(r"^/_local/schedules/(?P<name>[^/]+)/runs$")
_RUN = re.compile(r"^/_local/runs/(?P<run_id>[^/]+)$")


class RequestTooLargeError(Exception):
    pass


@dataclass
class GatewayBackend:
    """What the gateway needs from the local cloud."""

    router: Router
    invoke: Callable[[str, dict[str, Any]], Any]
    start_run: Callable[[str], str | None]  # schedule name → run id, None when unknown
    get_run: Callable[[str], dict[str, Any] | None]
    status: Callable[[], dict[str, Any]]
    known_schedules: Callable[[], list[str]]
    # None only in tests of the gateway's plumbing; the local cloud always authorizes like API Gateway.
    authorizers: LocalAuthorizers | None = None


def json_response(status: int, payload: Any) -> HttpResponse:
    return HttpResponse(
        status, [("Content-Type", "application/json")], json.dumps(payload, default=str).encode()
    )


class GatewayRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "shelfwise-local"
    backend: GatewayBackend  # set on the subclass built by `make_gateway`

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, CONNECT, made-up ones) is routed too, so it gets API Gateway's 404/405 in
        # the platform's error body instead of http.server's HTML 501.
        if name.startswith("do_") and name[3:].isalpha():
            return self._dispatch
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own refusals (URL or headers too long, malformed request line) in the platform's
        # error body with a request id, like every other gateway answer, instead of an HTML page.
        self.close_connection = True
        if not hasattr(self, "command") or self.command is None:
            self.command = ""  # the request line was unreadable: `_send` still needs a method to look at
        code_name = {414: "uri_too_long", 431: "headers_too_large"}.get(code, "bad_request")
        self._send(error_response(code, code_name, message or explain or "the request could not be read"))

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("gateway: " + format, *args)

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        try:
            body = self._read_body()
        except RequestTooLargeError:
            self.close_connection = True
            self._send(
                error_response(
                    413, "payload_too_large", f"request body exceeds the {MAX_REQUEST_BYTES} byte limit"
                )
            )
            return
        except ValueError as problem:
            self.close_connection = True
            self._send(error_response(400, "bad_request", str(problem)))
            return
        if url.path.startswith(CONTROL_PREFIX):
            response = self._control_refusal() or self._control(url.path)
        else:
            response = self._api(url.path, url.query, body)
        self._send(response)
        log.info("%s %s → %d", self.command, self._resource(url.path), response.status)

    def _resource(self, path: str) -> str:
        """What the console shows of a request: the route's template, as API Gateway's access log does
        (`/v1/users/{user_id}/recommendations`), so no customer id from a path reaches the console."""
        if path.startswith(CONTROL_PREFIX):
            return path
        route = self.backend.router.match(self.command, path).route
        return route.path if route is not None else "(no route)"

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if not length_header:
            return b""
        try:
            length = int(length_header)
        except ValueError as error:
            raise ValueError("Content-Length is not a number") from error
        if length > MAX_REQUEST_BYTES:
            raise RequestTooLargeError
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return b"".join(chunks)
            total += size
            if total > MAX_REQUEST_BYTES:
                raise RequestTooLargeError
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _api(self, path: str, query: str, body: bytes) -> HttpResponse:
        if self.command == "OPTIONS":
            preflight = self._preflight(path)
            if preflight is not None:
                return preflight
        match = self.backend.router.match(self.command, path)
        if match.route is None:
            if match.allowed_methods:
                return error_response(
                    405,
                    "method_not_allowed",
                    f"{self.command} is not allowed on {path}; allowed: {', '.join(match.allowed_methods)}",
                    Allow=", ".join(match.allowed_methods),
                )
            return error_response(404, "not_found", f"no route for {self.command} {path}")
        decision = self._authorize(match.route, path, match.path_parameters)
        if isinstance(decision, HttpResponse):
            return decision
        event = build_proxy_event(
            authorizer=decision,
            route=match.route,
            method=self.command,
            path=path,
            query_string=query,
            headers=list(self.headers.items()),
            path_parameters=match.path_parameters,
            body=body,
            source_ip=self.client_address[0],
        )
        try:
            result = self.backend.invoke(match.route.function, event)
            return proxy_response_to_http(result)
        except InvalidHandlerResponseError as problem:
            log.error("function %s returned an invalid response: %s", match.route.function, problem)
        except Exception:
            log.exception("function %s raised on %s %s", match.route.function, self.command, match.route.path)
        request_id = event["requestContext"]["requestId"]
        return error_response(
            502, "handler_error", "the function failed to handle the request", request_id=request_id
        )

    def _preflight(self, path: str) -> HttpResponse | None:
        """API Gateway answers CORS preflights itself, before any authorizer, on every resource of the API.

        Only when the shop's origins are configured (`--cors-origin`, the same variable the functions read);
        without them there is no OPTIONS method and the request gets the usual 405.
        """
        origins = allowed_origins()
        methods = self.backend.router.match(self.command, path).allowed_methods
        if not origins or not methods:
            return None
        return preflight_response(self.headers.get("Origin"), origins, methods)

    def _authorize(
        self, route: spec.Route, path: str, path_parameters: dict[str, str]
    ) -> dict[str, Any] | HttpResponse | None:
        if self.backend.authorizers is None:
            return None
        try:
            decision = self.backend.authorizers.authorize(
                route,
                method=self.command,
                path=path,
                headers=list(self.headers.items()),
                path_parameters=path_parameters,
            )
        except Exception:
            log.exception("the authorizer failed on %s %s", self.command, route.path)
            return error_response(500, "authorizer_error", "the request could not be authorized")
        if isinstance(decision, Refusal):
            return error_response(decision.status, decision.code, decision.message)
        return decision

    def _control_refusal(self) -> HttpResponse | None:
        """Control routes start jobs: only this machine's own tools may call them, with the operator token.

        A web page the developer happens to visit can send requests to localhost: refusing other origins and
        host names (DNS rebinding) keeps it from triggering runs even before the token check.
        """
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]").lower()
        if host not in LOOPBACK_HOSTS:
            return error_response(403, "forbidden", "control routes answer only on localhost")
        origin = self.headers.get("Origin")
        if origin is not None and urlsplit(origin).hostname not in LOOPBACK_HOSTS:
            return error_response(403, "forbidden", "control routes refuse cross-origin requests")
        if self.backend.authorizers is None:
            return None
        refusal = self.backend.authorizers.operator_refusal(self.headers.get("Authorization"), WRITE_SCOPE)
        if refusal is not None:
            return error_response(refusal.status, refusal.code, refusal.message)
        return None

    def _control(self, path: str) -> HttpResponse:
        schedule_runs = _SCHEDULE_RUNS.match(path)
        if schedule_runs and self.command == "POST":
            name = schedule_runs.group("name")
            run_id = self.backend.start_run(name)
            if run_id is None:
                known = self.backend.known_schedules()
                return json_response(
                    404,
                    {
                        "error": {
                            "code": "unknown_schedule",
                            "message": f"no schedule named {name!r}",
                            "details": [{"field": "path.name", "message": f"known: {', '.join(known)}"}],
                        },
                        "known_schedules": known,
                    },
                )
            return json_response(202, {"run_id": run_id})
        run = _RUN.match(path)
        if run and self.command == "GET":
            record = self.backend.get_run(run.group("run_id"))
            if record is None:
                return error_response(404, "not_found", f"no run {run.group('run_id')!r}")
            return json_response(200, record)
        if path == "/_local/status" and self.command == "GET":
            return json_response(200, self.backend.status())
        return error_response(404, "not_found", f"no control endpoint {self.command} {path}")

    def _send(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        names = set()
        for name, value in response.headers:
            if name.lower() in {"content-length", "connection", "transfer-encoding"}:
                continue
            names.add(name.lower())
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)


def make_gateway(host: str, port: int, backend: GatewayBackend) -> ThreadingHTTPServer:
    handler = type("BoundGatewayRequestHandler", (GatewayRequestHandler,), {"backend": backend})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
