"""Keyed pseudonyms for customer ids (HMAC-SHA256), applied where ids enter the platform.

Ingestion and the API replace a retailer's customer id by `pseudonym(customer_id)` before anything is
stored, logged or published; curated data, models, segments and chat sessions hold only pseudonyms. The key
lives in Secrets Manager (created by the CDK app; a generated key in the local cloud's state dir), so a
pseudonym cannot be recomputed from a guessed id without it — unlike a plain hash.

An erased customer is remembered only by `erasure_marker(pseudonym)`: a one-way digest of the pseudonym that
training jobs and ingestion compare against, which contains neither the id nor the pseudonym.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache

PSEUDONYM_PREFIX = "ps_"
# 128 bits of the HMAC: collisions stay negligible far beyond any retailer's customer count.
PSEUDONYM_HEX_CHARS = 32
PSEUDONYM_PATTERN = rf"^{PSEUDONYM_PREFIX}[0-9a-f]{{{PSEUDONYM_HEX_CHARS}}}$"
_PSEUDONYM = re.compile(PSEUDONYM_PATTERN)
MIN_KEY_BYTES = 32
_ERASURE_DOMAIN = b"shelfwise-erased:"


class PseudonymKeyError(ValueError):
    """The configured key is missing or too short to resist guessing."""


@dataclass(frozen=True, repr=False)
class Pseudonymizer:
    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) < MIN_KEY_BYTES:
            raise PseudonymKeyError(f"the pseudonym key must be at least {MIN_KEY_BYTES} bytes")

    def pseudonym(self, customer_id: str) -> str:
        digest = hmac.new(self.key, customer_id.encode("utf-8"), hashlib.sha256).hexdigest()
        return PSEUDONYM_PREFIX + digest[:PSEUDONYM_HEX_CHARS]

    def pseudonyms(self, customer_ids: Iterable[str]) -> dict[str, str]:
        """`{customer_id: pseudonym}` for each distinct id."""
        return {customer_id: self.pseudonym(customer_id) for customer_id in dict.fromkeys(customer_ids)}

    @classmethod
    def from_secret_text(cls, text: str) -> Pseudonymizer:
        """The key as stored in Secrets Manager: any string of at least 32 bytes (the CDK app generates 64
        characters; the local cloud 48 random bytes, URL-safe base64)."""
        return cls(text.strip().encode("utf-8"))


def is_pseudonym(value: str) -> bool:
    return bool(_PSEUDONYM.fullmatch(value))


def erasure_marker(pseudonym: str) -> str:
    """What the deny list keeps of an erased customer: matches the pseudonym, reveals nothing of it."""
    return hashlib.sha256(_ERASURE_DOMAIN + pseudonym.encode("utf-8")).hexdigest()


def cached_pseudonymizer(read_key: Callable[[], str]) -> Callable[[], Pseudonymizer]:
    """A getter that rebuilds the pseudonymizer only when the secret's text changes (read_key caches)."""
    current: dict[str, Pseudonymizer] = {}

    def get() -> Pseudonymizer:
        text = read_key()
        if text not in current:
            current.clear()
            current[text] = Pseudonymizer.from_secret_text(text)
        return current[text]

    return get


def pseudonymizer_from_env() -> Callable[[], Pseudonymizer]:
    """The pseudonymizer of a function the platform spec gives the key (`spec.PSEUDONYM_KEY_SECRET`): the
    secret's ARN (locally its name) is in `SHELFWISE_PSEUDONYM_KEY_SECRET_ARN`. A function without it cannot
    pseudonymize, so it fails rather than let a raw id through."""
    from shelfwise.settings import PSEUDONYM_KEY_SECRET_ARN_ENV

    secret_id = os.environ.get(PSEUDONYM_KEY_SECRET_ARN_ENV)
    if not secret_id:
        raise PseudonymKeyError(
            f"environment variable {PSEUDONYM_KEY_SECRET_ARN_ENV} is not set: this function is not given the "
            "pseudonym key (spec.Function.secrets)"
        )
    return _secret_pseudonymizer(secret_id)


@cache
def _secret_pseudonymizer(secret_id: str) -> Callable[[], Pseudonymizer]:
    from shelfwise.aws.secrets import secret_reader  # Powertools: only functions that read the key need it

    return cached_pseudonymizer(secret_reader(secret_id))
