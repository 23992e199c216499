"""Deployment settings that only the CDK app needs (the local cloud never reads them).

Everything comes from CDK context, so a stage is chosen at the command line without code edits:

    npx cdk synth -c stage=staging -c account=123456789012 -c region=eu-west-1 -c alarm_email=ops@example.com

Without `account`/`region` the stack is environment-agnostic, so `cdk synth` works with no AWS credentials.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from aws_cdk import aws_logs as logs

# Powertools for AWS Lambda (Python) v3, published by AWS as a public layer per region, architecture and
# Python version. Version 38 of the python3.12/arm64 flavour ships Powertools 3.x with the tracer and parser
# extras (aws-xray-sdk, pydantic v2). Look up the newest with:
#   aws ssm get-parameter --name /aws/service/powertools/python/arm64/python3.12/latest
# and override per deployment with `-c powertools_layer_version=N`.
POWERTOOLS_LAYER_ACCOUNT = "017000801446"
POWERTOOLS_LAYER_NAME = "AWSLambdaPowertoolsPythonV3-python312-arm64"
DEFAULT_POWERTOOLS_LAYER_VERSION = 38


class ContextSource(Protocol):
    def try_get_context(self, key: str) -> Any: ...


@dataclass(frozen=True)
class StageConfig:
    stage: str = "prod"
    account: str | None = None
    region: str | None = None
    # Steady-state requests per second and burst across the whole stage; each API key's usage plan gets
    # the same ceiling plus a daily quota, so one client cannot starve the others of the stage budget.
    api_rate_limit: float = 50.0
    api_burst_limit: int = 100
    api_daily_quota: int = 100_000
    log_retention_days: int = 30
    # How long replayable copies of bus events are kept in the archive.
    event_archive_days: int = 30
    powertools_layer_version: int = DEFAULT_POWERTOOLS_LAYER_VERSION
    alarm_email: str | None = None

    @property
    def stack_name(self) -> str:
        return f"shelfwise-{self.stage}"

    @classmethod
    def from_context(cls, node: ContextSource) -> StageConfig:
        defaults = cls()

        def text(key: str, default: str | None) -> str | None:
            value = node.try_get_context(key)
            return default if value in (None, "") else str(value)

        def number(key: str, default: float) -> float:
            value = node.try_get_context(key)
            if value in (None, ""):
                return default
            try:
                return float(value)
            except (TypeError, ValueError):
                raise ValueError(f"CDK context {key!r} must be a number, got {value!r}") from None

        stage = text("stage", defaults.stage) or defaults.stage
        if not stage.replace("-", "").isalnum():
            raise ValueError(f"CDK context 'stage' must be letters, digits and dashes, got {stage!r}")
        return cls(
            stage=stage,
            account=text("account", None),
            region=text("region", None),
            api_rate_limit=number("api_rate_limit", defaults.api_rate_limit),
            api_burst_limit=int(number("api_burst_limit", defaults.api_burst_limit)),
            api_daily_quota=int(number("api_daily_quota", defaults.api_daily_quota)),
            log_retention_days=int(number("log_retention_days", defaults.log_retention_days)),
            event_archive_days=int(number("event_archive_days", defaults.event_archive_days)),
            powertools_layer_version=int(
                number("powertools_layer_version", defaults.powertools_layer_version)
            ),
            alarm_email=text("alarm_email", None),
        )


# CloudWatch Logs accepts only these retention periods (days -> aws_logs.RetentionDays member).
LOG_RETENTION_NAMES = {
    1: "ONE_DAY",
    3: "THREE_DAYS",
    5: "FIVE_DAYS",
    7: "ONE_WEEK",
    14: "TWO_WEEKS",
    30: "ONE_MONTH",
    60: "TWO_MONTHS",
    90: "THREE_MONTHS",
    120: "FOUR_MONTHS",
    150: "FIVE_MONTHS",
    180: "SIX_MONTHS",
    365: "ONE_YEAR",
    400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS",
    731: "TWO_YEARS",
    1827: "FIVE_YEARS",
    3653: "TEN_YEARS",
}


def log_retention(days: int) -> logs.RetentionDays:
    return logs.RetentionDays[LOG_RETENTION_NAMES[days]]


def validate(config: StageConfig) -> StageConfig:
    if config.log_retention_days not in LOG_RETENTION_NAMES:
        raise ValueError(
            f"log_retention_days must be one of {sorted(LOG_RETENTION_NAMES)}, "
            f"got {config.log_retention_days}"
        )
    if (
        min(config.api_rate_limit, config.api_burst_limit, config.api_daily_quota, config.event_archive_days)
        <= 0
    ):
        raise ValueError(
            "api_rate_limit, api_burst_limit, api_daily_quota and event_archive_days must be positive"
        )
    return config
