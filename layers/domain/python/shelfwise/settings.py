"""Run-time configuration of a function, read from its environment.

The environment variable names are defined here once; the platform spec (`shelfwise_infra.spec`) sets them
on every function, both in the CDK app and in the local cloud.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

DATA_BUCKET_ENV = "SHELFWISE_DATA_BUCKET"
CATALOG_TABLE_ENV = "SHELFWISE_CATALOG_TABLE"
USER_ACTIVITY_TABLE_ENV = "SHELFWISE_USER_ACTIVITY_TABLE"
IDEMPOTENCY_TABLE_ENV = "SHELFWISE_IDEMPOTENCY_TABLE"
MODELS_TABLE_ENV = "SHELFWISE_MODELS_TABLE"
SEGMENTS_TABLE_ENV = "SHELFWISE_SEGMENTS_TABLE"
RUNS_TABLE_ENV = "SHELFWISE_RUNS_TABLE"
# Erasure requests and their audit records (shelfwise.privacy.erasure).
ERASURES_TABLE_ENV = "SHELFWISE_ERASURES_TABLE"
CHAT_SESSIONS_TABLE_ENV = "SHELFWISE_CHAT_SESSIONS_TABLE"
FORECASTS_TABLE_ENV = "SHELFWISE_FORECASTS_TABLE"
PLANS_TABLE_ENV = "SHELFWISE_PLANS_TABLE"
INGEST_FILES_TABLE_ENV = "SHELFWISE_INGEST_FILES_TABLE"
# The one table that maps a customer's pseudonym back to the retailer's id (shelfwise.privacy.identities).
CUSTOMER_IDS_TABLE_ENV = "SHELFWISE_CUSTOMER_IDS_TABLE"
EVENT_BUS_ENV = "SHELFWISE_EVENT_BUS"
STAGE_ENV = "SHELFWISE_STAGE"


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(
            f"environment variable {name} is not set; the platform spec sets it on every function"
        )
    return value


@dataclass(frozen=True)
class Settings:
    data_bucket: str
    catalog_table: str
    user_activity_table: str
    idempotency_table: str
    models_table: str
    segments_table: str
    runs_table: str
    chat_sessions_table: str
    forecasts_table: str
    plans_table: str
    event_bus: str
    stage: str

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            data_bucket=_required(DATA_BUCKET_ENV),
            catalog_table=_required(CATALOG_TABLE_ENV),
            user_activity_table=_required(USER_ACTIVITY_TABLE_ENV),
            idempotency_table=_required(IDEMPOTENCY_TABLE_ENV),
            models_table=_required(MODELS_TABLE_ENV),
            segments_table=_required(SEGMENTS_TABLE_ENV),
            runs_table=_required(RUNS_TABLE_ENV),
            chat_sessions_table=_required(CHAT_SESSIONS_TABLE_ENV),
            forecasts_table=_required(FORECASTS_TABLE_ENV),
            plans_table=_required(PLANS_TABLE_ENV),
            event_bus=_required(EVENT_BUS_ENV),
            stage=os.environ.get(STAGE_ENV, "local"),
        )


# Credentials (docs/security.md). Customer tokens are verified against the retailer's key: a shared secret in
# Secrets Manager (HS256) or the retailer's JWKS URL (RS256/ES256). Operator tokens come from the Cognito user
# pool in AWS (JWKS); the local cloud signs both kinds with development keys kept in its state dir.
CUSTOMER_TOKEN_SECRET_ARN_ENV = "SHELFWISE_CUSTOMER_TOKEN_SECRET_ARN"
CUSTOMER_TOKEN_JWKS_URL_ENV = "SHELFWISE_CUSTOMER_TOKEN_JWKS_URL"
CUSTOMER_TOKEN_ISSUER_ENV = "SHELFWISE_CUSTOMER_TOKEN_ISSUER"
CUSTOMER_TOKEN_AUDIENCE_ENV = "SHELFWISE_CUSTOMER_TOKEN_AUDIENCE"
OPERATOR_TOKEN_SECRET_ARN_ENV = "SHELFWISE_OPERATOR_TOKEN_SECRET_ARN"
OPERATOR_TOKEN_JWKS_URL_ENV = "SHELFWISE_OPERATOR_TOKEN_JWKS_URL"
OPERATOR_TOKEN_ISSUER_ENV = "SHELFWISE_OPERATOR_TOKEN_ISSUER"
# Browser origins allowed to call the API (comma separated); empty: no cross-origin access.
CORS_ALLOWED_ORIGINS_ENV = "SHELFWISE_CORS_ALLOWED_ORIGINS"
# The key of customer pseudonyms (HMAC-SHA256, shelfwise.privacy.pseudonyms): a Secrets Manager secret, set
# only on the functions that turn customer ids into pseudonyms.
PSEUDONYM_KEY_SECRET_ARN_ENV = "SHELFWISE_PSEUDONYM_KEY_SECRET_ARN"

# Retention of the DynamoDB items a function writes with a TTL. The platform spec sets these from the
# deployment's retention setting (infra/shelfwise_infra/retention.py, docs/privacy.md); the defaults below are
# that setting's defaults, used when the library runs outside a deployed function.
ACTIVITY_RETENTION_DAYS_ENV = "SHELFWISE_ACTIVITY_RETENTION_DAYS"
CHAT_SESSION_RETENTION_HOURS_ENV = "SHELFWISE_CHAT_SESSION_RETENTION_HOURS"
# The ingested-files log points at rejection reports, so its items live as long as the reports.
REJECTED_RETENTION_DAYS_ENV = "SHELFWISE_REJECTED_RETENTION_DAYS"
DEFAULT_ACTIVITY_RETENTION_DAYS = 90
DEFAULT_CHAT_SESSION_RETENTION_HOURS = 24
DEFAULT_REJECTED_RETENTION_DAYS = 90


def _positive_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise RuntimeError(f"environment variable {name} must be a whole number, got {value!r}") from None
    if number <= 0:
        raise RuntimeError(f"environment variable {name} must be positive, got {number}")
    return number


def activity_retention_days() -> int:
    """Days a customer's recent activity is kept after their newest event."""
    return _positive_int(ACTIVITY_RETENTION_DAYS_ENV, DEFAULT_ACTIVITY_RETENTION_DAYS)


def rejected_retention_days() -> int:
    """Days a rejection report, and the ingested-files log item pointing at it, are kept."""
    return _positive_int(REJECTED_RETENTION_DAYS_ENV, DEFAULT_REJECTED_RETENTION_DAYS)


def chat_session_retention_hours() -> int:
    """Hours a chat session is kept after its last message."""
    return _positive_int(CHAT_SESSION_RETENTION_HOURS_ENV, DEFAULT_CHAT_SESSION_RETENTION_HOURS)
