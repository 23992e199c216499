"""The erasure job against the whole platform in moto: every store cleaned, a crashed run resumed."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto_platform import local_platform
from shelfwise.chat.sessions import session_owner
from shelfwise.ingest.reconcile import file_id_for
from shelfwise.privacy.erasure import ErasureRequests
from shelfwise.privacy.erasure_deny_list import deny_list_key
from shelfwise.privacy.erasure_job import STEP_NAMES, ErasureJob, ErasureTargets
from shelfwise.privacy.pseudonyms import Pseudonymizer
from shelfwise_infra import spec

pytestmark = pytest.mark.integration

BUCKET = spec.DATA_BUCKET.local_name
PSEUDONYMS = Pseudonymizer(b"erasure-test-key-" + b"x" * 32)
ERASED = "cust-0001"
ERASED_PS = PSEUDONYMS.pseudonym(ERASED)
OTHERS = ["cust-00010", "cust-0002", PSEUDONYMS.pseudonym("cust-0002")]


def parquet(users: list[str]) -> bytes:
    table = pa.table(
        {
            "user_id": users,
            "item_id": [f"i{index}" for index in range(len(users))],
            "event_type": ["purchase"] * len(users),
            "value": [2.0] * len(users),
            "timestamp": pa.array(
                [datetime(2024, 3, 1, tzinfo=UTC)] * len(users), pa.timestamp("ms", tz="UTC")
            ),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def npy(array: np.ndarray) -> bytes:
    sink = io.BytesIO()
    np.save(sink, array)
    return sink.getvalue()


def model_version(users: list[str]) -> dict[str, bytes]:
    indptr = np.arange(len(users) + 1, dtype=np.int64)
    files = {
        "users.json": json.dumps({"user_ids": users}).encode(),
        "user_indptr.npy": npy(indptr),
        "user_items.npy": npy(np.zeros(len(users), dtype=np.int32)),
        "user_weights.npy": npy(np.ones(len(users), dtype=np.float32)),
    }
    artifacts = {name.removesuffix(".npy").removesuffix(".json"): name for name in files}
    files["manifest.json"] = json.dumps(
        {
            "model_name": "recommender",
            "version": "v1",
            "artifacts": artifacts,
            "files": {n: "0" * 64 for n in files},
        }
    ).encode()
    return files


def archive(files: dict[str, bytes]) -> bytes:
    sink = io.BytesIO()
    with tarfile.open(fileobj=sink, mode="w:gz") as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(f"v1/{name}")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return sink.getvalue()


@dataclass
class Platform:
    s3: Any
    dynamodb: Any
    crm_queue_url: str

    def put(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)

    def get(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()

    def listing(self) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        return sorted(entry["Key"] for page in pages for entry in page.get("Contents", []))


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    with local_platform(monkeypatch, "erasure"):
        sqs = boto3.client("sqs")
        queue_url = sqs.create_queue(QueueName="crm")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events = boto3.client("events")
        events.put_rule(
            Name="erasures",
            EventBusName=spec.EVENT_BUS.local_name,
            EventPattern=json.dumps({"source": ["shelfwise"]}),
        )
        events.put_targets(
            Rule="erasures", EventBusName=spec.EVENT_BUS.local_name, Targets=[{"Id": "crm", "Arn": queue_arn}]
        )
        yield Platform(boto3.client("s3"), boto3.resource("dynamodb"), queue_url)


def seed(platform: Platform) -> None:
    s3 = platform
    s3.put("curated/interactions/dt=2024-03-01/part-a.parquet", parquet([ERASED_PS, OTHERS[2], ERASED_PS]))
    s3.put("curated/interactions/dt=2024-03-01/part-b.parquet", parquet([ERASED, OTHERS[0]]))
    s3.put("curated/interactions/dt=2024-03-02/part-a.parquet", parquet([OTHERS[2]]))
    raw = f"user_id,item_id,event_type,value,timestamp\n{ERASED},i1,view,1,2024-03-01T00:00:00Z\n"
    raw += "cust-0002,i2,view,1,2024-03-01T00:00:00Z\n"
    s3.put("incoming/interactions/a.csv.gz", gzip.compress(raw.encode()))
    s3.put(
        "incoming/interactions/b.csv", b"user_id,item_id,event_type,value,timestamp\ncust-0002,i1,view,1,x\n"
    )
    etag = s3.s3.head_object(Bucket=BUCKET, Key="incoming/interactions/a.csv.gz")["ETag"]
    file_id = file_id_for(BUCKET, "incoming/interactions/a.csv.gz", etag)
    s3.put(f"curated/_manifests/interactions/{file_id}.json", b'{"status": "landed"}')
    s3.put(
        "rejected/interactions/a.csv.gz.x.rejections.csv",
        f"line,field,value,reason\n2,user_id,'{ERASED},too long\n3,value,x,not a number\n".encode(),
    )
    s3.put("segments/latest/segments.csv", f"user_id,segment\n{ERASED},champions\ncust-0002,loyal\n".encode())
    for key, body in model_version([OTHERS[2], ERASED_PS]).items():
        s3.put(f"models/recommender/v1/{key}", body)
    s3.put("models/_jobs/recommender/job-1/output/model.tar.gz", archive(model_version([ERASED_PS])))
    s3.put("models/_jobs/recommender/job-2/output/model.tar.gz", archive(model_version([OTHERS[2]])))
    tables = {table.id: platform.dynamodb.Table(table.local_name) for table in spec.TABLES}
    tables["ModelsTable"].put_item(
        Item={"model_name": "recommender", "version": "v1", "status": "promoted", "created_at": "2024-03-02"}
    )
    for user in (ERASED_PS, ERASED, OTHERS[2]):
        tables["UserActivityTable"].put_item(Item={"user_id": user, "events": "[]"})
        tables["SegmentsTable"].put_item(Item={"user_id": user, "segment": "loyal"})
    tables["ChatSessionsTable"].put_item(Item={"session_id": "s1", "owner": ERASED_PS})
    tables["ChatSessionsTable"].put_item(
        Item={"session_id": "s2", "owner": session_owner("customer", ERASED)}
    )
    tables["ChatSessionsTable"].put_item(Item={"session_id": "s3", "owner": OTHERS[2]})
    tables["IdempotencyTable"].put_item(Item={"id": "h1", "data": json.dumps({"user_id": ERASED})})
    tables["IdempotencyTable"].put_item(Item={"id": "h2", "data": json.dumps({"user_id": "cust-00010"})})
    tables["CustomerIdsTable"].put_item(Item={"pseudonym": ERASED_PS, "customer_id": ERASED})


def job() -> ErasureJob:
    targets = ErasureTargets(
        bucket=BUCKET,
        activity_table=spec.USER_ACTIVITY_TABLE.local_name,
        segments_table=spec.SEGMENTS_TABLE.local_name,
        chat_sessions_table=spec.CHAT_SESSIONS_TABLE.local_name,
        idempotency_table=spec.IDEMPOTENCY_TABLE.local_name,
        models_table=spec.MODELS_TABLE.local_name,
        event_bus=spec.EVENT_BUS.local_name,
        customer_ids_table=spec.CUSTOMER_IDS_TABLE.local_name,
    )
    return ErasureJob(targets, ErasureRequests(spec.ERASURES_TABLE.local_name))


def everything(platform: Platform) -> str:
    """Every object (Parquet decoded, gzip and tar unpacked) and every item of every table, as text."""
    parts = []
    for key in platform.listing():
        body = platform.get(key)
        if key.endswith(".parquet"):
            parts.append(json.dumps(pq.read_table(pa.BufferReader(body)).to_pylist(), default=str))
        elif key.endswith(".tar.gz"):
            with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
                parts.extend(
                    tar.extractfile(m).read().decode("latin-1") for m in tar.getmembers() if m.isfile()
                )
        elif key.endswith(".gz"):
            parts.append(gzip.decompress(body).decode())
        else:
            parts.append(body.decode("latin-1"))
    for table in spec.TABLES:
        parts.append(json.dumps(platform.dynamodb.Table(table.local_name).scan()["Items"], default=str))
    return "\n".join(parts)


def test_a_crashed_run_is_resumed_and_the_customer_is_gone_from_every_store(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(platform)
    requests = ErasureRequests(spec.ERASURES_TABLE.local_name)
    request, _ = requests.request(customer_id=ERASED, pseudonym=ERASED_PS, requested_by="ops-client")

    def crash(*args: Any) -> int:
        raise ConnectionError("the run died here")

    with monkeypatch.context() as patch:
        patch.setattr(ErasureJob, "_erase_raw_interactions", crash)
        first = job().run()

    assert request.request_id in first.failed
    after_crash = requests.get(request.request_id)
    assert after_crash is not None and after_crash.status == "failed"
    done_steps = [name for name in STEP_NAMES if after_crash.step_done(name)]
    assert done_steps == list(STEP_NAMES[: STEP_NAMES.index("raw_interactions")])
    assert after_crash.step_count("curated_interactions") == 3
    # What the first run did stays done; the raw file it did not reach is still there.
    assert ERASED_PS not in json.dumps(pq.read_table(pa.BufferReader(platform.get(
        "curated/interactions/dt=2024-03-01/part-a.parquet"))).to_pylist(), default=str)  # fmt: skip
    assert "incoming/interactions/a.csv.gz" in platform.listing()

    second = job().run()

    assert second.completed == [request.request_id] and not second.failed
    finished = requests.get(request.request_id)
    assert finished is not None and finished.status == "completed" and finished.item["attempts"] == 2
    counts = finished.counts()
    assert counts["curated_interactions"] == 3  # not counted twice by the resumed run
    assert counts["activity"] == 2 and counts["segments"] == 2 and counts["chat_sessions"] == 2
    assert counts["idempotency"] == 1 and counts["raw_interactions"] == 1 and counts["rejection_reports"] == 1
    assert (
        counts["segment_exports"] == 1 and counts["model_versions"] == 1 and counts["training_archives"] == 1
    )
    assert counts["customer_id_vault"] == 1 and counts["deny_list"] == 1

    text = everything(platform)
    assert ERASED not in text.replace("cust-00010", "") and ERASED_PS not in text
    # Everyone else is intact: their rows, sessions, raw files and model history.
    part_b = pq.read_table(pa.BufferReader(platform.get("curated/interactions/dt=2024-03-01/part-b.parquet")))
    assert part_b.column("user_id").to_pylist() == ["cust-00010"]
    assert "incoming/interactions/b.csv" in platform.listing()
    assert "models/_jobs/recommender/job-2/output/model.tar.gz" in platform.listing()
    assert json.loads(platform.get("models/recommender/v1/users.json"))["user_ids"] == [OTHERS[2]]
    assert platform.get("segments/latest/segments.csv") == b"user_id,segment\ncust-0002,loyal\n"
    assert deny_list_key(ERASED_PS) in platform.listing()
    sessions = platform.dynamodb.Table(spec.CHAT_SESSIONS_TABLE.local_name).scan()["Items"]
    assert [item["session_id"] for item in sessions] == ["s3"]

    messages = boto3.client("sqs").receive_message(QueueUrl=platform.crm_queue_url, MaxNumberOfMessages=10)
    delivered = [json.loads(message["Body"]) for message in messages.get("Messages", [])]
    assert [event["detail-type"] for event in delivered] == ["CustomerErased"]
    assert delivered[0]["detail"]["request_id"] == request.request_id
    assert delivered[0]["detail"]["counts"]["curated_interactions"] == 3


def test_a_raw_file_not_ingested_yet_keeps_the_request_waiting(platform: Platform) -> None:
    platform.put("incoming/interactions/late.csv", f"user_id,item_id\n{ERASED},i1\ncust-0002,i2\n".encode())
    requests = ErasureRequests(spec.ERASURES_TABLE.local_name)
    request, _ = requests.request(customer_id=ERASED, pseudonym=ERASED_PS, requested_by="ops-client")

    run = job().run()

    assert list(run.waiting) == [request.request_id]
    waiting = requests.get(request.request_id)
    assert waiting is not None and waiting.status == "failed"
    assert "not ingested yet" in str(waiting.item["error"]) and ERASED not in str(waiting.item["error"])
    assert "incoming/interactions/late.csv" in platform.listing()


def test_a_redelivered_file_does_not_bring_an_erased_customer_back(platform: Platform) -> None:
    from moto_platform import pseudonymizer
    from shelfwise.ingest.pipeline import IngestTargets, ingest_object
    from shelfwise.privacy.erasure_deny_list import add

    keyed = pseudonymizer()
    add(BUCKET, keyed.pseudonym(ERASED))
    rows = [f"{user},i1,view,1,2024-03-01T10:00:00Z" for user in (ERASED, "cust-0002", ERASED)]
    platform.put(
        "incoming/interactions/old.csv",
        ("user_id,item_id,event_type,value,timestamp\n" + "\n".join(rows)).encode(),
    )
    targets = IngestTargets(
        data_bucket=BUCKET,
        catalog_table=spec.CATALOG_TABLE.local_name,
        user_activity_table=spec.USER_ACTIVITY_TABLE.local_name,
        customer_ids_table=spec.CUSTOMER_IDS_TABLE.local_name,
    )
    etag = platform.s3.head_object(Bucket=BUCKET, Key="incoming/interactions/old.csv")["ETag"]

    manifest = ingest_object(BUCKET, "incoming/interactions/old.csv", etag, targets, pseudonymizer=keyed)

    assert (manifest.rows_total, manifest.rows_landed, manifest.rows_erased, manifest.rows_rejected) == (
        3,
        1,
        2,
        0,
    )
    assert manifest.status == "landed"
    landed = {key: platform.get(key) for key in platform.listing() if key.startswith("curated/interactions/")}
    assert landed and all(
        pq.read_table(pa.BufferReader(body)).column("user_id").to_pylist() == [keyed.pseudonym("cust-0002")]
        for body in landed.values()
    )
    vault = platform.dynamodb.Table(spec.CUSTOMER_IDS_TABLE.local_name).scan()["Items"]
    assert [item["customer_id"] for item in vault] == ["cust-0002"]
    activity = platform.dynamodb.Table(spec.USER_ACTIVITY_TABLE.local_name).scan()["Items"]
    assert [item["user_id"] for item in activity] == [keyed.pseudonym("cust-0002")]
