"""What a sender and upstream systems are told about a dropped file (shelfwise.ingest.outcomes)."""

from __future__ import annotations

import json
import typing
from datetime import UTC, date, datetime
from typing import Any

import pytest
from shelfwise import settings
from shelfwise.api.errors import BadRequest
from shelfwise.ingest import outcomes
from shelfwise.ingest.contracts import CONTRACTS
from shelfwise.ingest.report import FileError, IngestManifest

BUCKET = "shelfwise-data"
FINISHED = datetime(2026, 3, 1, 10, 0, 5, tzinfo=UTC)


def manifest(**fields: Any) -> IngestManifest:
    values: dict[str, Any] = {
        "contract_version": "1",
        "kind": "catalog",
        "file_id": "abc123",
        "source_bucket": BUCKET,
        "source_key": "incoming/catalog/new.csv",
        "etag": "e",
        "status": "landed",
        "rows_total": 20,
        "rows_landed": 20,
        "started_at": datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC),
        "finished_at": FINISHED,
    }
    values.update(fields)
    return IngestManifest.model_validate(values)


PARTIAL = manifest(
    status="partially_rejected",
    rows_landed=18,
    rows_rejected=2,
    problems_reported=2,
    rejection_report_key="rejected/catalog/new.csv.abc123.rejections.csv",
)
WHOLE = manifest(
    status="rejected",
    rows_total=0,
    rows_landed=0,
    problems_reported=1,
    rejection_report_key="rejected/catalog/new.csv.abc123.rejections.csv",
    file_error=FileError(code="missing_columns", reason="missing required column(s): price"),
)


def test_partial_rejection_names_the_counts_the_report_and_succeeds() -> None:
    lines = outcomes.summary_lines(PARTIAL, BUCKET)

    assert lines[0] == ("incoming/catalog/new.csv: landed with rejections — 18 of 20 rows landed, 2 rejected")
    assert lines[1] == (
        "rejection report: s3://shelfwise-data/rejected/catalog/new.csv.abc123.rejections.csv (2 problem(s))"
    )
    assert lines[2] == "manifest: s3://shelfwise-data/curated/_manifests/catalog/abc123.json"
    assert outcomes.exit_code(PARTIAL) == 0


def test_a_file_rejected_whole_says_why_and_fails() -> None:
    lines = outcomes.summary_lines(WHOLE, BUCKET)

    assert "rejected whole — missing required column(s): price (missing_columns)" in lines[0]
    assert any(line.startswith("rejection report: s3://") for line in lines)
    assert outcomes.exit_code(WHOLE) == 1


def test_every_row_rejected_is_a_rejection_too() -> None:
    all_bad = manifest(status="rejected", rows_landed=0, rows_rejected=20, rejection_report_key="r.csv")
    assert "every row was rejected" in outcomes.headline(all_bad)
    assert outcomes.exit_code(all_bad) == 1
    assert outcomes.outcome_event(all_bad, BUCKET)[0] == "FileRejected"


def test_a_redelivery_says_so() -> None:
    assert outcomes.summary_lines(manifest(), BUCKET, already=True)[0] == (
        "already delivered before; incoming/catalog/new.csv: landed — 20 of 20 rows landed"
    )


def test_rows_of_erased_customers_are_counted_apart() -> None:
    interactions = manifest(kind="interactions", rows_total=20, rows_landed=17, rows_erased=3)

    assert outcomes.headline(interactions) == (
        "incoming/catalog/new.csv: landed — 17 of 20 rows landed (3 of erased customers left out)"
    )
    assert outcomes.outcome_event(interactions, BUCKET)[1]["rows_erased"] == 3
    assert outcomes.log_item(interactions)["rows_erased"] == 3


def test_events_carry_counts_and_keys_but_not_the_error_text() -> None:
    detail_type, detail = outcomes.outcome_event(WHOLE, BUCKET)

    assert detail_type == "FileRejected"
    assert detail == {
        "kind": "catalog",
        "file_id": "abc123",
        "bucket": BUCKET,
        "key": "incoming/catalog/new.csv",
        "status": "rejected",
        "rows_total": 0,
        "rows_landed": 0,
        "rows_rejected": 0,
        "rows_erased": 0,
        "data_bucket": BUCKET,
        "rejection_report_key": "rejected/catalog/new.csv.abc123.rejections.csv",
        "manifest_key": "curated/_manifests/catalog/abc123.json",
        "error_code": "missing_columns",
        "finished_at": "2026-03-01T10:00:05.000000Z",
    }
    assert outcomes.outcome_event(PARTIAL, BUCKET)[0] == "FileIngested"
    json.dumps(detail)  # what PutEvents sends


def test_log_items_sort_by_finish_time_within_their_day() -> None:
    item = outcomes.log_item(PARTIAL)

    assert item["day"] == "2026-03-01"
    assert item["file_key"] == "2026-03-01T10:00:05.000000Z#abc123"
    assert item["expires_at"] == int(FINISHED.timestamp()) + 90 * 24 * 3600
    assert "error_code" not in item


def test_log_items_live_as_long_as_the_deployments_rejection_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.REJECTED_RETENTION_DAYS_ENV, "30")

    assert outcomes.log_item(PARTIAL)["expires_at"] == int(FINISHED.timestamp()) + 30 * 24 * 3600


def test_the_kind_filter_knows_every_contract_kind() -> None:
    assert set(typing.get_args(outcomes.IngestKind)) == {*CONTRACTS, "unknown"}


def test_cursors_round_trip_and_foreign_ones_are_refused() -> None:
    cursor = outcomes.encode_cursor("2026-03-01", "2026-03-01T10:00:05.000000Z#abc123")
    window = {"oldest": date(2026, 2, 20), "newest": date(2026, 3, 2)}

    assert outcomes.decode_cursor(cursor, **window) == ("2026-03-01", "2026-03-01T10:00:05.000000Z#abc123")
    for foreign in (
        "%%%",
        "eyJ9",  # '{"}' cut short
        outcomes.encode_cursor("2026-01-01", "2026-01-01T00:00:00.000000Z#x"),  # outside the window
        outcomes.encode_cursor("2026-03-01", "2026-02-28T00:00:00.000000Z#x"),  # key of another day
        outcomes.encode_cursor("yesterday", "yesterday#x"),
    ):
        with pytest.raises(BadRequest) as refused:
            outcomes.decode_cursor(foreign, **window)
        assert refused.value.field == "query.cursor"
