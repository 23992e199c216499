"""The whole platform in an in-process moto, for integration tests that call handlers directly."""

from collections.abc import Iterator
from contextlib import contextmanager

import boto3
import pytest
from moto import mock_aws
from shelfwise.privacy.pseudonyms import Pseudonymizer
from shelfwise_infra import spec
from shelfwise_local.functions import FAKE_CREDENTIALS, function_environment
from shelfwise_local.resources import create_buckets, create_event_bus, create_tables

# The pseudonym key the platform's functions read in these tests (the local cloud generates its own).
TEST_PSEUDONYM_KEY = "test-pseudonym-key-" + "k" * 45


def pseudonymizer() -> Pseudonymizer:
    """What the functions compute with `TEST_PSEUDONYM_KEY`, for tests that look for a customer's data."""
    return Pseudonymizer.from_secret_text(TEST_PSEUDONYM_KEY)


@contextmanager
def local_platform(monkeypatch: pytest.MonkeyPatch, *functions: str, **extra_env: str) -> Iterator[None]:
    """Every bucket, table and the event bus of the platform spec, and the pseudonym key, in moto.

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
        boto3.client("secretsmanager").create_secret(
            Name=spec.PSEUDONYM_KEY_SECRET.local_name, SecretString=TEST_PSEUDONYM_KEY
        )
        yield
