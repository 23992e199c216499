"""The platform resolver's error handling, exercised through real API Gateway REST proxy events."""

import base64
import copy
import importlib.util
import json
from pathlib import Path
from typing import Annotated, Any

import pytest
from aws_lambda_powertools.event_handler.exceptions import BadRequestError
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, Field
from shelfwise.api.errors import BadRequest, InvalidCursor, NotFound
from shelfwise.api.http import MAX_REQUEST_BODY_BYTES, allowed_origins, create_resolver, field_name
from shelfwise.api.models import ErrorResponse

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events" / "api"
SECRET = "db-password=hunter2"
PAGE_TWO = "page-2"


class Event(BaseModel):
    item_id: str = Field(min_length=1)
    quantity: int = Field(ge=1)


class EventBatch(BaseModel):
    events: list[Event] = Field(min_length=1)


class Item(BaseModel):
    item_id: str
    k: int


def build_app(**kwargs: Any):
    app = create_resolver(**kwargs)

    @app.get("/v1/items/<item_id>")
    def get_item(item_id: str, k: Annotated[int, Query(ge=1, le=100)]) -> Item:
        if item_id == "missing":
            raise NotFound(f"no item {item_id!r}", field="path.item_id")
        if item_id == "nonsense":
            raise BadRequest("k cannot be used with this item", field="query.k")
        if item_id == "powertools":
            raise BadRequestError("plain powertools error")
        if item_id == "crash":
            raise RuntimeError(SECRET)
        if item_id == "bad-output":
            return {"item_id": item_id}  # type: ignore[return-value]  # missing `k`: a bug in the route
        return Item(item_id=item_id, k=k)

    @app.post("/v1/events")
    def post_events(batch: EventBatch) -> dict[str, int]:
        return {"accepted": len(batch.events)}

    @app.get("/v1/pages")
    def get_pages(
        limit: Annotated[int, Query(ge=1, le=10)] = 5,
        cursor: Annotated[str | None, Query(min_length=1, max_length=16)] = None,
    ) -> dict[str, str | None]:
        if cursor not in (None, PAGE_TWO):
            raise InvalidCursor("cursor is not one this listing handed out", field="query.cursor")
        return {"next_cursor": None if cursor else PAGE_TWO}

    return app


def request(
    method: str = "GET",
    path: str = "/v1/items/i1",
    *,
    query: dict[str, str] | None = None,
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    event = copy.deepcopy(json.loads((EVENTS_DIR / "get-health.json").read_text()))
    event.update(path=path, resource=path, httpMethod=method, body=body)
    event["requestContext"].update(httpMethod=method, resourcePath=path, path=f"/prod{path}")
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} if query else None
    for name, value in (headers or {}).items():
        event["headers"][name] = value
        event["multiValueHeaders"][name] = [value]
    return event


def call(app, event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, list[str]]]:
    response = app.resolve(event, None)
    return response["statusCode"], json.loads(response["body"]), response["multiValueHeaders"]


@pytest.fixture(scope="module")
def app():
    return build_app()


def error_of(body: dict[str, Any]) -> dict[str, Any]:
    ErrorResponse.model_validate(body)  # every error body follows the documented shape
    return body["error"]


def test_valid_request_is_served(app) -> None:
    status, body, _ = call(app, request(query={"k": "5"}))
    assert status == 200
    assert body == {"item_id": "i1", "k": 5}


def test_out_of_range_query_parameter_is_422_naming_the_field(app) -> None:
    status, body, _ = call(app, request(query={"k": "500"}))
    error = error_of(body)
    assert status == 422
    assert error["code"] == "validation_error"
    assert [d["field"] for d in error["details"]] == ["query.k"]
    assert "100" in error["details"][0]["message"]
    assert "query.k" in error["message"]


def test_missing_and_mistyped_parameters_are_each_named(app) -> None:
    status, body, _ = call(app, request(query={"k": "many"}))
    assert status == 422
    assert error_of(body)["details"][0]["field"] == "query.k"

    status, body, _ = call(app, request())
    assert status == 422
    assert error_of(body)["details"] == [{"field": "query.k", "message": "Field required"}]


def test_body_errors_name_the_nested_field(app) -> None:
    body_text = json.dumps({"events": [{"item_id": "i1", "quantity": 1}, {"item_id": "", "quantity": 0}]})
    status, body, _ = call(app, request("POST", "/v1/events", body=body_text))
    error = error_of(body)
    assert status == 422
    assert {d["field"] for d in error["details"]} == {"body.events.1.item_id", "body.events.1.quantity"}


def test_valid_body_is_accepted(app) -> None:
    body_text = json.dumps({"events": [{"item_id": "i1", "quantity": 2}]})
    status, body, _ = call(app, request("POST", "/v1/events", body=body_text))
    assert (status, body) == (200, {"accepted": 1})


def test_malformed_json_is_400_invalid_json(app) -> None:
    status, body, _ = call(app, request("POST", "/v1/events", body='{"events": [}'))
    error = error_of(body)
    assert status == 400
    assert error["code"] == "invalid_json"
    assert error["details"][0]["field"] == "body"


def test_unsupported_content_type_is_415(app) -> None:
    event = request("POST", "/v1/events", body="<xml/>", headers={"Content-Type": "application/xml"})
    status, body, _ = call(app, event)
    assert status == 415
    assert error_of(body)["code"] == "unsupported_media_type"


def test_unknown_route_is_json_404(app) -> None:
    status, body, headers = call(app, request(path="/v1/nowhere"))
    error = error_of(body)
    assert status == 404
    assert error["code"] == "not_found"
    assert "/v1/nowhere" in error["message"]
    assert headers["Content-Type"] == ["application/json"]


def test_wrong_method_on_known_path_is_405_with_allow_header(app) -> None:
    status, body, headers = call(app, request("DELETE", "/v1/events"))
    assert status == 405
    assert error_of(body)["code"] == "method_not_allowed"
    assert headers["Allow"] == ["POST"]


def test_domain_not_found_is_404_with_its_message_and_field(app) -> None:
    status, body, _ = call(app, request(path="/v1/items/missing", query={"k": "3"}))
    error = error_of(body)
    assert status == 404
    assert error["message"] == "no item 'missing'"
    assert error["details"] == [{"field": "path.item_id", "message": "no item 'missing'"}]


def test_domain_bad_request_is_400(app) -> None:
    status, body, _ = call(app, request(path="/v1/items/nonsense", query={"k": "3"}))
    assert status == 400
    assert error_of(body)["code"] == "bad_request"


def test_powertools_service_errors_keep_their_status_in_the_platform_shape(app) -> None:
    status, body, _ = call(app, request(path="/v1/items/powertools", query={"k": "3"}))
    assert status == 400
    assert error_of(body) == {
        "code": "bad_request",
        "message": "plain powertools error",
        "details": [],
        "request_id": "6f1c2b7e-0d4a-4f43-9a51-2c8e7b3d9a10",
    }


def test_unexpected_exception_is_500_with_request_id_and_nothing_else(app) -> None:
    response = app.resolve(request(path="/v1/items/crash", query={"k": "3"}), None)
    error = error_of(json.loads(response["body"]))
    assert response["statusCode"] == 500
    assert error["code"] == "internal_error"
    assert error["request_id"] == "6f1c2b7e-0d4a-4f43-9a51-2c8e7b3d9a10"
    for leak in (SECRET, "RuntimeError", "Traceback", "app.py", 'File "'):
        assert leak not in response["body"]


def test_a_route_breaking_its_response_model_is_a_500_not_the_callers_fault(app) -> None:
    status, body, _ = call(app, request(path="/v1/items/bad-output", query={"k": "3"}))
    assert status == 500
    assert error_of(body)["code"] == "internal_error"


def test_oversized_body_is_413_before_it_is_parsed() -> None:
    small_app = build_app(max_body_bytes=64)
    # Not even JSON: the size check must come first, so the caller learns the real problem.
    status, body, _ = call(small_app, request("POST", "/v1/events", body="x" * 65))
    error = error_of(body)
    assert status == 413
    assert error["code"] == "payload_too_large"
    assert "64" in error["message"]

    at_limit = json.dumps({"events": [{"item_id": "i" * 20, "quantity": 1}]}).ljust(64)
    status, _, _ = call(small_app, request("POST", "/v1/events", body=at_limit))
    assert status == 200


def test_default_body_limit_is_one_mebibyte(app) -> None:
    assert MAX_REQUEST_BODY_BYTES == 1024 * 1024
    status, _, _ = call(app, request("POST", "/v1/events", body=" " * (MAX_REQUEST_BODY_BYTES + 1)))
    assert status == 413


def test_base64_bodies_are_measured_decoded() -> None:
    small_app = build_app(max_body_bytes=48)
    payload = json.dumps({"events": [{"item_id": "abc", "quantity": 1}]}).encode()
    assert len(payload) <= 48 < len(base64.b64encode(payload))
    event = request("POST", "/v1/events", body=base64.b64encode(payload).decode())
    event["isBase64Encoded"] = True
    status, body, _ = call(small_app, event)
    assert (status, body) == (200, {"accepted": 1})


@pytest.mark.parametrize(
    "event",
    [
        request(query={"k": "0"}),
        request("POST", "/v1/events", body="{not json"),
        request("POST", "/v1/events", body=json.dumps({"events": "nope"})),
        request("POST", "/v1/events", body=json.dumps([1, 2, 3])),
        request(path="/v1/items/crash", query={"k": "1"}),
        request(path="/v1/\x00/evil"),
        request("PATCH", "/v1/items/i1"),
    ],
)
def test_no_error_body_carries_a_stack_trace(app, event: dict[str, Any]) -> None:
    response = app.resolve(event, None)
    assert response["statusCode"] >= 400
    assert "Traceback" not in response["body"]
    assert "\x00" not in response["body"]
    error_of(json.loads(response["body"]))


def test_field_names_join_locations() -> None:
    assert field_name(("query", "k")) == "query.k"
    assert field_name(("body", "events", 0, "item_id")) == "body.events.0.item_id"
    assert field_name(()) == "request"


ROUTE_MODULE_WITH_STRING_ANNOTATIONS = """
from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.event_handler.openapi.params import Query
from shelfwise.api.http import create_resolver
from shelfwise.api.models import HealthResponse

tracer = Tracer(disabled=True)
app = create_resolver()


@app.get("/v1/decorated")
@tracer.capture_method
def decorated(k: Annotated[int, Query(ge=1)] = 1) -> HealthResponse:
    return HealthResponse(version=str(k), stage="test", time="now")
"""


def test_routes_with_string_annotations_behind_decorators_still_validate(tmp_path: Path) -> None:
    # `from __future__ import annotations` + a decorator used to hide the route's types from Powertools.
    source = tmp_path / "app.py"
    source.write_text(ROUTE_MODULE_WITH_STRING_ANNOTATIONS, encoding="utf-8")
    module_spec = importlib.util.spec_from_file_location("shelfwise_test_string_annotations", source)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)

    status, body, _ = call(module.app, request(path="/v1/decorated", query={"k": "0"}))
    assert status == 422
    assert error_of(body)["details"][0]["field"] == "query.k"
    status, body, _ = call(module.app, request(path="/v1/decorated", query={"k": "3"}))
    assert (status, body["version"]) == (200, "3")
    document = module.app.openapi_document()
    ok = document["paths"]["/v1/decorated"]["get"]["responses"]["200"]["content"]["application/json"]
    assert ok["schema"]["$ref"].endswith("/HealthResponse")


REQUEST_ID = "6f1c2b7e-0d4a-4f43-9a51-2c8e7b3d9a10"  # the template event's `requestContext.requestId`


def base64_request(raw: bytes, **kwargs: Any) -> dict[str, Any]:
    event = request("POST", "/v1/events", body=base64.b64encode(raw).decode(), **kwargs)
    event["isBase64Encoded"] = True
    return event


def test_body_that_is_not_utf8_is_400_invalid_encoding_not_a_crash(app) -> None:
    # `printf 'L\xe9' | curl --data-binary @-`: API Gateway hands non-UTF-8 bodies over base64-encoded.
    status, body, _ = call(app, base64_request(b"L\xe9", headers={"Content-Type": "application/json"}))
    error = error_of(body)
    assert status == 400
    assert (error["code"], error["request_id"]) == ("invalid_encoding", REQUEST_ID)
    assert error["details"] == [{"field": "body", "message": "not valid UTF-8"}]


@pytest.mark.parametrize(
    ("content_type", "payload"),
    [
        ("multipart/form-data", '{"text":"hi"}'),  # no boundary: Powertools' parser raised ValueError -> 500
        (
            "multipart/form-data; boundary=x",
            '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--',
        ),
        ("application/x-www-form-urlencoded", "events=1"),
        ("text/plain", '{"events": []}'),
        ("application/json; charset=latin-1", '{"events": []}'),
        ("application/jsonx", '{"events": []}'),
        ("multipart/form-data", ""),  # no body at all still names the wrong type on a POST
    ],
)
def test_bodies_that_are_not_json_are_415_with_the_error_body(app, content_type: str, payload: str) -> None:
    event = request("POST", "/v1/events", body=payload or None, headers={"Content-Type": content_type})
    status, body, _ = call(app, event)
    error = error_of(body)
    assert status == 415
    assert (error["code"], error["request_id"]) == ("unsupported_media_type", REQUEST_ID)
    assert error["details"][0]["field"] == "header.content-type"


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=UTF-8", "Application/JSON", None]
)
def test_json_bodies_with_or_without_a_content_type_are_read(app, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else None
    payload = json.dumps({"events": [{"item_id": "i1", "quantity": 2}]})
    status, body, _ = call(app, request("POST", "/v1/events", body=payload, headers=headers))
    assert (status, body) == (200, {"accepted": 1})


def test_routing_answers_before_the_body_is_judged(app) -> None:
    # A wrong path or method is the more useful answer than the body's format.
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status, body, _ = call(app, request("POST", "/v1/nowhere", body="a=1", headers=form))
    assert (status, error_of(body)["code"]) == (404, "not_found")
    status, _, _ = call(app, request("PUT", "/v1/events", body="a=1", headers=form))
    assert status == 405


def test_router_level_404_and_405_carry_the_request_id(app) -> None:
    for event in (request(path="/v1/nowhere"), request("DELETE", "/v1/events")):
        _, body, _ = call(app, event)
        assert error_of(body)["request_id"] == REQUEST_ID
        assert set(body) == {"error"}


SHOP = "https://shop.example.com"


@pytest.fixture
def cors_app(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SHELFWISE_CORS_ALLOWED_ORIGINS", f" {SHOP}/ , http://localhost:8080")
    return build_app()


def test_allowed_origin_gets_cors_headers_on_success_and_on_errors(cors_app) -> None:
    for event in (
        request(query={"k": "5"}, headers={"Origin": SHOP}),
        request(query={"k": "0"}, headers={"Origin": SHOP}),  # 422 from validation
        request(path="/v1/nowhere", headers={"origin": SHOP}),  # 404 from routing
        base64_request(b"\xff", headers={"Origin": SHOP}),  # 400 before Powertools sees the event
    ):
        _, _, headers = call(cors_app, event)
        assert headers["Access-Control-Allow-Origin"] == [SHOP], event["path"]


@pytest.mark.parametrize("origin", [None, "https://evil.example.com", "https://shop.example.com.evil.io"])
def test_other_origins_get_no_cors_headers(cors_app, origin: str | None) -> None:
    for event in (
        request(query={"k": "5"}, headers={"Origin": origin} if origin else None),
        base64_request(b"\xff", headers={"Origin": origin} if origin else None),
    ):
        _, _, headers = call(cors_app, event)
        assert not any(name.lower().startswith("access-control-") for name in headers), headers


def test_no_origins_configured_means_no_cors_at_all(app) -> None:
    _, _, headers = call(app, request(query={"k": "5"}, headers={"Origin": SHOP}))
    assert not any(name.lower().startswith("access-control-") for name in headers)


def test_allowed_origins_are_exact_origins() -> None:
    variable = "SHELFWISE_CORS_ALLOWED_ORIGINS"
    assert allowed_origins({variable: "https://a.example, http://localhost:3000/,https://a.example"}) == [
        "https://a.example",
        "http://localhost:3000",
    ]
    assert allowed_origins({}) == []
    for wrong in ("*", "shop.example.com", "https://shop.example.com/widget"):
        with pytest.raises(ValueError, match=variable):
            allowed_origins({variable: wrong})


def test_openapi_documents_415_on_body_routes_and_errors_with_error_response(app) -> None:
    document = app.openapi_document()
    post = document["paths"]["/v1/events"]["post"]["responses"]
    get = document["paths"]["/v1/items/{item_id}"]["get"]["responses"]
    assert "415" in post and "415" not in get
    for responses in (post, get):
        for status, response in responses.items():
            if status[0] in "45":
                assert response["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")


def test_iso_date_time_parameters_refuse_unix_timestamps() -> None:
    from datetime import datetime

    from shelfwise.api.params import IsoDateTime

    app = create_resolver()

    @app.get("/v1/since")
    def since_route(since: Annotated[IsoDateTime, Query()]) -> dict[str, str]:
        return {"since": since.isoformat()}

    for number in ("0.5", "1700000000"):
        status, body, _ = call(app, request(path="/v1/since", query={"since": number}))
        assert (status, error_of(body)["details"][0]["field"]) == (422, "query.since")
    status, body, _ = call(app, request(path="/v1/since", query={"since": "2024-03-01T00:00:00Z"}))
    assert (status, datetime.fromisoformat(body["since"]).year) == (200, 2024)


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",  # the route's own check
        "x" * 17,  # longer than the parameter allows
        "",  # shorter than the parameter allows
    ],
)
def test_a_cursor_the_route_did_not_hand_out_is_400_invalid_cursor(app, cursor: str) -> None:
    status, body, _ = call(app, request(path="/v1/pages", query={"cursor": cursor}))
    error = error_of(body)
    assert status == 400, body
    assert (error["code"], error["request_id"]) == ("invalid_cursor", REQUEST_ID)
    assert [detail["field"] for detail in error["details"]] == ["query.cursor"]


def test_a_handed_out_cursor_pages_and_other_bad_parameters_still_name_every_field(app) -> None:
    status, body, _ = call(app, request(path="/v1/pages"))
    assert (status, body) == (200, {"next_cursor": PAGE_TWO})
    status, body, _ = call(app, request(path="/v1/pages", query={"cursor": PAGE_TWO}))
    assert (status, body) == (200, {"next_cursor": None})
    status, body, _ = call(app, request(path="/v1/pages", query={"cursor": "x" * 17, "limit": "0"}))
    error = error_of(body)
    assert (status, error["code"]) == (422, "validation_error")
    assert {detail["field"] for detail in error["details"]} == {"query.cursor", "query.limit"}


def _oversized() -> dict[str, Any]:
    return request("POST", "/v1/events", body="x" * (MAX_REQUEST_BODY_BYTES + 1))


@pytest.mark.parametrize(
    ("event", "status"),
    [
        (request(path="/v1/nowhere"), 404),
        (request("DELETE", "/v1/events"), 405),
        (request(query={"k": "0"}), 422),
        (request("POST", "/v1/events", body='{"events": [{"item_id": "", "quantity": 0}]}'), 422),
        (request("POST", "/v1/events", body="{not json"), 400),
        (request("POST", "/v1/events", body="a=1", headers={"Content-Type": "text/plain"}), 415),
        (_oversized(), 413),
        (request(path="/v1/items/missing", query={"k": "3"}), 404),
        (request(path="/v1/items/nonsense", query={"k": "3"}), 400),
        (request(path="/v1/items/powertools", query={"k": "3"}), 400),
        (request(path="/v1/pages", query={"cursor": "garbage"}), 400),
        (request(path="/v1/items/crash", query={"k": "3"}), 500),
    ],
)
def test_every_error_has_one_layout_with_the_request_id(app, event: dict[str, Any], status: int) -> None:
    got, body, _ = call(app, event)
    assert got == status
    assert set(body) == {"error"}
    error = error_of(body)
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["request_id"] == REQUEST_ID and error["code"] and error["message"]
    assert all(set(detail) == {"field", "message"} for detail in error["details"])
