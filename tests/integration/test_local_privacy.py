"""Pseudonymized customer ids and the right of access through a real `shelfwise local up` and its HTTP API:
a dropped interactions file lands with pseudonyms only (curated data, activity, segments, the trained model),
the API still answers for the retailer's ids, and `GET /v1/customers/{id}/data` returns what is held about one
customer to an operator only."""

from __future__ import annotations

import csv
import gzip
import io
import json
import stat
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import requests
from shelfwise.privacy.pseudonyms import Pseudonymizer, is_pseudonym
from shelfwise_infra import spec
from shelfwise_local.demo import generate_shop
from shelfwise_local.tokens import KEYS_DIR, PSEUDONYM_KEY_FILE, DevKeys
from test_local_cloud import BUCKET, RunningCloud, run_cli, start_cloud, wait_for_manifest

pytestmark = pytest.mark.integration

CUSTOMER = "cust-raw-7731"
OTHERS = ("cust-raw-1001", "cust-raw-1002")
HEADER = ["user_id", "item_id", "event_type", "value", "timestamp"]
INGEST_TIMEOUT = 60.0
RUN_TIMEOUT = 600.0


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    workspace = tmp_path_factory.mktemp("privacy")
    running = start_cloud(workspace / "state", workspace)
    yield running
    running.stop()


def clicks(shop: dict[str, Path]) -> tuple[bytes, int, list[str]]:
    """A tiny generated shop's interactions plus three days of ours, the newest two days ago (so last night's
    scoring run sees them all), on three of the shop's items; the file, its rows and our items."""
    with gzip.open(shop["interactions"], "rt", encoding="utf-8", newline="") as handle:
        rows = [[row[name] for name in HEADER] for row in csv.DictReader(handle)]
    with shop["catalog"].open(encoding="utf-8", newline="") as handle:
        items = [row["item_id"] for row in csv.DictReader(handle)][:5]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    newest = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    for day in range(3):
        stamp = (newest - timedelta(days=day)).isoformat().replace("+00:00", "Z")
        writer.writerow([CUSTOMER, items[day], "view", "", stamp])
        writer.writerow([CUSTOMER, items[day], "purchase", "19.90", stamp])
        for other in OTHERS:
            writer.writerow([other, items[day + 2], "view", "", stamp])
    return buffer.getvalue().encode(), len(rows) + 12, items[:3]


@pytest.fixture(scope="module")
def landed(cloud: RunningCloud) -> dict[str, Any]:
    shop = generate_shop(
        cloud.state_dir.parent / "shop", seed=11, n_items=40, n_users=25, interaction_days=30, n_skus=2,
        sales_days=30, mean_views_per_user=20.0, data_issues=False,
    )  # fmt: skip
    cloud.drop("catalog", "privacy-catalog.csv", shop["catalog"].read_bytes())
    wait_for_manifest(cloud, "catalog", "incoming/catalog/privacy-catalog.csv", INGEST_TIMEOUT)
    body, rows, items = clicks(shop)
    cloud.drop("interactions", "privacy-clicks.csv", body)
    manifest = wait_for_manifest(
        cloud, "interactions", "incoming/interactions/privacy-clicks.csv", INGEST_TIMEOUT
    )
    assert manifest["rows_landed"] == rows, manifest
    for schedule in ("segment-customers", "train-recommender"):
        result = run_cli(
            "run", schedule, "--wait", "--timeout", str(RUN_TIMEOUT),
            "--state-dir", str(cloud.state_dir), cwd=cloud.state_dir.parent, timeout=RUN_TIMEOUT + 30,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr + cloud.log()[-4000:]
    return {**manifest, "our_items": items}


def recommender_versions(cloud: RunningCloud) -> list[str]:
    listing = cloud.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="models/recommender/", Delimiter="/")
    return sorted(prefix["Prefix"].split("/")[2] for prefix in listing.get("CommonPrefixes", []))


def pseudonym(cloud: RunningCloud, customer_id: str) -> str:
    """What the local cloud's functions compute, with the key generated in its state dir."""
    return Pseudonymizer.from_secret_text(DevKeys.load_or_create(cloud.state_dir).pseudonym).pseudonym(
        customer_id
    )


def scan(cloud: RunningCloud, table: spec.Table) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in cloud.client("dynamodb").get_paginator("scan").paginate(TableName=table.local_name):
        items.extend(page["Items"])
    return items


def test_the_key_is_generated_once_in_the_state_dir_readable_by_the_owner_only(cloud: RunningCloud) -> None:
    key_file = cloud.state_dir / KEYS_DIR / PSEUDONYM_KEY_FILE
    assert key_file.is_file() and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_text().strip()) >= 32
    stored = cloud.client("secretsmanager").get_secret_value(SecretId=spec.PSEUDONYM_KEY_SECRET.local_name)
    assert stored["SecretString"] == key_file.read_text().strip()


def test_curated_data_activity_and_segments_hold_only_pseudonyms(
    cloud: RunningCloud, landed: dict[str, Any]
) -> None:
    s3 = cloud.client("s3")
    mine = pseudonym(cloud, CUSTOMER)
    users: set[str] = set()
    for key in landed["curated_keys"]:
        table = pq.read_table(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()))
        users.update(table.column("user_id").to_pylist())
        assert CUSTOMER not in json.dumps(table.to_pylist(), default=str)
    assert mine in users and all(is_pseudonym(user) for user in users) and len(users) == 25 + 3

    activity = scan(cloud, spec.USER_ACTIVITY_TABLE)
    segments = scan(cloud, spec.SEGMENTS_TABLE)
    assert mine in {item["user_id"]["S"] for item in activity}
    assert mine in {item["user_id"]["S"] for item in segments}
    for item in activity + segments:
        assert is_pseudonym(item["user_id"]["S"])
        assert not any(raw in json.dumps(item) for raw in (CUSTOMER, *OTHERS))
    # The one DynamoDB place the retailer's id is kept: the vault, for the CRM export.
    vault = {
        item["pseudonym"]["S"]: item["customer_id"]["S"] for item in scan(cloud, spec.CUSTOMER_IDS_TABLE)
    }
    assert vault[mine] == CUSTOMER
    # The trained model knows its users by their pseudonyms.
    [version] = recommender_versions(cloud)
    model_users = json.loads(
        s3.get_object(Bucket=BUCKET, Key=f"models/recommender/{version}/users.json")["Body"].read()
    )["user_ids"]
    assert mine in model_users and all(is_pseudonym(user) for user in model_users)
    # The CRM export names customers by the retailer's ids and says so in its header.
    export = s3.get_object(Bucket=BUCKET, Key="segments/latest/segments.csv")["Body"].read().decode()
    assert export.startswith('"customer_id",') and CUSTOMER in export and mine not in export


def test_the_api_still_answers_for_the_retailers_ids_and_echoes_them(
    cloud: RunningCloud, landed: dict[str, Any]
) -> None:
    response = requests.get(
        f"{cloud.api_url}/v1/users/{CUSTOMER}/recommendations",
        headers=cloud.customer_headers(CUSTOMER),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["user_id"] == CUSTOMER

    segment = requests.get(
        f"{cloud.api_url}/v1/customers/{CUSTOMER}/segment", headers=cloud.operator_headers(), timeout=30
    )
    assert segment.status_code == 200 and segment.json()["user_id"] == CUSTOMER

    chat = requests.post(
        f"{cloud.api_url}/v1/chat/messages",
        json={"text": "Where is my order 48213377?"},
        headers=cloud.customer_headers(CUSTOMER),
        timeout=30,
    )
    assert chat.status_code == 200, chat.text

    item = landed["our_items"][0]
    event = {"user_id": CUSTOMER, "item_id": item, "event_type": "view", "timestamp": time.time() - 5}
    posted = requests.post(
        f"{cloud.api_url}/v1/events",
        json={"events": [event]},
        headers=cloud.customer_headers(CUSTOMER),
        timeout=30,
    )
    assert posted.status_code == 200 and posted.json()["users"] == 1


def test_the_right_of_access_returns_what_is_held_to_an_operator_only(
    cloud: RunningCloud, landed: dict[str, Any]
) -> None:
    [api_key] = [
        entry["Key"]
        for entry in cloud.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="incoming/interactions/api/")[
            "Contents"
        ]
    ]
    api_file = wait_for_manifest(cloud, "interactions", api_key, INGEST_TIMEOUT)
    url = f"{cloud.api_url}/v1/customers/{CUSTOMER}/data"
    assert requests.get(url, headers=cloud.customer_headers(CUSTOMER), timeout=30).status_code == 401
    assert requests.get(url, timeout=30).status_code == 401

    response = requests.get(url, headers=cloud.operator_headers(), timeout=60)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["customer_id"] == CUSTOMER and body["customer_id_kept"] is True
    assert {(event["item_id"], event["event_type"]) for event in body["activity"]["events"]} >= {
        (item, kind) for item in landed["our_items"] for kind in ("view", "purchase")
    }
    assert body["segment"]["user_id"] == CUSTOMER and body["segment"]["frequency"] == 3
    # The dropped file's six rows, and the event posted through the API (its file, pseudonymized once).
    assert {file["key"] for file in body["curated_files"]} <= set(landed["curated_keys"]) | set(
        api_file["curated_keys"]
    )
    assert sum(file["rows"] for file in body["curated_files"]) == 7
    assert [session["message_count"] for session in body["chat_sessions"]] == [1]
    assert [(model["model_name"], model["version"]) for model in body["model_versions"]] == [
        ("recommender", version) for version in recommender_versions(cloud)
    ]
    assert body["model_versions"][0]["training_items"] == 3
    assert "ps_" not in response.text and not any(other in response.text for other in OTHERS)

    nobody = requests.get(
        f"{cloud.api_url}/v1/customers/nobody-here/data", headers=cloud.operator_headers(), timeout=60
    )
    assert nobody.status_code == 200
    assert nobody.json()["curated_files"] == [] and nobody.json()["segment"] is None


def test_no_raw_customer_id_reaches_a_log_line(cloud: RunningCloud, landed: dict[str, Any]) -> None:
    logged = "\n".join(json.dumps(record) for record in cloud.function_log())
    assert "privacy-clicks.csv" in logged  # the functions did log about this work
    for raw in (CUSTOMER, *OTHERS):
        assert raw not in logged, raw
        assert raw not in cloud.log(), raw  # the local cloud's console (the gateway logs route templates)
