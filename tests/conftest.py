"""Fixtures shared by every test folder: a fresh moto with the platform's buckets and tables."""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from shelfwise_local.resources import create_buckets, create_tables


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region, and no endpoint left over in the shell, so boto3 talks to moto."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture
def spec_cloud(aws_credentials: None) -> Iterator[tuple[Any, Any]]:
    """A new, empty moto with the spec's buckets and tables, as after a restart: (S3, DynamoDB) clients."""
    with mock_aws():
        s3, dynamodb = boto3.client("s3"), boto3.client("dynamodb")
        create_buckets(s3)
        create_tables(dynamodb)
        yield s3, dynamodb
