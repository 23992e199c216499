"""`GET /v1/ingest/files` end to end: the ingested-files log in moto, API Gateway events in, JSON out."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import requests
from moto_platform import local_platform
from shelfwise.ingest import outcomes
from shelfwise.ingest.report import FileError, IngestManifest
from shelfwise_infra import spec
from shelfwise_local.functions import context_for, load_handler

pytestmark = pytest.mark.integration

INGEST_API = spec.function("ingest_api")
SAMPLE = spec.EVENTS_DIR / "ingest_api" / "get-files.json"
BUCKET = spec.DATA_BUCKET.local_name
NOW = datetime.now(UTC)


def manifest(name: str, kind: str, finished_at: datetime, **fields: Any) -> IngestManifest:
    values: dict[str, Any] = {
        "contract_version": "1",
        "kind": kind,
        "file_id": f"id-{name.removesuffix('.csv')}",
        "source_bucket": BUCKET,
        "source_key": f"incoming/{kind}/{name}",
        "etag": "e",
        "status": "landed",
        "rows_total": 20,
        "rows_landed": 20,
        "started_at": finished_at - timedelta(seconds=2),
        "finished_at": finished_at,
    }
    values.update(fields)
    return IngestManifest.model_validate(values)


def call(query: dict[str, str] | None) -> tuple[int, dict[str, Any]]:
    event = copy.deepcopy(json.loads(SAMPLE.read_text("utf-8")))
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} if query else None
    response = load_handler("ingest_api")(event, context_for(INGEST_API))
    return response["statusCode"], json.loads(response["body"])


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[IngestManifest]]:
    """Eleven files over the last ten days (two today), one of them rejected whole with a report."""
    with local_platform(monkeypatch, INGEST_API.name):
        table = spec.INGEST_FILES_TABLE.local_name
        files = [
            manifest(f"day-{age}.csv", "sales", NOW - timedelta(days=age, minutes=1)) for age in range(10)
        ]
        # Today's file held rows of an erased customer: neither landed nor rejected.
        files[0] = manifest("day-0.csv", "sales", NOW - timedelta(minutes=1), rows_landed=18, rows_erased=2)
        report_key = "rejected/catalog/bad.csv.id-bad.rejections.csv"
        files.append(
            manifest(
                "bad.csv",
                "catalog",
                NOW - timedelta(minutes=5),
                status="rejected",
                rows_total=0,
                rows_landed=0,
                problems_reported=1,
                rejection_report_key=report_key,
                file_error=FileError(code="not_a_table", reason="the file is binary"),
            )
        )
        boto3.client("s3").put_object(Bucket=BUCKET, Key=report_key, Body=b"line,field,value,reason\n")
        for item in files:
            outcomes.record(item, table)
        yield files


def test_the_sample_event_is_served(logged: list[IngestManifest]) -> None:
    status, body = call(json.loads(SAMPLE.read_text("utf-8"))["queryStringParameters"])
    assert status == 200
    assert body == {"files": [], "next_cursor": None}


def test_lists_the_last_week_newest_first_with_outcome_and_report_link(logged: list[IngestManifest]) -> None:
    status, body = call(None)

    assert status == 200
    names = [entry["source_key"].rsplit("/", 1)[1] for entry in body["files"]]
    # Default window: 7 days, so day-7 (7 days and a minute ago) is out.
    assert names == ["day-0.csv", "bad.csv", *(f"day-{age}.csv" for age in range(1, 7))]
    bad = body["files"][1]
    assert bad["status"] == "rejected"
    assert bad["error"] == {"code": "not_a_table", "reason": "the file is binary"}
    assert bad["manifest_key"] == "curated/_manifests/catalog/id-bad.json"
    # The pre-signed link works as it is (moto serves it through the mock).
    assert requests.get(bad["rejection_report_url"], timeout=5).text.startswith("line,field")
    today = body["files"][0]
    assert today["rejection_report_url"] is None
    assert (today["rows_total"], today["rows_landed"], today["rows_erased"], today["rows_rejected"]) == (
        20,
        18,
        2,
        0,
    )
    assert bad["rows_erased"] == 0


def test_filters_by_kind_status_and_since(logged: list[IngestManifest]) -> None:
    assert [f["source_key"] for f in call({"kind": "catalog"})[1]["files"]] == ["incoming/catalog/bad.csv"]
    assert [f["file_id"] for f in call({"status": "rejected"})[1]["files"]] == ["id-bad"]
    since = (NOW - timedelta(days=8, hours=1)).isoformat()
    assert len(call({"since": since, "kind": "sales"})[1]["files"]) == 9


def test_pages_follow_the_cursor_across_days_without_gaps_or_repeats(logged: list[IngestManifest]) -> None:
    since = (NOW - timedelta(days=30)).isoformat()
    seen: list[str] = []
    query = {"since": since, "limit": "3"}
    pages = 0
    while True:
        status, body = call(query)
        assert status == 200
        assert len(body["files"]) <= 3
        seen.extend(entry["file_id"] for entry in body["files"])
        pages += 1
        if body["next_cursor"] is None:
            break
        query = {"since": since, "limit": "3", "cursor": body["next_cursor"]}
    assert pages == 4
    assert sorted(seen) == sorted(item.file_id for item in logged)
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize(
    "cursor",
    ["not-a-cursor", outcomes.encode_cursor("1999-01-01", "1999-01-01T00:00"), "", "x" * 600],
)
def test_a_cursor_it_did_not_hand_out_is_a_400(logged: list[IngestManifest], cursor: str) -> None:
    status, body = call({"cursor": cursor})
    assert status == 400
    assert body["error"]["code"] == "invalid_cursor"
    assert body["error"]["details"][0]["field"] == "query.cursor"


def test_unknown_kind_or_status_is_a_422(logged: list[IngestManifest]) -> None:
    status, body = call({"kind": "returns", "status": "lost"})
    assert status == 422
    assert {detail["field"] for detail in body["error"]["details"]} == {"query.kind", "query.status"}


def test_since_without_a_time_zone_is_a_400(logged: list[IngestManifest]) -> None:
    status, body = call({"since": "2026-01-01T00:00:00"})
    assert status == 400
    assert body["error"]["details"][0]["field"] == "query.since"
