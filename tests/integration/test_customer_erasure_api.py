"""`DELETE /v1/customers/{user_id}` and `GET /v1/customers/erasures/{request_id}`: the handler in moto."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from moto_platform import local_platform, pseudonymizer
from shelfwise.privacy.erasure import ErasureRequests
from shelfwise_infra import spec
from shelfwise_local.functions import context_for, load_handler

pytestmark = pytest.mark.integration

EVENTS = spec.EVENTS_DIR / "customer_erasure"
FUNCTION = spec.function("customer_erasure")


@pytest.fixture
def erasures(monkeypatch: pytest.MonkeyPatch) -> Iterator[ErasureRequests]:
    with local_platform(monkeypatch, FUNCTION.name):
        yield ErasureRequests(spec.ERASURES_TABLE.local_name)


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text("utf-8"))


def delete_event(user_id: str, *, scope: str = "shelfwise/read shelfwise/write") -> dict[str, Any]:
    event = copy.deepcopy(sample("delete-customer"))
    # As API Gateway hands it over: the path as sent (percent-encoded), the parameter decoded.
    event["path"] = f"/v1/customers/{quote(user_id)}"
    event["pathParameters"] = {"user_id": user_id}
    event["requestContext"]["authorizer"]["claims"]["scope"] = scope
    return event


def status_event(request_id: str, *, scope: str = "shelfwise/read") -> dict[str, Any]:
    event = copy.deepcopy(sample("get-erasure"))
    event["path"] = f"/v1/customers/erasures/{request_id}"
    event["pathParameters"] = {"request_id": request_id}
    event["requestContext"]["authorizer"]["claims"]["scope"] = scope
    return event


def call(event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, Any]]:
    response = load_handler(FUNCTION.name)(event, context_for(FUNCTION))
    headers = {name: values[0] for name, values in (response.get("multiValueHeaders") or {}).items()}
    headers.update(response.get("headers") or {})
    return response["statusCode"], json.loads(response["body"]), headers


def test_delete_records_one_request_and_points_at_its_status(erasures: ErasureRequests) -> None:
    status, body, headers = call(delete_event("U00042"))
    again_status, again, _ = call(delete_event("U00042"))

    assert status == 202 and again_status == 202
    assert body == {"request_id": body["request_id"], "status": "pending"} and again == body
    assert headers["Location"] == f"/v1/customers/erasures/{body['request_id']}"
    stored = erasures.get(body["request_id"])
    assert stored is not None
    # What the job needs while it works, and who asked (the operator credential's client id).
    assert stored.pseudonym == pseudonymizer().pseudonym("U00042") and stored.customer_id == "U00042"
    assert stored.item["requested_by"] == "4n8k1mq2c7t0v5r3e9h6j2p1sd"

    status, progress, _ = call(status_event(body["request_id"]))
    assert status == 200
    assert progress["status"] == "pending" and progress["steps"] == [] and progress["attempts"] == 0
    assert "U00042" not in json.dumps(progress) and "customer_id" not in progress


def test_a_read_only_operator_may_look_but_not_erase(erasures: ErasureRequests) -> None:
    status, body, _ = call(delete_event("U00042", scope="shelfwise/read"))
    assert status == 403 and body["error"]["code"] == "forbidden"
    assert erasures.open_requests() == []


@pytest.mark.parametrize(
    ("request_id", "expected"), [("er_" + "0" * 32, 404), ("nope", 422), ("er_" + "Z" * 32, 422)]
)
def test_unknown_or_malformed_request_ids_are_4xx(
    erasures: ErasureRequests, request_id: str, expected: int
) -> None:
    status, body, _ = call(status_event(request_id))
    assert status == expected, body
    assert body["error"]["code"] in {"not_found", "validation_error"}


def test_a_control_character_in_the_customer_id_is_a_422(erasures: ErasureRequests) -> None:
    status, body, _ = call(delete_event("U0\x0142"))
    assert status == 422 and body["error"]["code"] == "validation_error"
    assert erasures.open_requests() == []


def test_sample_events_exist_for_both_routes() -> None:
    assert {path.name for path in Path(EVENTS).iterdir()} >= {"delete-customer.json", "get-erasure.json"}
