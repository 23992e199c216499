"""The local API gateway's routing and the REST (v1) proxy events it builds."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventModel
from shelfwise_infra import spec
from shelfwise_local.routing import (
    InvalidHandlerResponseError,
    Router,
    build_proxy_event,
    compile_template,
    proxy_response_to_http,
)

ROUTES = (
    spec.Route("GET", "/v1/users/{user_id}/recommendations", "recs"),
    spec.Route("GET", "/v1/items/{item_id}/similar", "recs"),
    spec.Route("GET", "/v1/items/popular/similar", "popular"),
    spec.Route("POST", "/v1/events", "events"),
    spec.Route("GET", "/v1/events", "events"),
    spec.Route("GET", "/files/{proxy+}", "files"),
)


@pytest.fixture
def router() -> Router:
    return Router(ROUTES)


def test_path_parameters_are_taken_from_the_template(router: Router) -> None:
    match = router.match("GET", "/v1/users/u-42/recommendations")

    assert match.route == ROUTES[0]
    assert match.path_parameters == {"user_id": "u-42"}


def test_path_parameters_are_url_decoded(router: Router) -> None:
    assert router.match("GET", "/v1/users/ana%20maria/recommendations").path_parameters == {
        "user_id": "ana maria"
    }


def test_a_parameter_never_spans_segments(router: Router) -> None:
    match = router.match("GET", "/v1/users/a/b/recommendations")

    assert match.route is None
    assert match.allowed_methods == ()


def test_greedy_parameter_spans_segments(router: Router) -> None:
    assert router.match("GET", "/files/2024/03/report.csv").path_parameters == {"proxy": "2024/03/report.csv"}


def test_literal_resource_wins_over_a_template(router: Router) -> None:
    assert router.match("GET", "/v1/items/popular/similar").route == ROUTES[2]
    assert router.match("GET", "/v1/items/i-7/similar").route == ROUTES[1]


def test_wrong_method_reports_the_allowed_ones(router: Router) -> None:
    match = router.match("DELETE", "/v1/events")

    assert match.route is None
    assert match.allowed_methods == ("GET", "POST")


def test_unknown_path_matches_nothing(router: Router) -> None:
    match = router.match("GET", "/v2/users/u/recommendations")

    assert match.route is None
    assert match.allowed_methods == ()


def test_template_special_characters_are_literal() -> None:
    assert compile_template("/v1/openapi.json").match("/v1/openapiXjson") is None


def test_every_spec_route_matches_itself() -> None:
    router = Router(spec.ROUTES)
    for route in spec.ROUTES:
        concrete = route.path.replace("{", "").replace("}", "")
        assert router.match(route.method, concrete).route == route


def proxy_event(body: bytes = b"", query: str = "k=5&exclude=a&exclude=b") -> dict:
    return build_proxy_event(
        route=ROUTES[0],
        method="get",
        path="/v1/users/u-42/recommendations",
        query_string=query,
        headers=[("Host", "localhost:3000"), ("User-Agent", "curl/8"), ("X-Tag", "one"), ("X-Tag", "two")],
        path_parameters={"user_id": "u-42"},
        body=body,
        source_ip="127.0.0.1",
        now=datetime(2024, 3, 1, 12, 0, tzinfo=UTC),
    )


def test_proxy_event_is_a_valid_api_gateway_rest_event() -> None:
    event = APIGatewayProxyEventModel.model_validate(proxy_event())

    assert event.resource == "/v1/users/{user_id}/recommendations"
    assert event.path == "/v1/users/u-42/recommendations"
    assert event.httpMethod == "GET"
    assert event.pathParameters == {"user_id": "u-42"}
    assert event.requestContext.stage == "local"
    assert event.requestContext.identity.sourceIp.compressed == "127.0.0.1/32"
    assert event.requestContext.requestTimeEpoch == datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def test_repeated_query_values_and_headers_follow_api_gateway() -> None:
    event = proxy_event()

    assert event["queryStringParameters"] == {"k": "5", "exclude": "b"}
    assert event["multiValueQueryStringParameters"] == {"k": ["5"], "exclude": ["a", "b"]}
    assert event["headers"]["X-Tag"] == "two"
    assert event["multiValueHeaders"]["X-Tag"] == ["one", "two"]
    assert event["requestContext"]["identity"]["userAgent"] == "curl/8"


def test_no_query_and_no_body_are_null() -> None:
    event = proxy_event(query="")

    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["body"] is None
    assert event["isBase64Encoded"] is False


def test_text_body_passes_as_text_and_binary_as_base64() -> None:
    assert proxy_event(body='{"a": "é"}'.encode())["body"] == '{"a": "é"}'
    binary = proxy_event(body=b"\xff\x00\x01")

    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == b"\xff\x00\x01"


def test_handler_response_becomes_http_response() -> None:
    response = proxy_response_to_http(
        {
            "statusCode": 201,
            "headers": {"Content-Type": "application/json"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": json.dumps({"ok": True}),
        }
    )

    assert response.status == 201
    assert ("Set-Cookie", "a=1") in response.headers and ("Set-Cookie", "b=2") in response.headers
    assert json.loads(response.body) == {"ok": True}


def test_base64_response_body_is_decoded() -> None:
    response = proxy_response_to_http({"statusCode": 200, "body": "AAEC", "isBase64Encoded": True})

    assert response.body == b"\x00\x01\x02"


@pytest.mark.parametrize(
    "result", [None, "ok", {"body": "x"}, {"statusCode": "abc"}, {"statusCode": 200, "body": 5}]
)
def test_malformed_handler_responses_are_refused(result: object) -> None:
    with pytest.raises(InvalidHandlerResponseError):
        proxy_response_to_http(result)


def test_gateway_errors_carry_a_request_id_in_the_body_and_header() -> None:
    from shelfwise_local.routing import error_response

    response = error_response(404, "not_found", "no route")
    error = json.loads(response.body)["error"]
    assert error["request_id"] and dict(response.headers)["x-amzn-RequestId"] == error["request_id"]
    assert error_response(404, "not_found", "no route", request_id="r-1").headers[1] == (
        "x-amzn-RequestId",
        "r-1",
    )


def test_preflight_echoes_only_listed_origins_like_api_gateway() -> None:
    from shelfwise_local.routing import preflight_response

    origins = ["https://shop.example", "http://localhost:8080"]
    allowed = dict(preflight_response("http://localhost:8080", origins, ["POST"]).headers)
    assert allowed["Access-Control-Allow-Origin"] == "http://localhost:8080"
    assert allowed["Access-Control-Allow-Headers"] == "Authorization,Content-Type,X-Api-Key"
    assert allowed["Access-Control-Allow-Methods"] == "POST"
    other = preflight_response("https://evil.example", origins, ["GET", "POST"])
    assert other.status == 204
    assert dict(other.headers)["Access-Control-Allow-Origin"] == "https://shop.example"
    assert dict(other.headers)["Access-Control-Allow-Methods"] == "GET,POST"
