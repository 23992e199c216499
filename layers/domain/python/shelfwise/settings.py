"""Run-time configuration of a function, read from its environment.

The environment variable names are defined here once; the platform spec (`shelfwise_infra.spec`) sets them
on every function, both in the CDK app and in the local cloud.
"""

from __future__ import annotations

import functools
import os
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

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


def _required(value: str | None, name: str) -> str:
    if not value:
        raise RuntimeError(
            f"environment variable {name} is not set; the platform spec sets it on the functions that use it"
        )
    return value


# An unset and an empty variable both mean "not given".
ResourceName = Annotated[str | None, BeforeValidator(lambda value: value or None)]


class Settings(BaseModel):
    """The names of the resources a function uses, parsed once from its environment.

    A function needs only the variables of what it touches: a name is required when it is read, and reading
    one the environment lacks raises there, naming the variable. `from_env` parses an environment once and
    returns the same settings until the environment changes.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    data_bucket_name: ResourceName = Field(default=None, validation_alias=DATA_BUCKET_ENV)
    catalog_table_name: ResourceName = Field(default=None, validation_alias=CATALOG_TABLE_ENV)
    user_activity_table_name: ResourceName = Field(default=None, validation_alias=USER_ACTIVITY_TABLE_ENV)
    idempotency_table_name: ResourceName = Field(default=None, validation_alias=IDEMPOTENCY_TABLE_ENV)
    models_table_name: ResourceName = Field(default=None, validation_alias=MODELS_TABLE_ENV)
    segments_table_name: ResourceName = Field(default=None, validation_alias=SEGMENTS_TABLE_ENV)
    runs_table_name: ResourceName = Field(default=None, validation_alias=RUNS_TABLE_ENV)
    chat_sessions_table_name: ResourceName = Field(default=None, validation_alias=CHAT_SESSIONS_TABLE_ENV)
    forecasts_table_name: ResourceName = Field(default=None, validation_alias=FORECASTS_TABLE_ENV)
    plans_table_name: ResourceName = Field(default=None, validation_alias=PLANS_TABLE_ENV)
    event_bus_name: ResourceName = Field(default=None, validation_alias=EVENT_BUS_ENV)
    stage: str = Field(default="local", validation_alias=STAGE_ENV)

    @property
    def data_bucket(self) -> str:
        return _required(self.data_bucket_name, DATA_BUCKET_ENV)

    @property
    def catalog_table(self) -> str:
        return _required(self.catalog_table_name, CATALOG_TABLE_ENV)

    @property
    def user_activity_table(self) -> str:
        return _required(self.user_activity_table_name, USER_ACTIVITY_TABLE_ENV)

    @property
    def idempotency_table(self) -> str:
        return _required(self.idempotency_table_name, IDEMPOTENCY_TABLE_ENV)

    @property
    def models_table(self) -> str:
        return _required(self.models_table_name, MODELS_TABLE_ENV)

    @property
    def segments_table(self) -> str:
        return _required(self.segments_table_name, SEGMENTS_TABLE_ENV)

    @property
    def runs_table(self) -> str:
        return _required(self.runs_table_name, RUNS_TABLE_ENV)

    @property
    def chat_sessions_table(self) -> str:
        return _required(self.chat_sessions_table_name, CHAT_SESSIONS_TABLE_ENV)

    @property
    def forecasts_table(self) -> str:
        return _required(self.forecasts_table_name, FORECASTS_TABLE_ENV)

    @property
    def plans_table(self) -> str:
        return _required(self.plans_table_name, PLANS_TABLE_ENV)

    @property
    def event_bus(self) -> str:
        return _required(self.event_bus_name, EVENT_BUS_ENV)

    @classmethod
    def from_env(cls) -> Settings:
        # Handlers ask on every invocation; the environment of a Lambda sandbox never changes, so it is parsed
        # once (tests and the local cloud, which switch environments, get one parse per environment).
        return _parsed(tuple((name, os.environ.get(name)) for name in _VARIABLES))


# The variable each field is read from.
_VARIABLES = tuple(str(field.validation_alias) for field in Settings.model_fields.values())


@functools.cache
def _parsed(environment: tuple[tuple[str, str | None], ...]) -> Settings:
    return Settings.model_validate({name: value for name, value in environment if value is not None})


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
