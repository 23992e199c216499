"""The whole platform in an in-process moto, for integration tests that call handlers directly."""

from collections.abc import Iterator
from contextlib import contextmanager

import boto3
import pytest
from moto import mock_aws
from shelfwise_infra import spec
from shelfwise_local.functions import FAKE_CREDENTIALS, function_environment
from shelfwise_local.resources import create_buckets, create_event_bus, create_tables


@contextmanager
def local_platform(monkeypatch: pytest.MonkeyPatch, *functions: str, **extra_env: str) -> Iterator[None]:
    """Every bucket, table and the event bus of the platform spec, in moto.

    The environment is what the named functions get in the local cloud (resource names, Powertools settings),
    plus fake credentials and `extra_env`; boto3 talks to moto, not to an endpoint left over in the shell.
    """
    environment = dict(FAKE_CREDENTIALS)
    for name in functions:
        environment.update(function_environment(spec.function(name)))
    environment.update(extra_env)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        create_buckets(boto3.client("s3"))
        create_tables(boto3.client("dynamodb"))
        create_event_bus(boto3.client("events"))
        yield
