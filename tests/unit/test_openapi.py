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


def test_api_key_is_required_everywhere_but_health(document: dict) -> None:
    assert document["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
    }
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            expected = [] if (method.upper(), path) in spec.public_routes() else [{"ApiKey": []}]
            assert operation["security"] == expected, (method, path)


def test_two_functions_defining_one_schema_name_differently_is_refused() -> None:
    first = {"components": {"schemas": {"Item": {"type": "object", "properties": {"a": {"type": "string"}}}}}}
    second = {
        "components": {"schemas": {"Item": {"type": "object", "properties": {"b": {"type": "string"}}}}}
    }
    check_schema_names([first, first])  # identical definitions are fine
    with pytest.raises(OpenAPIConflictError, match="Item"):
        check_schema_names([first, second])
