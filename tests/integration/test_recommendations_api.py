"""The recommendations function through API Gateway events on moto, with a model promoted by the registry."""

from __future__ import annotations

import copy
import io
import json
import tarfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto_platform import local_platform, pseudonymizer
from shelfwise.auth import SERVER_SCOPE, Principal
from shelfwise.ingest.pipeline import IngestTargets, ingest_object
from shelfwise_infra import spec
from shelfwise_local.functions import (
    context_for,
    forget_loaded_functions,
    load_handler,
)
from shelfwise_recommender.config import TrainConfig
from shelfwise_recommender.pipeline import train
from shelfwise_recommender.progress import Progress
from shelfwise_recommender.synthetic import planted_shop

pytestmark = pytest.mark.integration

FUNCTION = spec.function("recommendations")
BUCKET = spec.DATA_BUCKET.local_name
EVENTS = spec.EVENTS_DIR / "recommendations"
N_ITEMS = 100


def category(item_id: str) -> str:
    return f"cat{int(item_id[1:]) % 4}"


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    built = []
    for n_users in (200, 240):
        interactions, catalog = planted_shop(n_users=n_users, n_items=N_ITEMS)
        # The job trains on curated data, where customers are pseudonyms; callers keep using their ids.
        interactions["user_id"] = interactions["user_id"].map(pseudonymizer().pseudonym)
        result = train(
            interactions,
            catalog,
            replace(TrainConfig(), rank=16, l2=20.0),
            tmp_path_factory.mktemp("v"),
            Progress(),
        )
        built.append(Path(result.model_dir))
    return built


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    forget_loaded_functions()  # a fresh module: no model or trending list cached from another test
    with local_platform(
        monkeypatch,
        "model_registry",
        FUNCTION.name,
        SHELFWISE_MODEL_REFRESH_SECONDS="0",
        SHELFWISE_STOCK_REFRESH_SECONDS="0",
    ):
        catalog = boto3.resource("dynamodb").Table(spec.CATALOG_TABLE.local_name)
        with catalog.batch_writer() as batch:
            for n in range(N_ITEMS):
                batch.put_item(Item={"item_id": f"i{n}", "category": category(f"i{n}"), "title": f"Item {n}"})
            batch.put_item(Item={"item_id": "i999", "category": "cat3", "title": "Brand new"})
        yield boto3.client("s3")
    forget_loaded_functions()


def promote(s3: Any, version: Path, run: str) -> None:
    """Through the real registry function, as in production."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(version, arcname=version.name)
    key = f"models/_jobs/recommender/{run}/output/model.tar.gz"
    s3.put_object(Bucket=BUCKET, Key=key, Body=buffer.getvalue())
    event = json.loads((spec.EVENTS_DIR / "model_registry" / "sqs-s3-training-archive.json").read_text())
    body = json.loads(event["Records"][0]["body"])
    body["Records"][0]["s3"]["object"]["key"] = key
    event["Records"][0]["body"] = json.dumps(body)
    assert load_handler("model_registry")(event, context_for(spec.function("model_registry"))) == {
        "batchItemFailures": []
    }


SERVER = Principal("operator", "crm-backend", frozenset({SERVER_SCOPE})).authorizer_context()


def customer(customer_id: str) -> dict[str, Any]:
    return Principal("customer", customer_id).authorizer_context()


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def call(
    method: str,
    path: str,
    *,
    query: dict[str, str] | None = None,
    body: Any = None,
    raw_body: str | None = None,
    authorizer: dict[str, Any] | None = None,
) -> tuple[int, dict[str, Any]]:
    """Calls the handler as the retailer's servers (server scope) unless `authorizer` says who calls."""
    if path.startswith("/v1/users/"):
        event, parameters = sample("get-recommendations"), {"user_id": path.split("/")[3]}
        event["resource"] = "/v1/users/{user_id}/recommendations"
    elif path.startswith("/v1/items/"):
        event, parameters = sample("get-similar"), {"item_id": path.split("/")[3]}
    else:
        event, parameters = sample("post-events"), None
    event = copy.deepcopy(event)
    event["httpMethod"], event["path"], event["pathParameters"] = method, path, parameters
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} if query else None
    event["body"] = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
    event["requestContext"]["authorizer"] = authorizer if authorizer is not None else SERVER
    response = load_handler("recommendations")(event, context_for(FUNCTION))
    return response["statusCode"], json.loads(response["body"])


def view(user_id: str, item_id: str, seconds_ago: int = 0, event_type: str = "view") -> dict[str, Any]:
    return {
        "user_id": user_id,
        "item_id": item_id,
        "event_type": event_type,
        "timestamp": time.time() - seconds_ago,
    }


def activity(user_id: str) -> dict[str, Any] | None:
    """The customer's activity item, kept under their pseudonym (never under the id the caller used)."""
    table = boto3.resource("dynamodb").Table(spec.USER_ACTIVITY_TABLE.local_name)
    assert table.get_item(Key={"user_id": user_id}).get("Item") is None
    return table.get_item(Key={"user_id": pseudonymizer().pseudonym(user_id)}).get("Item")


def incoming_keys(s3: Any) -> list[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="incoming/interactions/api/")
    return [entry["Key"] for entry in listed.get("Contents", [])]


def test_sample_events_answer(cloud: Any) -> None:
    handler = load_handler("recommendations")
    for name, status in (
        ("get-recommendations", 200),
        ("get-recommendations-k-out-of-range", 422),
        ("get-similar", 404),
        ("post-events", 200),
        ("post-events-malformed", 422),
    ):
        assert handler(sample(name), context_for(FUNCTION))["statusCode"] == status, name


def test_a_known_user_gets_the_promoted_models_recommendations(cloud: Any, versions: list[Path]) -> None:
    promote(cloud, versions[0], "run-1")
    status, body = call("GET", "/v1/users/u5/recommendations", query={"k": "10"})
    assert status == 200
    assert body["user_id"] == "u5" and body["model_version"] == versions[0].name
    assert len(body["items"]) == 10
    assert sum(category(item["item_id"]) == "cat1" for item in body["items"]) >= 7
    assert body["strategy"] == "personalized"
    assert set(body["items"][0]) == {"item_id", "title", "score", "reason", "reason_item_ids"}
    assert all(item["title"] == f"Item {item['item_id'][1:]}" for item in body["items"])
    assert [item["score"] for item in body["items"]] == [(10 - n) / 10 for n in range(10)]


def test_items_missing_from_the_catalog_answer_with_a_null_title(cloud: Any, versions: list[Path]) -> None:
    promote(cloud, versions[0], "run-1")
    catalog = boto3.resource("dynamodb").Table(spec.CATALOG_TABLE.local_name)
    for n in range(1, N_ITEMS, 4):  # every cat1 item, what u5 shops for
        catalog.delete_item(Key={"item_id": f"i{n}"})
    status, body = call("GET", "/v1/users/u5/recommendations", query={"k": "10"})
    assert status == 200
    titles = {item["item_id"]: item["title"] for item in body["items"]}
    assert None in titles.values()
    assert all(title is None for item_id, title in titles.items() if category(item_id) == "cat1")


def test_events_for_a_new_user_change_their_next_recommendations(cloud: Any, versions: list[Path]) -> None:
    promote(cloud, versions[0], "run-1")
    status, before = call("GET", "/v1/users/newcomer/recommendations", query={"k": "6"})
    assert status == 200 and {item["reason"] for item in before["items"]} == {
        "popular right now (no history yet)"
    }
    events = [view("newcomer", item, seconds) for item, seconds in (("i3", 30), ("i7", 20), ("i11", 10))]
    status, accepted = call("POST", "/v1/events", body={"events": events})
    assert (status, accepted) == (200, {"accepted": 3, "new": 3, "users": 1})
    status, after = call("GET", "/v1/users/newcomer/recommendations", query={"k": "6"})
    returned = [item["item_id"] for item in after["items"]]
    assert returned != [item["item_id"] for item in before["items"]]
    assert not {"i3", "i7", "i11"} & set(returned)
    assert sum(category(item) == "cat3" for item in returned) >= 5
    titles = {"i3": "Item 3", "i7": "Item 7", "i11": "Item 11"}
    for item in after["items"]:
        [source] = item["reason_item_ids"]
        assert item["reason"] == f"because you viewed {titles[source]}"


def test_resent_events_are_processed_once_and_ingestion_agrees(cloud: Any, versions: list[Path]) -> None:
    events = [view("repeat", "i1", 60), view("repeat", "i2", 30, "cart")]
    assert call("POST", "/v1/events", body={"events": events})[1]["new"] == 2
    stored = activity("repeat")
    assert call("POST", "/v1/events", body={"events": events})[1] == {"accepted": 2, "new": 0, "users": 1}
    assert activity("repeat") == stored
    [key] = incoming_keys(cloud)
    # The file goes through ingestion like any upstream file; merging it again changes nothing.
    etag = cloud.head_object(Bucket=BUCKET, Key=key)["ETag"]
    targets = IngestTargets(
        data_bucket=BUCKET,
        catalog_table=spec.CATALOG_TABLE.local_name,
        user_activity_table=spec.USER_ACTIVITY_TABLE.local_name,
        customer_ids_table=spec.CUSTOMER_IDS_TABLE.local_name,
    )
    # The file is raw, like any upstream file: the caller's ids, pseudonymized once by ingestion.
    assert b"repeat," in cloud.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    manifest = ingest_object(BUCKET, key, etag, targets, pseudonymizer=pseudonymizer())
    assert (manifest.rows_landed, manifest.rows_rejected) == (2, 0)
    assert activity("repeat") == stored
    items = boto3.resource("dynamodb").Table(spec.USER_ACTIVITY_TABLE.local_name).scan()["Items"]
    assert [item["user_id"] for item in items] == [pseudonymizer().pseudonym("repeat")]


def test_a_batch_with_one_bad_event_is_rejected_whole(cloud: Any) -> None:
    events = [view("partial", "i1"), {**view("partial", "i2"), "event_type": "click"}, view("partial", "")]
    status, body = call("POST", "/v1/events", body={"events": events})
    assert status == 422 and body["error"]["code"] == "validation_error"
    assert {detail["field"] for detail in body["error"]["details"]} == {
        "body.events.1.event_type",
        "body.events.2.item_id",
    }
    assert activity("partial") is None and incoming_keys(cloud) == []


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ("not json", 400, "body"),
        ("[]", 422, "body"),
        ('{"events": []}', 422, "body.events"),
        (
            '{"events": [{"user_id": "u", "item_id": "i1", "event_type": "view", "timestamp": 1e13}]}',
            422,
            "body.events.0.timestamp",
        ),
        (
            '{"events": [{"user_id": "u", "item_id": "i1", "event_type": "purchase", "timestamp": 1}]}',
            422,
            "body.events.0.value",
        ),
        (
            '{"events": [{"user_id": "u", "item_id": "i1", "event_type": "rating", "timestamp": 1, '
            '"value": 11}]}',
            422,
            "body.events.0.value",
        ),
    ],
)
def test_malformed_event_bodies_name_the_problem(cloud: Any, payload: str, status: int, field: str) -> None:
    got, body = call("POST", "/v1/events", raw_body=payload)
    assert got == status
    assert field in {detail["field"] for detail in body["error"]["details"]}


def test_without_any_model_popular_items_come_from_live_activity(cloud: Any) -> None:
    events = [view(f"shopper{n}", "i8", n) for n in range(5)] + [
        view(f"shopper{n}", "i4", n) for n in range(3)
    ]
    events += [view("shopper0", "i5"), view("shopper0", "i12", 1, "purchase") | {"value": 10.0}]
    assert call("POST", "/v1/events", body={"events": events})[0] == 200
    status, body = call("GET", "/v1/users/stranger/recommendations", query={"k": "3", "category": "cat0"})
    assert status == 200 and body["model_version"] is None
    assert [item["item_id"] for item in body["items"]] == ["i8", "i12", "i4"]
    assert {item["reason"] for item in body["items"]} == {"popular in cat0"}
    status, similar = call("GET", "/v1/items/i999/similar", query={"k": "2"})
    assert status == 200 and [item["item_id"] for item in similar["items"]] == []  # nothing trending in cat3


def test_filters_category_and_exclude(cloud: Any, versions: list[Path]) -> None:
    promote(cloud, versions[0], "run-1")
    status, body = call("GET", "/v1/users/u5/recommendations", query={"k": "8", "category": "cat2"})
    assert status == 200 and {category(item["item_id"]) for item in body["items"]} == {"cat2"}
    first = [
        item["item_id"] for item in call("GET", "/v1/users/u5/recommendations", query={"k": "3"})[1]["items"]
    ]
    status, body = call("GET", "/v1/users/u5/recommendations", query={"k": "10", "exclude": ",".join(first)})
    assert status == 200 and not set(first) & {item["item_id"] for item in body["items"]}


def test_similar_items_and_their_fallbacks(cloud: Any, versions: list[Path]) -> None:
    promote(cloud, versions[0], "run-1")
    status, body = call("GET", "/v1/items/i2/similar", query={"k": "5"})
    assert status == 200 and body["model_version"] == versions[0].name
    assert sum(category(item["item_id"]) == "cat2" for item in body["items"]) >= 4
    assert body["strategy"] == "similar_items" and body["title"] == "Item 2"
    assert {item["reason"] for item in body["items"]} == {"similar to Item 2"}
    assert {tuple(item["reason_item_ids"]) for item in body["items"]} == {("i2",)}
    status, body = call("GET", "/v1/items/i999/similar", query={"k": "5"})
    assert status == 200 and {item["reason"] for item in body["items"]} == {"popular in cat3"}
    assert (body["strategy"], body["title"]) == ("popular", "Brand new")
    status, body = call("GET", "/v1/items/nope/similar")
    assert status == 404 and body["error"]["code"] == "not_found"


def ingest(s3: Any, key: str, body: str) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode())
    targets = IngestTargets(
        data_bucket=BUCKET,
        catalog_table=spec.CATALOG_TABLE.local_name,
        user_activity_table=spec.USER_ACTIVITY_TABLE.local_name,
    )
    manifest = ingest_object(BUCKET, key, s3.head_object(Bucket=BUCKET, Key=key)["ETag"], targets)
    assert manifest.rows_rejected == 0


def test_an_inventory_file_takes_sold_out_items_off_recommendations(cloud: Any, versions: list[Path]) -> None:
    promote(cloud, versions[0], "run-1")
    _, before = call("GET", "/v1/users/u5/recommendations", query={"k": "10"})
    _, similar_before = call("GET", "/v1/items/i2/similar", query={"k": "5"})
    sold_out = [before["items"][0]["item_id"], similar_before["items"][0]["item_id"]]
    rows = [f"{sku},{location},0,5,7,2,3.5,20,0.2,1,1" for sku in sold_out for location in ("north", "south")]
    header = "sku,location,on_hand,on_order,lead_time_days,lead_time_sd_days,unit_cost,order_cost,"
    ingest(
        cloud, "incoming/inventory/stock.csv", header + "holding_cost_rate,moq,pack_size\n" + "\n".join(rows)
    )
    _, after = call("GET", "/v1/users/u5/recommendations", query={"k": "10"})
    _, similar_after = call("GET", "/v1/items/i2/similar", query={"k": "5"})
    assert len(after["items"]) == 10 and len(similar_after["items"]) == 5
    assert not set(sold_out) & {item["item_id"] for item in after["items"] + similar_after["items"]}
    _, unfiltered = call("GET", "/v1/users/u5/recommendations", query={"k": "10", "in_stock": "false"})
    assert unfiltered["items"] == before["items"]


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/v1/users/u5/recommendations", {"k": "0"}, "query.k"),
        ("/v1/users/u5/recommendations", {"k": "101"}, "query.k"),
        ("/v1/users/u5/recommendations", {"k": "ten"}, "query.k"),
        ("/v1/users/u5/recommendations", {"exclude": "i1,\x01"}, "query.exclude"),
        ("/v1/users/u5/recommendations", {"category": ""}, "query.category"),
        ("/v1/items/i2/similar", {"k": "-3"}, "query.k"),
        ("/v1/users/u5/recommendations", {"in_stock": "perhaps"}, "query.in_stock"),
        ("/v1/users/%20padded/recommendations", {}, "path.user_id"),
    ],
)
def test_bad_parameters_are_422_naming_the_field(cloud: Any, path: str, query: dict, field: str) -> None:
    if "%20" in path:
        status, body = call("GET", path.replace("%20", " "), query=query)
    else:
        status, body = call("GET", path, query=query)
    assert status == 422, body
    assert field in {detail["field"] for detail in body["error"]["details"]}


def test_a_newly_promoted_version_is_served_without_a_redeploy(
    cloud: Any, versions: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The two versions come from different shops; let the gate wave the second one through.
    monkeypatch.setenv("SHELFWISE_GATE_MAX_DROP", "10")
    promote(cloud, versions[0], "run-1")
    assert call("GET", "/v1/users/u5/recommendations")[1]["model_version"] == versions[0].name
    promote(cloud, versions[1], "run-2")
    assert call("GET", "/v1/users/u5/recommendations")[1]["model_version"] == versions[1].name


def test_a_customer_sees_and_records_only_their_own_data(cloud: Any) -> None:
    mine = customer("u1")
    assert call("GET", "/v1/users/u1/recommendations", authorizer=mine)[0] == 200
    status, body = call("GET", "/v1/users/u2/recommendations", authorizer=mine)
    assert status == 403 and body["error"]["code"] == "forbidden"
    assert body["error"]["details"][0]["field"] == "path.user_id"
    events = {"events": [view("u1", "i1"), view("u2", "i2")]}
    status, body = call("POST", "/v1/events", body=events, authorizer=mine)
    assert status == 403 and body["error"]["details"][0]["field"] == "body.events.1.user_id"
    assert call("POST", "/v1/events", body={"events": [view("u1", "i1")]}, authorizer=mine)[0] == 200
    # Similar items hold no customer data: any authenticated caller may ask.
    assert call("GET", "/v1/items/i1/similar", authorizer=mine)[0] == 200


def test_an_operator_without_the_server_scope_cannot_act_for_customers(cloud: Any) -> None:
    reader = Principal("operator", "ops-console", frozenset({"shelfwise/read"})).authorizer_context()
    assert call("GET", "/v1/users/u1/recommendations", authorizer=reader)[0] == 403
    status, body = call("GET", "/v1/users/u1/recommendations", authorizer={})
    assert status == 401 and body["error"]["code"] == "unauthorized"
