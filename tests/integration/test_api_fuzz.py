"""Schemathesis against the real handlers behind the local gateway: no input makes the API answer 5xx, and
every answer is one the served OpenAPI document describes (status, content type, body schema).

`shelfwise local up` runs as a subprocess (as users run it), with no data: most lookups are 404s, which the
document declares. Schemathesis reads the shipped document (what `GET /v1/openapi.json` serves) and
generates, per operation, valid requests and requests that break the document (negative mode: wrong types,
missing fields, out-of-range values...), which must be refused with a 4xx.

Budget: `MAX_EXAMPLES` (30) examples per operation in the fuzzing phase, plus schemathesis' coverage and
explicit-example phases: with the spec's 12 operations about 800 requests (808 on the last run, 52 s),
and about 80 s for the whole module with the local cloud's start-up. Seeded: a failure reproduces.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from shelfwise_local.openapi import OPENAPI_PATH
from test_local_cloud import RunningCloud, start_cloud

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 30
SEED = 20240601
# A request never takes long locally; a hang is a failure, not something to wait out.
REQUEST_TIMEOUT_SECONDS = 20

CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]

requests_sent: Counter[str] = Counter()


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    workspace = tmp_path_factory.mktemp("api-fuzz")
    running = start_cloud(workspace / "state", workspace)
    started = time.monotonic()
    yield running
    running.stop()
    print(
        f"\nschemathesis: {sum(requests_sent.values())} requests over {len(requests_sent)} operations "
        f"in {time.monotonic() - started:.0f} s"
    )


def operator_headers(state_dir: Path) -> dict[str, str]:
    """An operator token with every scope may call every route, so the fuzzing reaches the handlers."""
    try:
        from shelfwise_local.tokens import issue_operator_token
    except ImportError:  # a local cloud without authentication accepts every call
        return {}
    return {"Authorization": f"Bearer {issue_operator_token(state_dir)}"}


# The document the API serves at /v1/openapi.json is this file (the test below and tests/unit/test_openapi.py
# hold it to that). Loaded at collection time: schemathesis' lazy `from_fixture` does not work with pytest 9.
schema = schemathesis.openapi.from_dict(
    json.loads(OPENAPI_PATH.read_text("utf-8")),
    config=SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "request-timeout": REQUEST_TIMEOUT_SECONDS,
            # Schemathesis' defaults plus 414: an over-long query is refused by the gateway (documented).
            "checks": {
                "negative_data_rejection": {
                    "expected-statuses": ["400", "401", "403", "404", "405", "409", "414", "415", "422"]
                }
            },
            "generation": {
                "mode": "all",  # positive and negative
                "max-examples": MAX_EXAMPLES,
                "database": "none",
            },
        }
    ),
)


@pytest.fixture(scope="module")
def auth_headers(cloud: RunningCloud) -> dict[str, str]:
    return operator_headers(cloud.state_dir)


def test_the_api_serves_the_fuzzed_document(cloud: RunningCloud) -> None:
    served = requests.get(f"{cloud.api_url}/v1/openapi.json", timeout=10)
    assert served.status_code == 200
    assert served.json() == schema.raw_schema


@schema.parametrize()
def test_every_answer_is_documented_and_none_is_a_server_error(
    case: Any, cloud: RunningCloud, auth_headers: dict[str, str]
) -> None:
    requests_sent[case.operation.label] += 1
    case.call_and_validate(base_url=cloud.api_url, headers=auth_headers, checks=CHECKS)


def test_router_level_errors_use_the_platform_error_body(cloud: RunningCloud) -> None:
    for method, path, status in (
        ("GET", "/v1/no-such-thing", 404),
        ("DELETE", "/v1/events", 405),
        ("PATCH", "/v1/health", 405),
    ):
        response = requests.request(method, f"{cloud.api_url}{path}", timeout=5)
        assert response.status_code == status, (method, path)
        error = response.json()["error"]
        assert set(response.json()) == {"error"}
        assert {"code", "message", "details", "request_id"} <= set(error)
        assert error["request_id"] == response.headers["x-amzn-RequestId"]


@pytest.mark.parametrize(
    ("content_type", "payload", "status", "code"),
    [
        ("application/json", b"L\xe9", 400, "invalid_encoding"),
        ("multipart/form-data", b'{"text":"hi"}', 415, "unsupported_media_type"),
        ("application/x-www-form-urlencoded", b"text=hi", 415, "unsupported_media_type"),
        ("text/plain", b'{"text":"hi"}', 415, "unsupported_media_type"),
        ("application/json", b'{"text": ', 400, "invalid_json"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/events", "/v1/chat/messages"])
def test_bodies_the_api_cannot_read_are_4xx_with_the_error_body(
    cloud: RunningCloud, path: str, content_type: str, payload: bytes, status: int, code: str
) -> None:
    response = requests.post(
        f"{cloud.api_url}{path}",
        data=payload,
        headers={"Content-Type": content_type, **operator_headers(cloud.state_dir)},
        timeout=10,
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["request_id"]
