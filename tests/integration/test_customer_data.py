"""`GET /v1/customers/{user_id}/data` (right of access) against moto, after data reached every store for real:
an interactions file ingested, a scoring run, a chat conversation, a recommender version."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import numpy as np
import pytest
from moto_platform import local_platform, pseudonymizer
from shelfwise.auth import Principal
from shelfwise.ingest.pipeline import IngestTargets, ingest_object
from shelfwise_infra import spec
from shelfwise_local.functions import context_for, forget_loaded_functions, load_handler

pytestmark = pytest.mark.integration

BUCKET = spec.DATA_BUCKET.local_name
FUNCTION = spec.function("customers")
SAMPLE = spec.EVENTS_DIR / "customers" / "get-customer-data.json"
VERSION = "20250602T030000Z-0a1b2c3d"
CUSTOMER = "C-1042"
OTHER = "C-7"
CLICKS = (
    "user_id,item_id,event_type,value,timestamp\n"
    f"{CUSTOMER},sku-1,view,,2025-05-20T08:15:00Z\n"
    f"{CUSTOMER},sku-1,purchase,49.90,2025-05-20T08:20:00Z\n"
    f"{CUSTOMER},sku-4,view,,2025-05-28T18:00:00Z\n"
    f"{OTHER},sku-2,purchase,12.00,2025-05-21T10:00:00Z\n"
    f"{OTHER},sku-3,view,,2025-05-28T11:00:00Z\n"
)


def ingest(key: str, body: str) -> None:
    s3 = boto3.client("s3")
    s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode())
    targets = IngestTargets(
        data_bucket=BUCKET,
        catalog_table=spec.CATALOG_TABLE.local_name,
        user_activity_table=spec.USER_ACTIVITY_TABLE.local_name,
        customer_ids_table=spec.CUSTOMER_IDS_TABLE.local_name,
    )
    etag = s3.head_object(Bucket=BUCKET, Key=key)["ETag"]
    assert ingest_object(BUCKET, key, etag, targets, pseudonymizer=pseudonymizer()).rows_landed > 0


def chat(customer_id: str, text: str) -> None:
    event = json.loads((spec.EVENTS_DIR / "chat" / "post-message.json").read_text("utf-8"))
    event["body"] = json.dumps({"text": text})
    event["requestContext"]["authorizer"] = Principal("customer", customer_id).authorizer_context()
    assert load_handler("chat")(event, context_for(spec.function("chat")))["statusCode"] == 200


def publish_version(users: dict[str, int]) -> None:
    """A recommender version as the registry leaves it: its files under models/ and its registry item."""
    s3 = boto3.client("s3")
    prefix = f"models/recommender/{VERSION}/"
    indptr = io.BytesIO()
    np.save(indptr, np.cumsum([0, *users.values()]).astype(np.int64))
    files = {
        "manifest.json": json.dumps({"artifacts": {"users": "users.json", "user_indptr": "user_indptr.npy"}}),
        "users.json": json.dumps({"user_ids": list(users)}),
    }
    for name, body in files.items():
        s3.put_object(Bucket=BUCKET, Key=prefix + name, Body=body.encode())
    s3.put_object(Bucket=BUCKET, Key=prefix + "user_indptr.npy", Body=indptr.getvalue())
    boto3.resource("dynamodb").Table(spec.MODELS_TABLE.local_name).put_item(
        Item={
            "model_name": "recommender",
            "version": VERSION,
            "status": "promoted",
            "created_at": "2025-06-02T03:00:00+00:00",
            "artifact_uri": f"s3://{BUCKET}/{prefix}",
        }
    )


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    forget_loaded_functions()
    with local_platform(monkeypatch, "customers", "chat", "segments", POWERTOOLS_TRACE_DISABLED="true"):
        ingest("incoming/interactions/may.csv", CLICKS)
        scheduled = json.loads((spec.EVENTS_DIR / "segments" / "scheduled-event.json").read_text("utf-8"))
        assert (
            load_handler("segments")(scheduled, context_for(spec.function("segments")))["users_scored"] == 2
        )
        chat(CUSTOMER, "Where is my order 48213377? Reach me at jane.roe@example.com")
        chat(OTHER, "Do you deliver on Saturdays?")
        pseudonym = pseudonymizer().pseudonym
        publish_version({pseudonym(OTHER): 2, pseudonym(CUSTOMER): 2})
        yield
    forget_loaded_functions()


def get_data(
    customer_id: str, authorizer: dict[str, Any] | None = None, path_id: str | None = None
) -> tuple[int, dict[str, Any]]:
    event = copy.deepcopy(json.loads(SAMPLE.read_text("utf-8")))
    event["path"] = f"/v1/customers/{path_id or customer_id}/data"
    event["requestContext"]["path"] = f"/prod{event['path']}"
    event["pathParameters"] = {"user_id": customer_id}
    if authorizer is not None:
        event["requestContext"]["authorizer"] = authorizer
    response = load_handler("customers")(event, context_for(FUNCTION))
    return response["statusCode"], json.loads(response["body"])


def test_everything_held_about_a_customer_and_nothing_of_anyone_else(held: None) -> None:
    status, body = get_data(CUSTOMER)

    assert status == 200 and body["customer_id"] == CUSTOMER
    assert body["customer_id_kept"] is True
    assert [(e["item_id"], e["event_type"]) for e in body["activity"]["events"]] == [
        ("sku-4", "view"),
        ("sku-1", "purchase"),
        ("sku-1", "view"),
    ]
    assert body["activity"]["events"][0]["timestamp"] == "2025-05-28T18:00:00+00:00"
    assert body["activity"]["expires_at"].startswith("20")
    assert body["segment"]["user_id"] == CUSTOMER and body["segment"]["monetary"] == pytest.approx(49.9)
    [session] = body["chat_sessions"]
    assert session["message_count"] == 1 and session["last_answer"]["intent"]
    assert "jane.roe@example.com" not in json.dumps(session) and "[EMAIL]" in json.dumps(session)
    assert sorted((f["key"].split("/")[2], f["rows"]) for f in body["curated_files"]) == [
        ("dt=2025-05-20", 2),
        ("dt=2025-05-28", 1),
    ]
    assert body["model_versions"] == [
        {
            "model_name": "recommender",
            "version": VERSION,
            "status": "promoted",
            "created_at": "2025-06-02T03:00:00+00:00",
            "training_items": 2,
        }
    ]
    # The customer is named only by the id asked for: no pseudonym, nobody else's data.
    text = json.dumps(body)
    assert "ps_" not in text and OTHER not in text and "sku-2" not in text and "Saturdays" not in text


def test_an_unknown_customer_gets_the_same_shape_with_nothing_in_it(held: None) -> None:
    status, body = get_data("C-nobody")

    assert status == 200
    assert body["customer_id"] == "C-nobody" and body["customer_id_kept"] is False
    assert body["activity"] == {"events": [], "expires_at": None} and body["segment"] is None
    assert body["chat_sessions"] == [] and body["curated_files"] == [] and body["model_versions"] == []
    assert set(body) == {
        "customer_id",
        "customer_id_kept",
        "activity",
        "segment",
        "chat_sessions",
        "curated_files",
        "model_versions",
        "generated_at",
    }


def test_only_an_operator_with_the_read_scope_may_ask(held: None) -> None:
    as_customer = Principal("customer", CUSTOMER).authorizer_context()
    status, body = get_data(CUSTOMER, authorizer=as_customer)
    assert status == 403 and CUSTOMER not in json.dumps(body["error"]["details"])
    writer = {"claims": {"sub": "ops", "client_id": "ops", "scope": "shelfwise/write"}}
    status, body = get_data(CUSTOMER, authorizer=writer)
    assert status == 403 and "shelfwise/read" in body["error"]["message"]
    assert get_data(CUSTOMER, authorizer={})[0] == 401


def test_an_encoded_id_is_looked_up_decoded_and_a_malformed_one_is_a_422(held: None) -> None:
    ingest(
        "incoming/interactions/mail.csv",
        "user_id,item_id,event_type,value,timestamp\nana@shop,sku-9,view,,2025-05-22\n",
    )

    status, body = get_data("ana@shop", path_id="ana%40shop")
    assert status == 200 and [e["item_id"] for e in body["activity"]["events"]] == ["sku-9"]

    status, body = get_data("u\x01x", path_id="u%01x")
    assert status == 422 and [d["field"] for d in body["error"]["details"]] == ["path.user_id"]


def test_the_sample_event_is_answered(held: None) -> None:
    event = json.loads(SAMPLE.read_text("utf-8"))
    response = load_handler("customers")(event, context_for(FUNCTION))
    assert response["statusCode"] == 200 and json.loads(response["body"])["customer_id"] == "U00042"
