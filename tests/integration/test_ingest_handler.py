"""The ingest function end to end against in-process moto: S3 object -> SQS-wrapped S3 event -> handler."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import logging
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pyarrow.compute as pc
import pytest
from moto import mock_aws
from moto_platform import TEST_PSEUDONYM_KEY
from shelfwise import curated
from shelfwise.aws import dynamodb
from shelfwise.ingest.activity import FORMAT_VERSION, decode_recent
from shelfwise.privacy.identities import CustomerIdVault
from shelfwise.privacy.pseudonyms import Pseudonymizer
from shelfwise_infra import spec

pytestmark = pytest.mark.integration

EVENT_PATH = spec.EVENTS_DIR / "ingest" / "sqs-s3-object-created.json"
TEST_EVENT_PATH = spec.EVENTS_DIR / "ingest" / "sqs-s3-test-event.json"
SAMPLE_PATH = spec.EVENTS_DIR / "ingest" / "files" / "sample.csv"
BUCKET = spec.DATA_BUCKET.local_name
# The key every in-process test uses: Powertools caches a secret's value per name for minutes.
PSEUDONYM_KEY = TEST_PSEUDONYM_KEY


@dataclass
class FakeContext:
    function_name: str = "shelfwise-ingest"
    memory_limit_in_mb: int = 2048
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:shelfwise-ingest"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def _create_platform() -> None:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    ddb = boto3.client("dynamodb")
    for table in spec.TABLES:
        keys = [(table.partition_key, "HASH")] + ([(table.sort_key, "RANGE")] if table.sort_key else [])
        ddb.create_table(
            TableName=table.local_name,
            KeySchema=[{"AttributeName": name, "KeyType": kind} for name, kind in keys],
            AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name, _ in keys],
            BillingMode="PAY_PER_REQUEST",
        )
    boto3.client("events").create_event_bus(Name=spec.EVENT_BUS.local_name)
    boto3.client("secretsmanager").create_secret(
        Name=spec.PSEUDONYM_KEY_SECRET.local_name, SecretString=PSEUDONYM_KEY
    )


def _listen_to_bus(detail_types: list[str]) -> str:
    """A queue receiving the bus's events of `detail_types`, as an upstream system's rule would."""
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="upstream")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = boto3.client("events")
    events.put_rule(
        Name="upstream-files",
        EventBusName=spec.EVENT_BUS.local_name,
        EventPattern=json.dumps({"source": ["shelfwise"], "detail-type": detail_types}),
    )
    events.put_targets(
        Rule="upstream-files", EventBusName=spec.EVENT_BUS.local_name, Targets=[{"Id": "q", "Arn": arn}]
    )
    return queue_url


def _bus_events(queue_url: str) -> list[dict[str, Any]]:
    messages = boto3.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    return [json.loads(message["Body"]) for message in messages.get("Messages", [])]


def _load_function() -> ModuleType:
    module_spec = importlib.util.spec_from_file_location(
        f"shelfwise_fn_ingest_{uuid.uuid4().hex}", spec.function("ingest").directory / "app.py"
    )
    assert module_spec and module_spec.loader
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        **spec.local_environment(spec.function("ingest")),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        _create_platform()
        yield _load_function()


def _sqs_event_for(key: str, etag: str) -> dict[str, Any]:
    event = json.loads(EVENT_PATH.read_text())
    body = json.loads(event["Records"][0]["body"])
    body["Records"][0]["s3"]["object"]["key"] = key.replace(" ", "+")
    body["Records"][0]["s3"]["object"]["eTag"] = etag
    event["Records"][0]["body"] = json.dumps(body)
    return event


def _upload(key: str, body: bytes) -> dict[str, Any]:
    s3 = boto3.client("s3")
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return _sqs_event_for(key, s3.head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"'))


def _interactions_csv(rows: int, bad_lines: dict[int, str]) -> bytes:
    lines = ["user_id,item_id,event_type,value,timestamp"]
    for index in range(rows):
        line_number = index + 2
        lines.append(
            bad_lines.get(
                line_number, f"u{index % 37},i{index % 101},view,1,2026-11-{1 + index % 3:02d}T10:00:00Z"
            )
        )
    return ("\n".join(lines) + "\n").encode()


def _report(key: str) -> list[dict[str, str]]:
    body = boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    return list(csv.DictReader(io.StringIO(body)))


def _manifests(kind: str) -> list[dict[str, Any]]:
    s3 = boto3.client("s3")
    keys = [
        entry["Key"]
        for entry in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"curated/_manifests/{kind}/").get(
            "Contents", []
        )
    ]
    return [json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()) for key in keys]


def test_thousand_rows_with_three_bad_lines_land_997_and_report_exactly_those(platform: ModuleType) -> None:
    bad = {
        10: "u1,i1,click,1,2026-11-01T10:00:00Z",
        500: "u2,,view,1,2026-11-01T10:00:00Z",
        1001: "u3,i3,purchase,12.5,yesterday",
    }
    event = _upload("incoming/interactions/daily export.csv", _interactions_csv(1000, bad))

    result = platform.handler(event, FakeContext())

    assert result == {"batchItemFailures": []}
    landed = curated.read_curated("interactions", bucket=BUCKET)
    assert landed.num_rows == 997
    assert set(pc.unique(landed.column("event_type")).to_pylist()) == {"view"}
    (manifest,) = _manifests("interactions")
    assert (manifest["rows_total"], manifest["rows_landed"], manifest["rows_rejected"]) == (1000, 997, 3)
    assert manifest["source_key"] == "incoming/interactions/daily export.csv"
    report = _report(manifest["rejection_report_key"])
    assert [(row["line"], row["field"]) for row in report] == [
        ("10", "event_type"),
        ("500", "item_id"),
        ("1001", "timestamp"),
    ]
    assert "not one of view, cart, purchase, rating" in report[0]["reason"]
    assert report[1]["reason"] == "required value is missing"
    assert report[2]["value"] == "yesterday"
    assert manifest["rejection_report_key"].startswith("rejected/interactions/daily export.csv.")
    partitions = sorted(key.split("/")[2] for key in manifest["curated_keys"])
    assert partitions == ["dt=2026-11-01", "dt=2026-11-02", "dt=2026-11-03"]


def test_customer_ids_land_as_pseudonyms_and_only_the_vault_maps_them_back(platform: ModuleType) -> None:
    event = _upload("incoming/interactions/customers.csv", _interactions_csv(100, {}))
    logged = io.StringIO()
    handler = logging.StreamHandler(logged)
    handler.setFormatter(platform.logger.registered_formatter)
    platform.logger.addHandler(handler)

    assert platform.handler(event, FakeContext()) == {"batchItemFailures": []}

    pseudonymizer = Pseudonymizer.from_secret_text(PSEUDONYM_KEY)
    customers = {f"u{index}" for index in range(37)}
    landed = set(curated.read_curated("interactions", bucket=BUCKET).column("user_id").to_pylist())
    assert landed == {pseudonymizer.pseudonym(customer) for customer in customers}
    activity = boto3.resource("dynamodb").Table(spec.USER_ACTIVITY_TABLE.local_name).scan()["Items"]
    assert {item["user_id"] for item in activity} == landed
    vault = CustomerIdVault(spec.CUSTOMER_IDS_TABLE.local_name)
    assert vault.customer_ids(landed) == {pseudonymizer.pseudonym(c): c for c in customers}
    # The file under incoming/ stays as delivered; nothing the function logged names a customer.
    raw = boto3.client("s3").get_object(Bucket=BUCKET, Key="incoming/interactions/customers.csv")["Body"]
    assert b"u12," in raw.read()
    assert "file ingested" in logged.getvalue()
    assert not re.findall(r"\bu\d+\b", logged.getvalue()), "a raw customer id reached the log"


def test_the_same_object_delivered_twice_lands_once(
    platform: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = _upload("incoming/interactions/twice.csv", _interactions_csv(200, {}))
    processed: list[str] = []
    real_ingest = platform.ingest_object

    def counting_ingest(*args: Any, **kwargs: Any) -> Any:
        processed.append(args[1])
        return real_ingest(*args, **kwargs)

    monkeypatch.setattr(platform, "ingest_object", counting_ingest)

    platform.handler(event, FakeContext())
    second = platform.handler(event, FakeContext())

    assert second == {"batchItemFailures": []}
    assert processed == ["incoming/interactions/twice.csv"]
    assert curated.read_curated("interactions", bucket=BUCKET).num_rows == 200
    assert len(_manifests("interactions")) == 1


def test_reprocessing_after_the_idempotency_window_overwrites_instead_of_duplicating(
    platform: ModuleType,
) -> None:
    event = _upload("incoming/interactions/again.csv", _interactions_csv(50, {}))
    platform.handler(event, FakeContext())
    boto3.resource("dynamodb").Table(spec.IDEMPOTENCY_TABLE.local_name).delete_item(
        Key={
            "id": boto3.resource("dynamodb").Table(spec.IDEMPOTENCY_TABLE.local_name).scan()["Items"][0]["id"]
        }
    )

    platform.handler(event, FakeContext())

    assert curated.read_curated("interactions", bucket=BUCKET).num_rows == 50


def test_a_binary_file_gets_a_report_and_no_exception(platform: ModuleType) -> None:
    event = _upload("incoming/catalog/photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))

    result = platform.handler(event, FakeContext())

    assert result == {"batchItemFailures": []}
    (manifest,) = _manifests("catalog")
    assert manifest["status"] == "rejected" and manifest["rows_landed"] == 0
    (row,) = _report(manifest["rejection_report_key"])
    assert row["field"] == "(file)" and "binary" in row["reason"]
    assert curated.read_curated("catalog", bucket=BUCKET).num_rows == 0


def test_a_key_outside_a_known_kind_is_reported_not_crashed_on(platform: ModuleType) -> None:
    event = _upload("incoming/returns/2026-11-20.csv", b"order_id,sku\n1,a\n")

    assert platform.handler(event, FakeContext()) == {"batchItemFailures": []}

    (manifest,) = _manifests("unknown")
    assert manifest["file_error"]["code"] == "unknown_kind"
    (row,) = _report(manifest["rejection_report_key"])
    assert "incoming/<kind>/" in row["reason"]


def test_the_s3_test_event_is_skipped(platform: ModuleType) -> None:
    event = json.loads(TEST_EVENT_PATH.read_text())

    assert platform.handler(event, FakeContext()) == {"batchItemFailures": []}
    assert _manifests("interactions") == []


def test_a_message_that_is_not_an_s3_event_fails_only_itself(platform: ModuleType) -> None:
    good = _upload("incoming/interactions/good.csv", _interactions_csv(5, {}))
    poison = json.loads(json.dumps(good["Records"][0]))
    poison["messageId"] = "poison-1"
    poison["body"] = json.dumps({"hello": "world"})
    event = {"Records": [poison, good["Records"][0]]}

    result = platform.handler(event, FakeContext())

    assert result == {"batchItemFailures": [{"itemIdentifier": "poison-1"}]}
    assert curated.read_curated("interactions", bucket=BUCKET).num_rows == 5


def test_the_sample_event_lands_the_sample_file_and_fills_user_activity(platform: ModuleType) -> None:
    boto3.client("s3").put_object(
        Bucket=BUCKET, Key="incoming/interactions/sample.csv", Body=SAMPLE_PATH.read_bytes()
    )

    platform.handler(json.loads(EVENT_PATH.read_text()), FakeContext())

    (manifest,) = _manifests("interactions")
    assert (manifest["rows_landed"], manifest["rows_rejected"]) == (6, 3)
    pseudonym = Pseudonymizer.from_secret_text(PSEUDONYM_KEY).pseudonym
    activity = dynamodb.batch_get(
        spec.USER_ACTIVITY_TABLE.local_name, "user_id", [pseudonym("u-1001"), pseudonym("u-1004"), "u-1001"]
    )
    assert set(activity) == {pseudonym("u-1001")}
    stored = activity[pseudonym("u-1001")]
    recent = decode_recent(stored["recent"])
    assert [event.event_type for event in recent] == ["purchase", "cart", "view"]
    assert int(stored["format_version"]) == FORMAT_VERSION
    assert int(stored["expires_at"]) == recent[0].ts + 90 * 24 * 3600


def test_catalog_lands_in_dynamodb_with_decimal_prices_and_extra_attributes(platform: ModuleType) -> None:
    body = (
        b"item_id,title,category,brand,price,color\nsku-1,Mug,kitchen,Acme,19.99,red\nsku-2,Pan,kitchen,,5,\n"
    )
    platform.handler(_upload("incoming/catalog/pim.csv", body), FakeContext())

    items = dynamodb.batch_get(spec.CATALOG_TABLE.local_name, "item_id", ["sku-1", "sku-2"])
    assert str(items["sku-1"]["price"]) == "19.99"
    assert items["sku-1"]["color"] == "red"
    assert "brand" not in items["sku-2"]
    assert curated.read_curated("catalog", bucket=BUCKET).column("color").to_pylist() == ["red", None]


def test_outcomes_are_announced_on_the_bus_once_and_without_row_contents(platform: ModuleType) -> None:
    queue_url = _listen_to_bus(["FileIngested", "FileRejected"])
    secret_value = "click-SECRET"
    partial = _upload(
        "incoming/interactions/partial.csv",
        _interactions_csv(20, {5: f"u1,i1,{secret_value},1,2026-11-01T10:00:00Z"}),
    )
    garbage = _upload("incoming/catalog/photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)))

    platform.handler(partial, FakeContext())
    platform.handler(partial, FakeContext())  # re-delivered: processed and announced once
    platform.handler(garbage, FakeContext())

    announced = {event["detail-type"]: event for event in _bus_events(queue_url)}
    assert sorted(announced) == ["FileIngested", "FileRejected"]
    ingested = announced["FileIngested"]["detail"]
    assert ingested["key"] == "incoming/interactions/partial.csv"
    assert (ingested["kind"], ingested["status"]) == ("interactions", "partially_rejected")
    assert (ingested["rows_landed"], ingested["rows_rejected"]) == (19, 1)
    assert ingested["rejection_report_key"].startswith("rejected/interactions/partial.csv.")
    assert secret_value not in json.dumps(announced)
    rejected = announced["FileRejected"]["detail"]
    assert (rejected["kind"], rejected["rows_landed"], rejected["error_code"]) == (
        "catalog",
        0,
        "not_a_table",
    )
    assert rejected["rejection_report_key"].startswith("rejected/catalog/photo.csv.")
    log = boto3.resource("dynamodb").Table(spec.INGEST_FILES_TABLE.local_name).scan()["Items"]
    assert sorted(item["source_key"] for item in log) == [
        "incoming/catalog/photo.csv",
        "incoming/interactions/partial.csv",
    ]


@pytest.mark.parametrize(("kind", "label"), [("chat-sentiment", "sentiment"), ("chat-training", "intent")])
def test_chat_messages_in_training_files_land_redacted(platform: ModuleType, kind: str, label: str) -> None:
    value = "negative" if label == "sentiment" else "contact_human_agent"
    rows = [
        f"call me on +44 20 7946 0958 or mail jane.doe@example.com,{value}",
        f"my card 4111 1111 1111 1111 was charged twice,{value}",
        f"where is my parcel,{value}",
    ]
    body = ("\n".join([f"text,{label}", *rows]) + "\n").encode()
    event = _upload(f"incoming/{kind}/labelled.csv", body)
    assert platform.handler(event, FakeContext()) == {"batchItemFailures": []}
    landed = curated.read_curated(kind, bucket=BUCKET).column("text").to_pylist()
    assert sorted(landed) == sorted(
        ["call me on [PHONE] or mail [EMAIL]", "my card [CARD] was charged twice", "where is my parcel"]
    )
    assert _manifests(kind)[0]["rows_landed"] == 3
