"""Erasure's pieces: rewriting stored objects without one customer, and the requests table."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto import mock_aws
from shelfwise.privacy.erasure import ErasureRequests
from shelfwise.privacy.erasure_deny_list import denied, drop_erased, markers_in
from shelfwise.privacy.erasure_objects import (
    Identifiers,
    UnsupportedObject,
    archive_mentions,
    parquet_holds,
    without_customer,
    without_customer_csv,
    without_customer_json,
    without_customer_parquet,
    without_user_in_model,
)
from shelfwise.privacy.pseudonyms import Pseudonymizer, erasure_marker

KEY = b"k" * 32
PSEUDONYMS = Pseudonymizer(KEY)
ERASED = "u1"
ERASED_PSEUDONYM = PSEUDONYMS.pseudonym(ERASED)
WHO = Identifiers.of(ERASED, ERASED_PSEUDONYM)


def interactions(users: list[str]) -> bytes:
    table = pa.table(
        {
            "user_id": users,
            "item_id": [f"i{index}" for index in range(len(users))],
            "event_type": ["view"] * len(users),
            "value": [1.0] * len(users),
            "timestamp": pa.array(
                [datetime(2024, 3, 1, tzinfo=UTC)] * len(users), pa.timestamp("ms", tz="UTC")
            ),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def test_a_parquet_partition_loses_only_the_customers_rows() -> None:
    users = [ERASED, "u10", ERASED_PSEUDONYM, "u2", "xu1", ERASED, None]
    rewritten = without_customer_parquet(interactions(users), WHO)  # type: ignore[arg-type]

    assert rewritten.removed == 3 and rewritten.body is not None
    kept = pq.read_table(pa.BufferReader(rewritten.body))
    assert kept.column("user_id").to_pylist() == ["u10", "u2", "xu1", None]
    # Everyone else's rows keep every column, in order, with the same schema.
    assert kept.column("item_id").to_pylist() == ["i1", "i3", "i4", "i6"]
    assert kept.schema == pq.read_table(pa.BufferReader(interactions(["a"]))).schema


def test_a_partition_without_the_customer_is_left_alone() -> None:
    data = interactions(["u10", "u2", "u11"])
    assert not parquet_holds(data, WHO, columns=["user_id"])
    assert without_customer_parquet(data, WHO).body is None


def test_csv_rows_are_matched_by_whole_cell_keeping_header_and_line_ends() -> None:
    text = 'user_id,item_id,event_type\r\nu1,i1,view\r\nu10,i2,view\r\n"u1",i3,cart\r\nu2,u1-note,view\r\n'
    rewritten = without_customer_csv(text.encode(), WHO)

    assert rewritten.removed == 2
    assert rewritten.body == b"user_id,item_id,event_type\r\nu10,i2,view\r\nu2,u1-note,view\r\n"


def test_gzipped_csv_and_rejection_reports_with_the_spreadsheet_guard() -> None:
    report = "line,field,value,reason\n3,user_id,'u1,too long\n4,value,lots,not a number\n"
    rewritten = without_customer("rejected/interactions/a.csv.gz", gzip.compress(report.encode()), WHO)

    assert rewritten.removed == 1 and rewritten.body is not None
    rows = list(csv.reader(io.StringIO(gzip.decompress(rewritten.body).decode())))
    assert rows == [["line", "field", "value", "reason"], ["4", "value", "lots", "not a number"]]


def test_json_loses_the_customers_keys_and_records_and_refuses_free_text() -> None:
    document = {
        "users": [ERASED, "u10"],
        "scores": {ERASED: 1, "u2": 2},
        "rows": [{"user_id": ERASED}, {"x": 1}],
    }
    rewritten = without_customer_json(json.dumps(document).encode(), WHO)

    assert rewritten.removed == 3 and rewritten.body is not None
    assert json.loads(rewritten.body) == {"users": ["u10"], "scores": {"u2": 2}, "rows": [{"x": 1}]}
    with pytest.raises(UnsupportedObject):
        without_customer_json(json.dumps({"note": "ask u1 first"}).encode(), WHO)


def model_files(user_ids: list[str], histories: list[list[int]]) -> dict[str, bytes]:
    def npy(array: np.ndarray) -> bytes:
        sink = io.BytesIO()
        np.save(sink, array)
        return sink.getvalue()

    indptr = np.concatenate([[0], np.cumsum([len(h) for h in histories])]).astype(np.int64)
    items = np.array([item for history in histories for item in history], dtype=np.int32)
    files = {
        "users.json": json.dumps({"user_ids": user_ids}).encode(),
        "user_indptr.npy": npy(indptr),
        "user_items.npy": npy(items),
        "user_weights.npy": npy(items.astype(np.float32) / 10),
        "items.json": json.dumps({"item_ids": ["a", "b", "c"]}).encode(),
    }
    artifacts = {"users": "users.json", "user_indptr": "user_indptr.npy", "user_items": "user_items.npy"}
    artifacts["user_weights"] = "user_weights.npy"
    files["manifest.json"] = json.dumps(
        {"artifacts": artifacts, "files": {name: "0" * 64 for name in files}}
    ).encode()
    return files


def test_a_model_version_forgets_the_users_history_and_keeps_the_others() -> None:
    files = model_files(["u0", ERASED_PSEUDONYM, "u2"], [[0, 1], [2, 1, 0], [2]])
    changed, removed = without_user_in_model(files, WHO)

    assert removed == 1
    assert json.loads(changed["users.json"])["user_ids"] == ["u0", "u2"]
    indptr = np.load(io.BytesIO(changed["user_indptr.npy"]))
    items = np.load(io.BytesIO(changed["user_items.npy"]))
    weights = np.load(io.BytesIO(changed["user_weights.npy"]))
    assert indptr.tolist() == [0, 2, 3] and items.tolist() == [0, 1, 2]
    assert weights.tolist() == pytest.approx([0.0, 0.1, 0.2])
    manifest = json.loads(changed["manifest.json"])
    import hashlib

    assert manifest["files"]["users.json"] == hashlib.sha256(changed["users.json"]).hexdigest()
    assert manifest["files"]["items.json"] == "0" * 64  # unchanged files keep their digest
    assert "items.json" not in changed
    assert without_user_in_model(model_files(["u0"], [[0]]), WHO) == ({}, 0)


def test_an_archive_is_judged_by_its_text_members() -> None:
    import tarfile

    def archive(users: list[str]) -> bytes:
        sink = io.BytesIO()
        with tarfile.open(fileobj=sink, mode="w:gz") as tar:
            for name, body in (
                ("v1/users.json", json.dumps({"user_ids": users}).encode()),
                ("v1/manifest.json", json.dumps({"model_name": "recommender", "version": "v1"}).encode()),
            ):
                info = tarfile.TarInfo(name)
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
        return sink.getvalue()

    assert archive_mentions(archive(["u0", ERASED_PSEUDONYM]), WHO) == (
        True,
        {"model_name": "recommender", "version": "v1"},
    )
    assert archive_mentions(archive(["u0", "u10"]), WHO)[0] is False


def test_the_deny_list_matches_pseudonyms_by_their_marker_only(tmp_path: Path) -> None:
    (tmp_path / erasure_marker(ERASED_PSEUDONYM)).write_text("")
    (marker,) = markers_in(tmp_path)
    assert ERASED_PSEUDONYM[3:] not in marker and ERASED not in marker
    assert denied([ERASED_PSEUDONYM, PSEUDONYMS.pseudonym("u2")], markers_in(tmp_path)) == {ERASED_PSEUDONYM}
    assert denied([ERASED_PSEUDONYM], markers_in(tmp_path / "missing")) == set()


# --- the requests table -------------------------------------------------------------------------------------


@pytest.fixture
def requests_table(aws_credentials: None) -> Iterator[ErasureRequests]:
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName="erasures",
            KeySchema=[{"AttributeName": "request_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "request_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield ErasureRequests("erasures")


def test_asking_twice_while_open_returns_the_same_request(requests_table: ErasureRequests) -> None:
    first, created = requests_table.request(
        customer_id=ERASED, pseudonym=ERASED_PSEUDONYM, requested_by="ops"
    )
    again, created_again = requests_table.request(
        customer_id=ERASED, pseudonym=ERASED_PSEUDONYM, requested_by="ops-2"
    )
    other, _ = requests_table.request(
        customer_id="u2", pseudonym=PSEUDONYMS.pseudonym("u2"), requested_by="ops"
    )

    assert created and not created_again
    assert again.request_id == first.request_id and again.item["requested_by"] == "ops"
    assert other.request_id != first.request_id
    assert [r.request_id for r in requests_table.open_requests()] == [first.request_id, other.request_id]


def test_a_completed_request_keeps_an_audit_record_without_personal_data(
    requests_table: ErasureRequests,
) -> None:
    request, _ = requests_table.request(customer_id=ERASED, pseudonym=ERASED_PSEUDONYM, requested_by="ops")
    started = requests_table.start(request)
    requests_table.record_step(request.request_id, "activity", count=2, unit="items", done=True)
    done = requests_table.complete(started)

    stored = boto3.resource("dynamodb").Table("erasures").scan()["Items"]
    assert [item["request_id"] for item in stored] == [request.request_id]  # the open pointer is gone
    text = json.dumps(stored, default=str)
    assert ERASED_PSEUDONYM not in text and '"u1"' not in text
    view = done.view(("activity",))
    assert view.status == "completed" and view.requested_by == "ops" and view.attempts == 1
    assert [(step.name, step.count, step.status) for step in view.steps] == [("activity", 2, "done")]
    # A later request for the same customer is a new one.
    later, created = requests_table.request(
        customer_id=ERASED, pseudonym=ERASED_PSEUDONYM, requested_by="ops"
    )
    assert created and later.request_id != request.request_id


def test_training_rows_of_erased_customers_are_left_out_and_counted(tmp_path: Path) -> None:
    import pandas as pd

    (tmp_path / erasure_marker(ERASED_PSEUDONYM)).write_text("")
    frame = pd.DataFrame(
        {"user_id": [ERASED_PSEUDONYM, "ps_other", ERASED_PSEUDONYM, None], "item_id": list("abcd")}
    )

    kept, removed = drop_erased(frame, markers_in(tmp_path))

    assert removed == 2
    assert kept["item_id"].tolist() == ["b", "d"]
    assert drop_erased(frame, frozenset())[1] == 0
