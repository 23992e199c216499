"""The OpenAPI document comes from the code: the shipped file equals a fresh build and covers every route."""

import json

import pytest
from shelfwise_infra import spec
from shelfwise_local.openapi import (
    OPENAPI_PATH,
    OpenAPIConflictError,
    build_openapi,
    check_schema_names,
    render,
)


@pytest.fixture(scope="module")
def document() -> dict:
    return build_openapi()


def test_shipped_document_is_a_fresh_build(document: dict) -> None:
    shipped = OPENAPI_PATH.read_text(encoding="utf-8")
    assert shipped == render(document), "functions/api/openapi.json is stale: run `shelfwise openapi`"


def test_every_spec_route_is_documented_with_its_method(document: dict) -> None:
    for route in spec.ROUTES:
        assert route.path in document["paths"], route.path
        assert route.method.lower() in document["paths"][route.path], (route.method, route.path)


def test_document_names_the_platform(document: dict) -> None:
    assert document["info"]["title"] == "shelfwise API"
    assert document["info"]["version"]
    assert any(server["url"].startswith("http://localhost") for server in document["servers"])


def test_errors_are_documented_with_the_platform_error_shape(document: dict) -> None:
    schemas = document["components"]["schemas"]
    assert set(schemas["ErrorResponse"]["properties"]) == {"error"}
    assert {"code", "message", "details"} <= set(schemas["ErrorInfo"]["properties"])
    assert "HTTPValidationError" not in schemas
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            ref = operation["responses"]["500"]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/ErrorResponse"), (method, path)
            if operation.get("parameters"):
                assert "422" in operation["responses"], (method, path)


def test_query_and_path_parameters_carry_their_constraints(document: dict) -> None:
    [model_name] = document["paths"]["/v1/models"]["get"]["parameters"]
    assert model_name["in"] == "query"
    assert model_name["required"] is False
    assert "pattern" in json.dumps(model_name["schema"])

    segment = document["paths"]["/v1/customers/{user_id}/segment"]["get"]
    assert [p["name"] for p in segment["parameters"] if p["in"] == "path"] == ["user_id"]


def test_bearer_token_is_required_everywhere_but_public_routes(document: dict) -> None:
    scheme = document["components"]["securitySchemes"]["BearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert "ApiKey" not in document["components"]["securitySchemes"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            public = (method.upper(), path) in spec.public_routes()
            assert operation["security"] == ([] if public else [{"BearerAuth": []}]), (method, path)
            for status in ("401", "403"):
                if public:
                    assert status not in operation["responses"], (method, path)
                    continue
                ref = operation["responses"][status]["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorResponse"), (method, path, status)


def test_every_error_status_is_documented_with_the_error_model(document: dict) -> None:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert any(status.startswith("2") for status in responses), (method, path)
            for status, response in responses.items():
                if status[0] in "45":
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, status)
            if "requestBody" in operation:
                assert "415" in responses, (method, path)


def test_chat_documents_its_success_and_retry_answers(document: dict) -> None:
    responses = document["paths"]["/v1/chat/messages"]["post"]["responses"]
    success = responses["200"]["content"]["application/json"]["schema"]["$ref"]
    assert success.endswith("/ChatMessageResponse")
    assert {"409", "503"} <= set(responses)


def test_two_functions_defining_one_schema_name_differently_is_refused() -> None:
    first = {"components": {"schemas": {"Item": {"type": "object", "properties": {"a": {"type": "string"}}}}}}
    second = {
        "components": {"schemas": {"Item": {"type": "object", "properties": {"b": {"type": "string"}}}}}
    }
    check_schema_names([first, first])  # identical definitions are fine
    with pytest.raises(OpenAPIConflictError, match="Item"):
        check_schema_names([first, second])


def test_recommendation_answers_document_titles_strategy_and_the_one_score_scale(document: dict) -> None:
    schemas = document["components"]["schemas"]
    item = schemas["RecommendedItem"]["properties"]
    assert {"item_id", "title", "score", "reason", "reason_item_ids"} <= set(item)
    assert {"type": "null"} in item["title"]["anyOf"]
    assert (item["score"]["minimum"], item["score"]["maximum"]) == (0.0, 1.0)
    assert "(n - position) / n" in item["score"]["description"]
    for name in ("RecommendationsResponse", "SimilarItemsResponse"):
        strategy = schemas[name]["properties"]["strategy"]
        assert set(strategy["enum"]) == {"personalized", "similar_items", "popular", "trending"}, name
        assert all(f"`{value}`" in strategy["description"] for value in strategy["enum"]), name


def test_a_bad_cursor_is_documented_as_a_400(document: dict) -> None:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if any(parameter["name"] == "cursor" for parameter in operation.get("parameters", [])):
                assert "cursor" in operation["responses"]["400"]["description"], (method, path)
