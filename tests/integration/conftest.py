"""Shared fixtures for integration tests against in-process moto."""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

INGEST_BUCKET = "shelfwise-data"


@pytest.fixture
def ingest_s3(aws_credentials: None) -> Iterator[Any]:
    """An S3 client on a fresh moto with the ingest bucket, the catalog, activity and customer-id tables."""
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=INGEST_BUCKET)
        for table, key in (("catalog", "item_id"), ("activity", "user_id"), ("customer-ids", "pseudonym")):
            boto3.client("dynamodb").create_table(
                TableName=table,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        yield s3
