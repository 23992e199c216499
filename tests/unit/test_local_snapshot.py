"""Snapshots keep the local cloud's S3 objects and DynamoDB items across restarts."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from shelfwise_infra import spec
from shelfwise_local.resources import create_buckets, create_queues, create_tables
from shelfwise_local.snapshot import (
    ChangeCounter,
    dead_letter_queue_names,
    is_state_change,
    restore_snapshot,
    take_snapshot,
)

BUCKET = spec.DATA_BUCKET.local_name


pytestmark = pytest.mark.usefixtures("aws_credentials")


def fill(s3: object, dynamodb: object) -> None:
    s3.put_object(
        Bucket=BUCKET, Key="curated/interactions/dt=2024-03-01/part-a.parquet", Body=b"PAR1\x00\xff"
    )
    s3.put_object(
        Bucket=BUCKET,
        Key="rejected/interactions/x.csv",
        Body=b"line,field\n3,value\n",
        ContentType="text/csv",
        Metadata={"source-key": "incoming/interactions/x.csv"},
    )
    dynamodb.put_item(
        TableName=spec.MODELS_TABLE.local_name,
        Item={
            "model_name": {"S": "recs"},
            "version": {"S": "2024-03-01"},
            "metrics": {"M": {"ndcg": {"N": "0.489"}, "tags": {"SS": ["a", "b"]}}},
            "blob": {"B": b"\x00\x01binary"},
            "history": {"L": [{"N": "1"}, {"NULL": True}, {"BOOL": False}]},
        },
    )
    with_many = [
        {"PutRequest": {"Item": {"item_id": {"S": f"i{n}"}, "price": {"N": str(n)}}}} for n in range(25)
    ]
    dynamodb.batch_write_item(RequestItems={spec.CATALOG_TABLE.local_name: with_many})


def state_of(s3: object, dynamodb: object) -> dict[str, object]:
    objects = {}
    for entry in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        response = s3.get_object(Bucket=BUCKET, Key=entry["Key"])
        objects[entry["Key"]] = (response["Body"].read(), response["ContentType"], response["Metadata"])
    tables = {
        table.local_name: sorted(
            json.dumps(item, sort_keys=True, default=repr)
            for item in dynamodb.scan(TableName=table.local_name)["Items"]
        )
        for table in spec.TABLES
    }
    return {"objects": objects, "tables": tables}


def test_snapshot_and_restore_round_trip(tmp_path: Path) -> None:
    with mock_aws():
        s3, dynamodb = boto3.client("s3"), boto3.client("dynamodb")
        create_buckets(s3)
        create_tables(dynamodb)
        fill(s3, dynamodb)
        before = state_of(s3, dynamodb)
        saved = take_snapshot(tmp_path, s3=s3)

    assert saved == {"objects": 2, "items": 26}
    with mock_aws():
        s3, dynamodb = boto3.client("s3"), boto3.client("dynamodb")
        create_buckets(s3)
        create_tables(dynamodb)
        assert state_of(s3, dynamodb)["objects"] == {}

        restored = restore_snapshot(tmp_path, s3=s3)

        assert restored == {**saved, "dead_letters": 0}
        assert state_of(s3, dynamodb) == before


def test_restore_without_a_snapshot_changes_nothing(
    tmp_path: Path, spec_cloud: tuple[object, object]
) -> None:
    s3, _ = spec_cloud

    assert restore_snapshot(tmp_path / "none", s3=s3) == {"objects": 0, "items": 0}


def test_a_later_snapshot_replaces_the_earlier_and_drops_stale_files(
    tmp_path: Path, spec_cloud: tuple[object, object]
) -> None:
    s3, _ = spec_cloud
    s3.put_object(Bucket=BUCKET, Key="a", Body=b"first")
    take_snapshot(tmp_path, s3=s3)
    s3.delete_object(Bucket=BUCKET, Key="a")
    s3.put_object(Bucket=BUCKET, Key="b", Body=b"second")

    take_snapshot(tmp_path, s3=s3)

    state = json.loads((tmp_path / "state.json").read_text())
    assert [entry["key"] for entry in state["s3"][BUCKET]] == ["b"]
    assert len(list((tmp_path / "blobs").iterdir())) == 1
    assert len(list((tmp_path / "dynamodb").iterdir())) == len(spec.TABLES)
    assert not [path for path in tmp_path.rglob("*") if ".tmp-" in path.name]


def signed(service: str, method: str = "POST", target: str = "") -> dict[str, str]:
    environ = {
        "REQUEST_METHOD": method,
        "HTTP_AUTHORIZATION": (
            f"AWS4-HMAC-SHA256 Credential=testing/20240301/us-east-1/{service}/aws4_request, "
            "SignedHeaders=host, Signature=abc"
        ),
    }
    if target:
        environ["HTTP_X_AMZ_TARGET"] = target
    return environ


def test_only_requests_that_change_saved_state_count_as_changes() -> None:
    assert is_state_change(signed("s3", "PUT"))
    assert is_state_change(signed("s3", "DELETE"))
    assert not is_state_change(signed("s3", "GET"))
    assert is_state_change(signed("dynamodb", target="DynamoDB_20120810.PutItem"))
    assert is_state_change(signed("dynamodb", target="DynamoDB_20120810.BatchWriteItem"))
    assert not is_state_change(signed("dynamodb", target="DynamoDB_20120810.Scan"))
    assert not is_state_change(signed("sqs", target="AmazonSQS.ReceiveMessage"))
    assert not is_state_change({"REQUEST_METHOD": "PUT"})


def test_dead_letters_and_multipart_etags_survive_a_restart(tmp_path: Path) -> None:
    body = b"x" * (5 * 1024 * 1024 + 1)
    with mock_aws():
        s3, sqs = boto3.client("s3"), boto3.client("sqs")
        create_buckets(s3)
        create_tables(boto3.client("dynamodb"))
        queues = create_queues(sqs)
        dead_letters = queues[spec.INGEST_QUEUE.id].dlq_url
        sqs.send_message(QueueUrl=dead_letters, MessageBody='{"Records": []}')
        # A multipart upload's ETag is not the MD5 of its bytes; ingestion derives the file's id from it.
        upload = s3.create_multipart_upload(Bucket=BUCKET, Key="incoming/sales/big.csv")
        part = s3.upload_part(
            Bucket=BUCKET, Key="incoming/sales/big.csv", UploadId=upload["UploadId"], PartNumber=1, Body=body
        )
        s3.complete_multipart_upload(
            Bucket=BUCKET,
            Key="incoming/sales/big.csv",
            UploadId=upload["UploadId"],
            MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
        )
        etag = s3.head_object(Bucket=BUCKET, Key="incoming/sales/big.csv")["ETag"]
        take_snapshot(tmp_path, s3=s3, queues=dead_letter_queue_names())

    with mock_aws():
        s3, sqs = boto3.client("s3"), boto3.client("sqs")
        create_buckets(s3)
        create_tables(boto3.client("dynamodb"))
        queues = create_queues(sqs)

        restored = restore_snapshot(tmp_path, s3=s3, sqs=sqs)

        assert restored["dead_letters"] == 1
        messages = sqs.receive_message(QueueUrl=queues[spec.INGEST_QUEUE.id].dlq_url)["Messages"]
        assert [message["Body"] for message in messages] == ['{"Records": []}']
        assert "-" in etag and s3.head_object(Bucket=BUCKET, Key="incoming/sales/big.csv")["ETag"] == etag


def test_writes_wait_while_a_snapshot_is_read() -> None:
    applied: list[str] = []
    counter = ChangeCounter(lambda environ, start_response: applied.append(environ["REQUEST_METHOD"]))
    put = {
        "REQUEST_METHOD": "PUT",
        "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=k/20260101/us-east-1/s3/aws4_request, Signed=x",
    }
    read = {**put, "REQUEST_METHOD": "GET"}
    writer = threading.Thread(target=counter, args=(put, None))

    with counter.writes_paused():
        writer.start()
        counter(read, None)  # reads go on: the snapshot itself reads through the same server
        writer.join(0.2)
        assert writer.is_alive() and applied == ["GET"]
    writer.join(5)

    assert applied == ["GET", "PUT"] and counter.generation == 1
