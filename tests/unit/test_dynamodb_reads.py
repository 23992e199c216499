"""Whole-partition and whole-table reads follow DynamoDB's pages to the end (1 MB per page, as in AWS)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
from moto import mock_aws
from shelfwise.aws import dynamodb
from shelfwise.ingest.outcomes import logged_file_ids

TABLE = "reads"
# About 20 KB per item: 120 items span three 1 MB pages.
PADDING = "x" * 20_000
ITEMS = 120


@pytest.fixture
def resource(aws_credentials: None) -> Iterator[Any]:
    with mock_aws():
        resource = boto3.resource("dynamodb")
        table = resource.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "N"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        with table.batch_writer() as writer:
            for number in range(ITEMS):
                writer.put_item(
                    Item={
                        "pk": "even" if number % 2 == 0 else "odd",
                        "sk": number,
                        "file_id": f"file-{number:03d}",
                        "padding": PADDING,
                        "nested": {"score": Decimal("0.5"), "tags": ["a", number]},
                    }
                )
        yield resource


def test_a_scan_larger_than_one_page_is_read_to_the_end(resource: Any) -> None:
    single_page = resource.Table(TABLE).scan()
    assert "LastEvaluatedKey" in single_page  # the data really spans several pages

    items = dynamodb.scan_all(TABLE, dynamodb=resource)

    assert sorted(int(item["sk"]) for item in items) == list(range(ITEMS))
    # Values come back as Python values, as the Table resource gives them.
    assert items[0]["nested"]["score"] == Decimal("0.5") and items[0]["padding"] == PADDING


def test_a_partition_is_read_whole_in_sort_key_order_either_way(resource: Any) -> None:
    oldest_first = dynamodb.query_partition(TABLE, "pk", "even", dynamodb=resource)
    newest_first = dynamodb.query_partition(TABLE, "pk", "even", newest_first=True, dynamodb=resource)

    assert [int(item["sk"]) for item in oldest_first] == list(range(0, ITEMS, 2))
    assert [int(item["sk"]) for item in newest_first] == list(range(ITEMS - 2, -1, -2))


def test_a_projected_scan_reads_only_the_named_attributes(resource: Any) -> None:
    assert logged_file_ids(TABLE, dynamo=resource) == {f"file-{number:03d}" for number in range(ITEMS)}
    items = dynamodb.scan_all(TABLE, attributes=["file_id", "sk"], dynamodb=resource)
    assert {frozenset(item) for item in items} == {frozenset({"file_id", "sk"})}


@pytest.mark.parametrize("wanted", [0, 1, 7, 60, ITEMS, ITEMS + 5])
def test_a_bounded_sample_has_exactly_as_many_items_as_asked_or_the_whole_table(
    resource: Any, wanted: int
) -> None:
    sample = dynamodb.scan_some(TABLE, wanted, attributes=["sk"], dynamodb=resource)

    assert len(sample) == min(wanted, ITEMS)
    assert len({int(item["sk"]) for item in sample}) == len(sample)
    assert all(set(item) == {"sk"} for item in sample)
