"""Deployment settings that only the CDK app needs (the local cloud never reads them).

Everything comes from CDK context, so a stage is chosen at the command line without code edits:

    npx cdk synth -c stage=staging -c account=123456789012 -c region=eu-west-1 -c alarm_email=ops@example.com

Without `account`/`region` the stack is environment-agnostic, so `cdk synth` works with no AWS credentials.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from aws_cdk import aws_logs as logs
from shelfwise.forecast.plan_settings import InvalidPlanSettings, PlanSettings, plan_settings_from_mapping
from shelfwise.recommend.diversify import RerankConfig

from shelfwise_infra.retention import Retention

# Powertools for AWS Lambda (Python) v3, published by AWS as a public layer per region, architecture and
# Python version. The functions are tested against the Powertools pinned in pyproject.toml, so the deployed
# layer is chosen by that version, not by a layer number: AWS publishes, for every release, a public SSM
# parameter holding that release's layer ARN (CloudFormation resolves it at deploy time), e.g.
#   aws ssm get-parameter --name /aws/service/powertools/python/arm64/python3.12/3.37.0
# Upgrading Powertools is one edit in pyproject.toml (and the forecast image's requirements.txt, which a test
# keeps equal).
POWERTOOLS_PACKAGE = "aws-lambda-powertools"
POWERTOOLS_LAYER_PARAMETER_PREFIX = "/aws/service/powertools/python/arm64/python3.12"
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def pinned_version(package: str, pyproject: Path = PYPROJECT) -> str:
    """The exact version `package` is pinned to among pyproject.toml's run-time dependencies."""
    for requirement in tomllib.loads(pyproject.read_text())["project"]["dependencies"]:
        name, separator, version = requirement.partition("==")
        if name.split("[")[0].strip().lower() == package and separator:
            return version.split(";")[0].strip()
    raise ValueError(f"{pyproject} pins no exact version of {package} in [project] dependencies")


def powertools_layer_parameter(version: str) -> str:
    """Name of AWS's public SSM parameter holding the ARN of the layer that ships Powertools `version`."""
    return f"{POWERTOOLS_LAYER_PARAMETER_PREFIX}/{version}"


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
    alarm_email: str | None = None
    # Browser origins (scheme://host[:port]) allowed to call the API; empty: no cross-origin access at all.
    cors_allowed_origins: tuple[str, ...] = ()
    # Customer tokens: the retailer's JWKS URL (RS256/ES256), or else a generated HS256 key in Secrets Manager
    # that the retailer's site signs with; issuer and audience are checked when set.
    customer_token_jwks_url: str | None = None
    customer_token_issuer: str | None = None
    customer_token_audience: str | None = None
    # How long API Gateway reuses the authorizer's answer for the same Authorization header (0: never).
    authorizer_cache_seconds: int = 60
    # Reserved concurrency (a guaranteed share and a ceiling) for each function behind a shopper route and the
    # authorizer in front of them, and for each function fed by upstream drops (ingest); 0: none reserved.
    shopper_reserved_concurrency: int = 20
    ingest_reserved_concurrency: int = 5
    # WAF rate-based rule: requests one client IP may send in any 5 minutes before it is blocked.
    waf_requests_per_ip_per_5_minutes: int = 2000
    # Where operators' browsers return after signing in to the user pool (authorization code with PKCE).
    operator_callback_urls: tuple[str, ...] = ("http://localhost:8400/callback",)
    # Prefix of the user pool's sign-in domain (<prefix>.auth.<region>.amazoncognito.com); unset:
    # shelfwise-<stage>-<account id>, unique per account and stage.
    cognito_domain_prefix: str | None = None
    # Hyperparameters per training job (job name -> {name: value}), passed to SageMaker as the job's
    # HyperParameters; each job validates its own (shelfwise_recommender/hyperparameters.py).
    training_hyperparameters: dict[str, dict[str, str]] = field(default_factory=dict)
    # How long customer data is kept: S3 lifecycle rules and DynamoDB TTLs (`-c retention.incoming_days=14`).
    retention: Retention = field(default_factory=Retention)
    # Replenishment settings of the forecast function (`shelfwise.forecast.plan_settings`): an object in
    # cdk.json or `-c 'forecast_settings={"currency": "USD", "max_days_of_supply": 60}'`; validated at synth.
    forecast_settings: PlanSettings = field(default_factory=PlanSettings)
    # Optional re-ranking of recommendations for category variety (`shelfwise.recommend.diversify`):
    # `off`, `calibrated:<weight>` or `mmr:<weight>`; validated at synth.
    recommend_rerank: RerankConfig = field(default_factory=RerankConfig)

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

        def texts(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
            # cdk.json can hold a JSON list; `-c key=...` gives a string: a JSON list or comma separated.
            value = node.try_get_context(key)
            if value is None:
                return default
            if isinstance(value, str):
                stripped = value.strip()
                value = json.loads(stripped) if stripped.startswith("[") else stripped.split(",")
            if not isinstance(value, list | tuple):
                raise ValueError(f"CDK context {key!r} must be a list of strings, got {value!r}")
            return tuple(str(item).strip() for item in value if str(item).strip())

        if node.try_get_context("powertools_layer_version") not in (None, ""):
            raise ValueError(
                "CDK context 'powertools_layer_version' is no longer read: the Powertools layer follows the "
                f"{POWERTOOLS_PACKAGE} version pinned in pyproject.toml"
            )
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
            alarm_email=text("alarm_email", None),
            cors_allowed_origins=texts("cors_allowed_origins", defaults.cors_allowed_origins),
            customer_token_jwks_url=text("customer_token_jwks_url", None),
            customer_token_issuer=text("customer_token_issuer", None),
            customer_token_audience=text("customer_token_audience", None),
            authorizer_cache_seconds=int(
                number("authorizer_cache_seconds", defaults.authorizer_cache_seconds)
            ),
            shopper_reserved_concurrency=int(
                number("shopper_reserved_concurrency", defaults.shopper_reserved_concurrency)
            ),
            ingest_reserved_concurrency=int(
                number("ingest_reserved_concurrency", defaults.ingest_reserved_concurrency)
            ),
            waf_requests_per_ip_per_5_minutes=int(
                number("waf_requests_per_ip_per_5_minutes", defaults.waf_requests_per_ip_per_5_minutes)
            ),
            operator_callback_urls=texts("operator_callback_urls", defaults.operator_callback_urls),
            cognito_domain_prefix=text("cognito_domain_prefix", None),
            training_hyperparameters=_training_hyperparameters(
                node.try_get_context("training_hyperparameters")
            ),
            retention=Retention.from_context(node),
            forecast_settings=_forecast_settings(node.try_get_context("forecast_settings")),
            recommend_rerank=_recommend_rerank(text("recommend_rerank", None)),
        )


def _recommend_rerank(value: str | None) -> RerankConfig:
    try:
        return RerankConfig.parse(value)
    except ValueError as error:
        raise ValueError(f"CDK context 'recommend_rerank': {error}") from None


def _forecast_settings(value: Any) -> PlanSettings:
    if value in (None, ""):
        return PlanSettings()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ValueError(f"CDK context 'forecast_settings' is not a JSON object: {error}") from None
    try:
        return plan_settings_from_mapping(value, source="CDK context 'forecast_settings'")
    except InvalidPlanSettings as error:
        raise ValueError(str(error)) from None


def _training_hyperparameters(value: Any) -> dict[str, dict[str, str]]:
    """`{"recommender": {"half_life_days": 0}}` as a JSON object in cdk.json or a JSON string with `-c`."""
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, dict) or not all(isinstance(settings, dict) for settings in value.values()):
        raise ValueError(
            "CDK context 'training_hyperparameters' must map a training job's name to an object of "
            f"hyperparameters, got {value!r}"
        )
    # SageMaker takes hyperparameters as strings.
    return {str(job): {str(k): str(v) for k, v in settings.items()} for job, settings in value.items()}


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
    for origin in config.cors_allowed_origins:
        # An exact origin, as browsers send it: no wildcard, path or trailing slash; https unless localhost.
        parsed = urlparse(origin)
        local = parsed.hostname in {"localhost", "127.0.0.1"}
        if (
            parsed.scheme not in ({"https", "http"} if local else {"https"})
            or not parsed.hostname
            or "*" in origin
            or origin != f"{parsed.scheme}://{parsed.netloc}"
        ):
            raise ValueError(
                f"cors_allowed_origins: {origin!r} is not an origin like https://shop.example.com "
                "(https, no path, no wildcard; http only for localhost)"
            )
    if config.customer_token_jwks_url and urlparse(config.customer_token_jwks_url).scheme != "https":
        raise ValueError("customer_token_jwks_url must be an https:// URL")
    # API Gateway caches authorizer results for at most an hour.
    if not 0 <= config.authorizer_cache_seconds <= 3600:
        raise ValueError("authorizer_cache_seconds must be between 0 and 3600")
    if min(config.shopper_reserved_concurrency, config.ingest_reserved_concurrency) < 0:
        raise ValueError("shopper_reserved_concurrency and ingest_reserved_concurrency must be 0 or more")
    if config.ingest_reserved_concurrency == 1:
        # The queue's event source is capped at the same number, and SQS event sources need at least 2.
        raise ValueError("ingest_reserved_concurrency must be 0 or at least 2")
    if config.waf_requests_per_ip_per_5_minutes < 100:
        raise ValueError("waf_requests_per_ip_per_5_minutes must be at least 100")
    for url in config.operator_callback_urls:
        parsed = urlparse(url)
        if parsed.scheme != "https" and parsed.hostname not in {"localhost", "127.0.0.1"}:
            raise ValueError(f"operator_callback_urls: {url!r} must be https (http only for localhost)")
    if not config.operator_callback_urls:
        raise ValueError("operator_callback_urls needs at least one URL for operators to sign in")
    return config
