"""The authenticator a function builds from its environment (names in `shelfwise.settings`)."""

from __future__ import annotations

import os

from shelfwise import settings
from shelfwise.auth.tokens import Authenticator, JwksKeys, KeySource, SharedSecret, TokenVerifier
from shelfwise.aws.secrets import secret_reader


def _key_source(secret_env: str, jwks_env: str) -> KeySource | None:
    jwks_url = os.environ.get(jwks_env)
    if jwks_url:
        return JwksKeys(jwks_url)
    secret_id = os.environ.get(secret_env)
    if secret_id:
        return SharedSecret(secret_reader(secret_id))
    return None


def authenticator_from_env() -> Authenticator:
    customer_keys = _key_source(settings.CUSTOMER_TOKEN_SECRET_ARN_ENV, settings.CUSTOMER_TOKEN_JWKS_URL_ENV)
    if customer_keys is None:
        raise RuntimeError(
            f"set {settings.CUSTOMER_TOKEN_SECRET_ARN_ENV} or {settings.CUSTOMER_TOKEN_JWKS_URL_ENV}: "
            "customer tokens cannot be verified without the retailer's key"
        )
    customers = TokenVerifier(
        customer_keys,
        issuer=os.environ.get(settings.CUSTOMER_TOKEN_ISSUER_ENV) or None,
        audience=os.environ.get(settings.CUSTOMER_TOKEN_AUDIENCE_ENV) or None,
    )
    operator_keys = _key_source(settings.OPERATOR_TOKEN_SECRET_ARN_ENV, settings.OPERATOR_TOKEN_JWKS_URL_ENV)
    operators = (
        TokenVerifier(operator_keys, issuer=os.environ.get(settings.OPERATOR_TOKEN_ISSUER_ENV) or None)
        if operator_keys is not None
        else None
    )
    return Authenticator(customers=customers, operators=operators)
