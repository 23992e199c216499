"""Verifying bearer tokens: customer tokens from the retailer's site, operator tokens from the user pool.

A customer token is a JWT the retailer's own site issues for its signed-in shopper (or an anonymous visitor
id): `sub` is the customer id, `exp` is required, `iss`/`aud` are checked when configured. It is signed with
the retailer's key — a shared secret (HS256, kept in Secrets Manager) or a key published at a JWKS URL
(RS256/ES256), so the retailer can rotate keys without touching shelfwise.

An operator token is an OAuth access token from the platform's Cognito user pool (`token_use: access`,
`scope`, `client_id`), verified against the pool's JWKS. The local cloud signs both kinds with development
keys (HS256), so the same verifier runs everywhere with a different key source.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from shelfwise.auth.principal import Principal

# Clock skew tolerated between the token's issuer and us.
LEEWAY_SECONDS = 30
SUBJECT_PATTERN = re.compile(r"^[^\x00-\x1f\x7f\s](?:[^\x00-\x1f\x7f]{0,126}[^\x00-\x1f\x7f\s])?$")
SHARED_SECRET_ALGORITHMS = ("HS256",)
JWKS_ALGORITHMS = ("RS256", "ES256")


class InvalidToken(Exception):
    """The token is missing, malformed, expired, wrongly signed or lacks a claim. The message says which,
    without echoing the token."""


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise InvalidToken("missing Authorization header; send `Authorization: Bearer <token>`")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("Authorization header must be `Bearer <token>`")
    return token.strip()


@dataclass(frozen=True)
class SharedSecret:
    """An HS256 key, read lazily (and re-read by the reader's own cache) so a rotated secret takes effect."""

    read: Callable[[], str | bytes]

    def key_for(self, _token: str) -> str | bytes:
        key = self.read()
        if not key:
            raise InvalidToken("no signing key is configured")
        return key

    algorithms = SHARED_SECRET_ALGORITHMS


class JwksKeys:
    """Public keys from a JWKS URL, selected by the token's `kid` and cached between invocations."""

    algorithms = JWKS_ALGORITHMS

    def __init__(self, url: str) -> None:
        self.client = jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=5)

    def key_for(self, token: str) -> Any:
        try:
            return self.client.get_signing_key_from_jwt(token).key
        except jwt.exceptions.PyJWKClientError as error:
            raise InvalidToken("token signed with an unknown key") from error


KeySource = SharedSecret | JwksKeys


@dataclass(frozen=True)
class TokenVerifier:
    keys: KeySource
    issuer: str | None = None
    audience: str | None = None

    def claims(self, token: str, *, required: tuple[str, ...] = ("exp", "sub")) -> dict[str, Any]:
        try:
            key = self.keys.key_for(token)
            return jwt.decode(
                token,
                key,
                algorithms=list(self.keys.algorithms),
                issuer=self.issuer,
                audience=self.audience,
                leeway=LEEWAY_SECONDS,
                options={"require": list(required), "verify_aud": self.audience is not None},
            )
        except jwt.ExpiredSignatureError as error:
            raise InvalidToken("token has expired") from error
        except jwt.InvalidTokenError as error:
            raise InvalidToken(f"token is not valid: {error}") from error


def customer_principal(claims: Mapping[str, Any]) -> Principal:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not SUBJECT_PATTERN.fullmatch(subject):
        raise InvalidToken("token subject must be a customer id of 1-128 characters")
    return Principal(kind="customer", subject=subject)


def operator_principal(claims: Mapping[str, Any]) -> Principal:
    if claims.get("token_use") != "access":
        raise InvalidToken("operator credentials must be access tokens (token_use=access)")
    subject = claims.get("client_id") or claims.get("sub")
    scopes = claims.get("scope")
    if not isinstance(subject, str) or not subject or not isinstance(scopes, str):
        raise InvalidToken("operator token needs client_id (or sub) and scope")
    return Principal(kind="operator", subject=subject, scopes=frozenset(scopes.split()))


@dataclass(frozen=True)
class Authenticator:
    """Accepts a customer token or, when configured, an operator token (the retailer's servers)."""

    customers: TokenVerifier
    operators: TokenVerifier | None = None

    def principal(self, authorization: str | None) -> Principal:
        token = bearer_token(authorization)
        # Operator tokens say what they are; trying the customer key first would only hide why they failed.
        # Which key verifies is chosen from the unverified claims; the signature check that follows decides.
        if self.operators is not None and _unverified_claims(token).get("token_use") == "access":
            return operator_principal(self.operators.claims(token, required=("exp",)))
        return customer_principal(self.customers.claims(token))


def _unverified_claims(token: str) -> dict[str, Any]:
    try:
        return jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as error:
        raise InvalidToken("token is not a JWT") from error
