"""Development credentials of the local cloud: signing keys kept in the state dir, tokens signed with them.

In AWS, customer tokens come from the retailer's site (signed with the retailer's key) and operator tokens
from the Cognito user pool. Locally `shelfwise token customer C123` and `shelfwise token ops` play both
issuers: the keys live in `<state-dir>/keys/` (created on first use, readable by the owner only) and are put
into the local Secrets Manager at start-up, where the authorizer function reads them as it would in AWS.

The same directory keeps the key of customer pseudonyms (`pseudonym.key`, the CDK app's `PseudonymKey` secret
in AWS), put into the local Secrets Manager at start-up for the functions that pseudonymize customer ids.
Deleting it changes every pseudonym: the state dir's data no longer matches its customers (docs/privacy.md).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from shelfwise.auth import READ_SCOPE, SERVER_SCOPE, WRITE_SCOPE
from shelfwise_infra import spec

KEYS_DIR = "keys"
CUSTOMER_KEY_FILE = "customer-token.key"
OPERATOR_KEY_FILE = "operator-token.key"
PSEUDONYM_KEY_FILE = "pseudonym.key"
DEFAULT_TTL_SECONDS = 7 * 24 * 3600
ALL_OPERATOR_SCOPES = (READ_SCOPE, WRITE_SCOPE, SERVER_SCOPE)
LOCAL_OPERATOR = "local-operator"


@dataclass(frozen=True)
class DevKeys:
    customer: str
    operator: str
    pseudonym: str = field(repr=False)

    @classmethod
    def load_or_create(cls, state_dir: Path) -> DevKeys:
        directory = Path(state_dir) / KEYS_DIR
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        return cls(
            customer=_key(directory / CUSTOMER_KEY_FILE),
            operator=_key(directory / OPERATOR_KEY_FILE),
            pseudonym=_key(directory / PSEUDONYM_KEY_FILE),
        )

    def customer_token(self, subject: str, *, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> str:
        """What the retailer's site would issue for its signed-in shopper (or anonymous visitor) `subject`."""
        now = int(time.time())
        claims = {
            "sub": subject,
            "iss": spec.LOCAL_CUSTOMER_TOKEN_ISSUER,
            "aud": spec.LOCAL_CUSTOMER_TOKEN_AUDIENCE,
            "iat": now,
            "exp": now + ttl_seconds,
        }
        return jwt.encode(claims, self.customer, algorithm="HS256")

    def operator_token(
        self,
        scopes: tuple[str, ...] = ALL_OPERATOR_SCOPES,
        *,
        client_id: str = LOCAL_OPERATOR,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
    ) -> str:
        """An access token shaped like Cognito's (client credentials grant)."""
        now = int(time.time())
        claims = {
            "sub": client_id,
            "client_id": client_id,
            "token_use": "access",
            "scope": " ".join(scopes),
            "iss": spec.LOCAL_OPERATOR_TOKEN_ISSUER,
            "iat": now,
            "exp": now + ttl_seconds,
        }
        return jwt.encode(claims, self.operator, algorithm="HS256")


def _key(path: Path) -> str:
    if path.is_file():
        return path.read_text("utf-8").strip()
    key = secrets.token_urlsafe(48)
    temporary = path.with_suffix(".tmp")
    temporary.touch(mode=0o600)
    temporary.write_text(key + "\n", "utf-8")
    temporary.replace(path)
    return key


def put_signing_keys(secretsmanager: Any, keys: DevKeys) -> None:
    """Store the keys where the authorizer function reads them (the local Secrets Manager)."""
    for secret, value in (
        (spec.CUSTOMER_TOKEN_SECRET, keys.customer),
        (spec.LOCAL_OPERATOR_TOKEN_SECRET, keys.operator),
    ):
        try:
            secretsmanager.create_secret(Name=secret.local_name, SecretString=value)
        except secretsmanager.exceptions.ResourceExistsException:
            secretsmanager.put_secret_value(SecretId=secret.local_name, SecretString=value)


def put_pseudonym_key(secretsmanager: Any, keys: DevKeys) -> None:
    """Store the pseudonym key where the functions that pseudonymize read it (the local Secrets Manager)."""
    _put_secret(secretsmanager, spec.PSEUDONYM_KEY_SECRET, keys.pseudonym)


def _put_secret(secretsmanager: Any, secret: spec.Secret, value: str) -> None:
    try:
        secretsmanager.create_secret(Name=secret.local_name, SecretString=value)
    except secretsmanager.exceptions.ResourceExistsException:
        secretsmanager.put_secret_value(SecretId=secret.local_name, SecretString=value)


def issue_customer_token(state_dir: Path, subject: str, *, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> str:
    return DevKeys.load_or_create(state_dir).customer_token(subject, ttl_seconds=ttl_seconds)


def issue_operator_token(
    state_dir: Path, scopes: tuple[str, ...] = ALL_OPERATOR_SCOPES, *, ttl_seconds: int = DEFAULT_TTL_SECONDS
) -> str:
    return DevKeys.load_or_create(state_dir).operator_token(scopes, ttl_seconds=ttl_seconds)
