"""`GET /v1/customers/{user_id}/segment` against moto, after a real scheduled scoring run."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pyarrow as pa
import pytest
from moto_platform import local_platform, pseudonymizer
from shelfwise.curated import INTERACTIONS_SCHEMA, part_key, table_to_parquet_bytes
from shelfwise_infra import spec
from shelfwise_local.functions import context_for, load_handler

pytestmark = pytest.mark.integration

SAMPLE_EVENT = spec.EVENTS_DIR / "segments_api" / "get-segment.json"
SCHEDULED_EVENT = spec.EVENTS_DIR / "segments" / "scheduled-event.json"
SEEN = dt.datetime(2025, 5, 20, 10, tzinfo=dt.UTC)  # before the scheduled run's as_of, 2025-06-01


def interactions() -> pa.Table:
    """Curated interactions as ingestion lands them: customer ids pseudonymized."""
    pseudonym = pseudonymizer().pseudonym
    rows = [
        ("U00042", "purchase", 80.0, SEEN),
        ("U00042", "purchase", 40.0, SEEN + dt.timedelta(days=5)),
        ("U00007", "purchase", 15.0, SEEN - dt.timedelta(days=100)),
        ("ana@shop", "purchase", 30.0, SEEN),
        ("U00099", "view", 1.0, SEEN),
    ]
    return pa.Table.from_pylist(
        [
            dict(zip(INTERACTIONS_SCHEMA.names, (pseudonym(u), "sku-1", k, v, t), strict=True))
            for u, k, v, t in rows
        ],
        schema=INTERACTIONS_SCHEMA,
    )


@pytest.fixture
def scored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with local_platform(monkeypatch, "segments_api"):
        boto3.client("s3").put_object(
            Bucket=spec.DATA_BUCKET.local_name,
            Key=part_key("interactions", "seed", partition="dt=2025-05-20"),
            Body=table_to_parquet_bytes(interactions()),
        )
        scheduled = json.loads(SCHEDULED_EVENT.read_text(encoding="utf-8"))
        run = load_handler("segments")(scheduled, context_for(spec.function("segments")))
        assert run["users_scored"] == 4
        yield


def get_segment(user_path: str, user_param: str | None = None) -> tuple[int, dict[str, Any]]:
    """Invoke the API function with the sample event for `user_path` (raw) / `user_param` (decoded)."""
    event = copy.deepcopy(json.loads(SAMPLE_EVENT.read_text(encoding="utf-8")))
    event["path"] = f"/v1/customers/{user_path}/segment"
    event["requestContext"]["path"] = f"/prod{event['path']}"
    event["pathParameters"] = {"user_id": user_path if user_param is None else user_param}
    response = load_handler("segments_api")(event, context_for(spec.function("segments_api")))
    return response["statusCode"], json.loads(response["body"])


def test_sample_event_returns_the_scored_customer(scored: None) -> None:
    event = json.loads(SAMPLE_EVENT.read_text(encoding="utf-8"))

    response = load_handler("segments_api")(event, context_for(spec.function("segments_api")))

    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["user_id"] == "U00042"
    assert body["segment"] == "champions"
    assert body["high_value"] is True
    assert body["scores"] == {"r": 5, "f": 5, "m": 5}
    assert (body["recency_days"], body["frequency"], body["monetary"]) == (7, 2, 120.0)
    assert body["as_of"] == "2025-06-01" and body["scored_at"]


def test_a_lapsed_customer_and_a_prospect_are_served_too(scored: None) -> None:
    status, lapsed = get_segment("U00007")
    assert status == 200 and lapsed["segment"] == "lost" and lapsed["scores"] == {"r": 1, "f": 1, "m": 1}

    status, prospect = get_segment("U00099")
    assert status == 200 and prospect["segment"] == "prospects"
    assert prospect["scores"] == {"r": None, "f": None, "m": None} and prospect["recency_days"] is None


def test_an_encoded_id_is_looked_up_decoded(scored: None) -> None:
    status, body = get_segment("ana%40shop", "ana@shop")

    assert status == 200 and body["user_id"] == "ana@shop"


def test_unknown_customer_is_a_404_in_the_platform_error_shape(scored: None) -> None:
    status, body = get_segment("U99999")

    assert status == 404
    assert body["error"]["code"] == "not_found"
    assert "U99999" in body["error"]["message"]
    assert body["error"]["details"] == [{"field": "path.user_id", "message": body["error"]["message"]}]


@pytest.mark.parametrize(
    ("user_path", "user_param"),
    [
        ("x" * 129, None),  # too long
        ("u%01x", "u\x01x"),  # a control character, once decoded
        ("", ""),  # empty
        ("tab%09", "tab\t"),
    ],
)
def test_malformed_user_id_is_a_4xx_naming_the_path_parameter(
    scored: None, user_path: str, user_param: str | None
) -> None:
    status, body = get_segment(user_path, user_param)

    assert status == 422
    assert body["error"]["code"] == "validation_error"
    assert [detail["field"] for detail in body["error"]["details"]] == ["path.user_id"]
    assert "Traceback" not in json.dumps(body)


def test_control_character_sample_event_is_refused(scored: None) -> None:
    event = json.loads(
        (SAMPLE_EVENT.parent / "get-segment-control-character.json").read_text(encoding="utf-8")
    )

    response = load_handler("segments_api")(event, context_for(spec.function("segments_api")))

    assert response["statusCode"] == 422
    assert json.loads(response["body"])["error"]["details"][0]["field"] == "path.user_id"
