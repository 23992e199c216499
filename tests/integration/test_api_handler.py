"""The `api` function end to end: real API Gateway events in, moto DynamoDB behind, JSON out."""

import copy
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
from moto_platform import local_platform
from shelfwise_infra import spec
from shelfwise_local.functions import context_for, load_handler

pytestmark = pytest.mark.integration

API = spec.function("api")
EVENTS = spec.EVENTS_DIR / "api"


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))


def invoke(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = load_handler("api")(event, context_for(API))
    return response["statusCode"], json.loads(response["body"])


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with local_platform(monkeypatch, API.name):
        yield boto3.resource("dynamodb").Table(spec.MODELS_TABLE.local_name)


def register(table: Any, model_name: str, version: str, status: str, created_at: str, **extra: Any) -> None:
    table.put_item(
        Item={
            "model_name": model_name,
            "version": version,
            "status": status,
            "created_at": created_at,
            **extra,
        }
    )


def test_health_reports_version_stage_and_time(cloud: Any) -> None:
    status, body = invoke(sample("get-health"))
    assert status == 200
    assert body["status"] == "ok"
    assert body["version"] == "0.1.0"
    assert body["stage"] == "local"
    assert body["time"].endswith("Z")


def test_models_is_an_empty_list_when_nothing_was_trained(cloud: Any) -> None:
    assert invoke(sample("get-models")) == (200, {"models": []})


def test_models_lists_every_version_with_plain_metrics(cloud: Any) -> None:
    register(
        cloud,
        "recommender",
        "2026-01-02",
        "promoted",
        "2026-01-02T02:00:00Z",
        metrics={"ndcg_at_10": Decimal("0.471"), "users": Decimal("943")},
        artifact_uri="s3://shelfwise-data/models/recommender/2026-01-02/model.onnx",
        reason="beats the promoted version",
    )
    register(cloud, "recommender", "2026-01-09", "rejected", "2026-01-09T02:00:00Z", reason="worse ndcg")
    register(cloud, "chat-intent", "2026-01-05", "candidate", "2026-01-05T03:00:00Z", metrics={})

    status, body = invoke(sample("get-models"))
    assert status == 200
    assert [(m["model_name"], m["version"], m["status"]) for m in body["models"]] == [
        ("chat-intent", "2026-01-05", "candidate"),
        ("recommender", "2026-01-09", "rejected"),
        ("recommender", "2026-01-02", "promoted"),
    ]
    promoted = body["models"][2]
    assert promoted["metrics"] == {"ndcg_at_10": 0.471, "users": 943}
    assert promoted["artifact_uri"].endswith("model.onnx")
    assert promoted["created_at"] == "2026-01-02T02:00:00Z"


def test_models_filter_by_name(cloud: Any) -> None:
    register(cloud, "recommender", "v1", "promoted", "2026-01-02T02:00:00Z")
    register(cloud, "chat-intent", "v1", "promoted", "2026-01-02T02:00:00Z")
    status, body = invoke(sample("get-models-by-name"))
    assert status == 200
    assert {m["model_name"] for m in body["models"]} == {"recommender"}

    event = sample("get-models-by-name")
    event["queryStringParameters"] = event["multiValueQueryStringParameters"] = None
    event["queryStringParameters"] = {"model_name": "forecaster"}
    event["multiValueQueryStringParameters"] = {"model_name": ["forecaster"]}
    assert invoke(event) == (200, {"models": []})


def test_models_filter_that_cannot_be_a_name_is_422_naming_it(cloud: Any) -> None:
    status, body = invoke(sample("get-models-invalid-filter"))
    assert status == 422
    assert body["error"]["code"] == "validation_error"
    assert [d["field"] for d in body["error"]["details"]] == ["query.model_name"]

    event = copy.deepcopy(sample("get-models-by-name"))
    event["queryStringParameters"] = {"model_name": "rec'; DROP TABLE"}
    event["multiValueQueryStringParameters"] = {"model_name": ["rec'; DROP TABLE"]}
    status, body = invoke(event)
    assert status == 422
    assert body["error"]["details"][0]["field"] == "query.model_name"


def test_openapi_route_serves_the_shipped_document(cloud: Any) -> None:
    status, body = invoke(sample("get-openapi"))
    shipped = json.loads((spec.FUNCTIONS_DIR / "api" / "openapi.json").read_text(encoding="utf-8"))
    assert status == 200
    assert body == shipped
    assert body["info"]["title"] == "shelfwise API"


def test_unknown_route_and_wrong_method_are_json_errors(cloud: Any) -> None:
    event = sample("get-health")
    event["path"] = "/v1/not-a-route"
    status, body = invoke(event)
    assert status == 404
    assert body["error"]["code"] == "not_found"
    # The same layout as every other error, with the request id to quote.
    assert set(body["error"]) == {"code", "message", "details", "request_id"}
    assert body["error"]["request_id"] == event["requestContext"]["requestId"]

    event = sample("get-health")
    event["httpMethod"] = "POST"
    status, body = invoke(event)
    assert status == 405
    assert body["error"]["code"] == "method_not_allowed"
    assert set(body["error"]) == {"code", "message", "details", "request_id"}
    assert body["error"]["request_id"] == event["requestContext"]["requestId"]


def test_registry_failure_is_a_500_without_internals(cloud: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # The table name points nowhere: DynamoDB answers ResourceNotFoundException.
    monkeypatch.setenv(spec.MODELS_TABLE.env, "no-such-table")
    response = load_handler("api")(sample("get-models"), context_for(API))
    assert response["statusCode"] == 500
    body = json.loads(response["body"])
    assert body["error"]["code"] == "internal_error"
    assert body["error"]["request_id"] == sample("get-models")["requestContext"]["requestId"]
    for leak in ("no-such-table", "ResourceNotFound", "Traceback", "botocore"):
        assert leak not in response["body"]
