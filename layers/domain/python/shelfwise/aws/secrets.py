"""Secrets Manager: signing keys, read through Powertools' cached parameter provider."""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools.utilities import parameters

# A rotated key takes effect within this many seconds in a warm function.
SECRET_MAX_AGE_SECONDS = 300


def secret_reader(secret_id: str) -> Callable[[], str]:
    def read() -> str:
        value = parameters.get_secret(secret_id, max_age=SECRET_MAX_AGE_SECONDS)
        return value.decode("utf-8") if isinstance(value, bytes) else str(value)

    return read
