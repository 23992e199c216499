"""One Lambda function per spec entry, with its log group, role, grants, layers and queue triggers.

Grants come from the spec only: tables by id, data-bucket keys by prefix (`Function.bucket_reads`/
`bucket_writes`), the event bus, the platform's own secrets a function lists (`Function.secrets`), and for
the authorizer its one secret. Reserved concurrency is given to the
functions shoppers reach (and the authorizer in front of them) and to the functions fed by upstream drops.
"""

from __future__ import annotations

import os
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3_notifications
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct
from shelfwise import settings

from shelfwise_infra import spec
from shelfwise_infra.config import StageConfig, log_retention
from shelfwise_infra.identity import Identity
from shelfwise_infra.keys import Keys
from shelfwise_infra.layers import ARCHITECTURE, RUNTIME, Layers
from shelfwise_infra.messaging import Messaging
from shelfwise_infra.storage import Storage

HANDLER = "app.handler"
CODE_EXCLUDES = ["**/__pycache__", "**/*.pyc", "tests"]
# Container images (the forecast function, the training jobs) build from the repository root, because their
# Dockerfiles copy the domain library next to their own code. What no image needs stays out of the context,
# which keeps both the asset hash and the upload to the Docker daemon small.
IMAGE_CONTEXT_EXCLUDES = [
    ".git",
    ".venv",
    "**/.venv",
    "node_modules",
    "cdk.out",
    "**/cdk.out",
    ".shelfwise",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    "*.egg-info",
    "**/__pycache__",
    "**/*.pyc",
    "tests",
    "benchmarks",
    "docs",
    "events",
    "data/*",
    "!data/chat",
]


def image_dockerfile(dockerfile: Path) -> str:
    """The Dockerfile's path relative to the repository root, the context every image builds from."""
    return os.path.relpath(dockerfile, spec.REPO_ROOT)


def api_functions() -> set[str]:
    """Functions behind at least one API route: they answer browsers, so they learn the allowed origins."""
    return {route.function for route in spec.ROUTES}


def shopper_functions() -> set[str]:
    """Functions a shopper's request reaches: those behind shopper routes and the authorizer in front."""
    behind = {route.function for route in spec.ROUTES if route.access == "shopper"}
    return behind | ({spec.AUTHORIZER_FUNCTION} if behind else set())


def fed_by_upstream_drops(fn: spec.Function) -> bool:
    return any(trigger.prefix == spec.INCOMING_PREFIX for trigger in fn.triggers)


def reserved_concurrency(fn: spec.Function, config: StageConfig) -> int | None:
    """Shopper-facing functions get a guaranteed share that a flood of ingest work cannot take, and a ceiling
    that bounds what one abusive client costs; ingest is capped so a burst of drops cannot exhaust the
    account's concurrency (or DynamoDB capacity) the API needs. 0 in the config means no reservation."""
    if fn.bucket_deletes:
        # The erasure job rewrites shared objects (read, filter, put): two runs at once could each write back
        # a partition the other had just cleaned. One at a time; a schedule firing meanwhile is retried.
        return 1
    if fn.name in shopper_functions():
        reserved = config.shopper_reserved_concurrency
    elif fed_by_upstream_drops(fn):
        reserved = config.ingest_reserved_concurrency
    else:
        return None
    return reserved or None


def object_arn(bucket: s3.IBucket, key: str) -> str:
    """A prefix ("curated/") covers every key under it; anything else is exactly one object."""
    return bucket.arn_for_objects(f"{key}*" if key.endswith("/") else key)


def construct_id(name: str) -> str:
    """`segments_api` -> `SegmentsApi`: spec names become readable CloudFormation logical ids."""
    return "".join(part.capitalize() for part in name.replace("-", "_").split("_"))


class Functions(Construct):
    """Every function in the spec, keyed by spec name."""

    def __init__(
        self,
        scope: Construct,
        construct_id_: str,
        *,
        config: StageConfig,
        storage: Storage,
        messaging: Messaging,
        layers: Layers,
        identity: Identity,
        keys: Keys,
    ) -> None:
        super().__init__(scope, construct_id_)
        self._config = config
        self._identity = identity
        self._keys = keys
        self._storage = storage
        self._messaging = messaging
        self._layers = layers
        self.functions: dict[str, lambda_.Function] = {}
        self.roles: dict[str, iam.Role] = {}
        notified: set[tuple[str, str, str]] = set()
        for fn in spec.FUNCTIONS:
            self.functions[fn.name] = self._function(fn)
            self._grant(fn)
            for trigger in fn.triggers:
                self._subscribe(fn, trigger, notified)

    def environment(self, fn: spec.Function) -> dict[str, str]:
        """The same variables `spec.local_environment` sets, holding the deployed resource names."""
        env = {bucket.env: self._storage.buckets[bucket.id].bucket_name for bucket in spec.BUCKETS}
        env.update({table.env: self._storage.tables[table.id].table_name for table in spec.TABLES})
        env[spec.EVENT_BUS.env] = self._messaging.event_bus.event_bus_name
        env[settings.STAGE_ENV] = self._config.stage
        env.update(spec.powertools_environment(fn))
        env.update(spec.retention_environment(fn, self._config.retention))
        if fn.name in api_functions():
            # Handlers answer with Access-Control-Allow-Origin only for these (empty: for no origin).
            env[settings.CORS_ALLOWED_ORIGINS_ENV] = ",".join(self._config.cors_allowed_origins)
        if fn.name == spec.AUTHORIZER_FUNCTION:
            env.update(self._identity.authorizer_environment(self._config))
        env.update(
            spec.deployment_settings_environment(
                fn, self._config.forecast_settings, self._config.recommend_rerank.setting
            )
        )
        for secret_id in fn.secrets:
            env[spec.secret(secret_id).env] = self._secret(fn, secret_id).secret_arn
        return env

    def _function(self, fn: spec.Function) -> lambda_.Function:
        entry = fn.directory / ("Dockerfile" if fn.packaging == "image" else "app.py")
        if not entry.is_file():
            raise FileNotFoundError(f"function {fn.name!r} ({fn.packaging}) needs {entry}")
        name = construct_id(fn.name)
        log_group = logs.LogGroup(
            self,
            f"{name}Logs",
            retention=log_retention(self._config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        # An explicit role scoped to this function's own log group, instead of the managed
        # AWSLambdaBasicExecutionRole that may write to every log group in the account.
        role = iam.Role(
            self,
            f"{name}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"shelfwise {fn.name} function",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn]
            )
        )
        self.roles[fn.name] = role
        common = {
            "description": fn.description,
            "memory_size": fn.memory_mb,
            "ephemeral_storage_size": Size.mebibytes(fn.ephemeral_storage_mb),
            "reserved_concurrent_executions": reserved_concurrency(fn, self._config),
            "timeout": Duration.seconds(fn.timeout_seconds),
            "architecture": ARCHITECTURE,
            "environment": self.environment(fn),
            "tracing": lambda_.Tracing.ACTIVE,
            "log_group": log_group,
            "role": role,
        }
        if fn.packaging == "image":
            # The image carries its own dependencies (Powertools included); layers do not apply to images.
            return lambda_.DockerImageFunction(
                self,
                name,
                code=lambda_.DockerImageCode.from_image_asset(
                    str(spec.REPO_ROOT),
                    file=image_dockerfile(fn.directory / "Dockerfile"),
                    platform=ecr_assets.Platform.LINUX_ARM64,
                    exclude=IMAGE_CONTEXT_EXCLUDES,
                ),
                **common,
            )
        return lambda_.Function(
            self,
            name,
            runtime=RUNTIME,
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(fn.directory), exclude=CODE_EXCLUDES),
            layers=self._layers.for_function(fn),
            **common,
        )

    def _grant(self, fn: spec.Function) -> None:
        function = self.functions[fn.name]
        for resource_id, write in [*((r, False) for r in fn.reads), *((r, True) for r in fn.writes)]:
            if resource_id in self._storage.buckets:
                raise ValueError(
                    f"function {fn.name!r} names bucket {resource_id!r} in reads/writes; declare the keys it "
                    "touches in bucket_reads/bucket_writes instead"
                )
            if write:
                self._table(fn, resource_id).grant_read_write_data(function)
            else:
                self._table(fn, resource_id).grant_read_data(function)
        self._grant_bucket(fn, self.roles[fn.name], self._storage.buckets[spec.DATA_BUCKET.id])
        if fn.publishes_events:
            self._messaging.event_bus.grant_put_events_to(function)
        for secret_id in fn.secrets:
            # Exactly the one action on exactly the secrets the spec lists for the function.
            self.roles[fn.name].add_to_policy(
                iam.PolicyStatement(
                    actions=["secretsmanager:GetSecretValue"],
                    resources=[self._secret(fn, secret_id).secret_arn],
                )
            )
        secret = self._identity.customer_token_secret
        if fn.name == spec.AUTHORIZER_FUNCTION and secret is not None:
            # Exactly the one action on exactly the one secret (Secret.grant_read adds DescribeSecret).
            self.roles[fn.name].add_to_policy(
                iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[secret.secret_arn])
            )

    @staticmethod
    def _grant_bucket(fn: spec.Function, role: iam.Role, bucket: s3.Bucket) -> None:
        # Named actions on the declared keys instead of Bucket.grant_read/grant_read_write, whose wildcards
        # (s3:GetObject*, s3:List*, s3:DeleteObject*, ...) cover the whole bucket and ACL, tagging and version
        # operations nobody needs. Only `bucket_deletes` (the erasure job) get s3:DeleteObject, on those keys.
        if not fn.bucket_reads and not fn.bucket_writes and not fn.bucket_deletes:
            return
        # Listing shows key names, not contents, and is what makes S3 answer a missing key with 404 rather
        # than 403 (the code treats 404 as "not there yet"), so it is not narrowed by prefix.
        role.add_to_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn]))
        if fn.bucket_reads:
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["s3:GetObject"], resources=[object_arn(bucket, key) for key in fn.bucket_reads]
                )
            )
        if fn.bucket_writes:
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                    resources=[object_arn(bucket, key) for key in fn.bucket_writes],
                )
            )
        if fn.bucket_deletes:
            # The bucket is versioned: erasing means deleting the object and the noncurrent versions that
            # still hold the data, which takes listing, reading and deleting versions of exactly these keys.
            role.add_to_policy(
                iam.PolicyStatement(actions=["s3:ListBucketVersions"], resources=[bucket.bucket_arn])
            )
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:GetObjectVersion"],
                    resources=[object_arn(bucket, key) for key in fn.bucket_deletes],
                )
            )

    def _secret(self, fn: spec.Function, secret_id: str) -> secretsmanager.ISecret:
        if secret_id not in self._keys.secrets:
            raise ValueError(
                f"function {fn.name!r} reads unknown secret {secret_id!r}; "
                f"known: {sorted(self._keys.secrets)}"
            )
        return self._keys.secrets[secret_id]

    def _table(self, fn: spec.Function, resource_id: str) -> dynamodb.Table:
        if resource_id not in self._storage.tables:
            known = sorted([*self._storage.buckets, *self._storage.tables])
            raise ValueError(f"function {fn.name!r} needs unknown resource {resource_id!r}; known: {known}")
        return self._storage.tables[resource_id]

    def _subscribe(
        self, fn: spec.Function, trigger: spec.QueueTrigger, notified: set[tuple[str, str, str]]
    ) -> None:
        queue = self._messaging.queues.get(trigger.queue)
        if queue is None:
            raise ValueError(f"function {fn.name!r} is triggered by unknown queue {trigger.queue!r}")
        queue_spec = next(q for q in spec.QUEUES if q.id == trigger.queue)
        if queue_spec.visibility_timeout_seconds < fn.timeout_seconds:
            # Otherwise a message becomes visible again while the first invocation is still working on it.
            raise ValueError(
                f"queue {trigger.queue!r} visibility timeout ({queue_spec.visibility_timeout_seconds}s) "
                f"is shorter than function {fn.name!r} timeout ({fn.timeout_seconds}s)"
            )
        key = (spec.DATA_BUCKET.id, trigger.prefix, trigger.queue)
        if key not in notified:
            notified.add(key)
            self._storage.buckets[spec.DATA_BUCKET.id].add_event_notification(
                s3.EventType.OBJECT_CREATED,
                s3_notifications.SqsDestination(queue),
                s3.NotificationKeyFilter(prefix=trigger.prefix),
            )
        reserved = reserved_concurrency(fn, self._config)
        self.functions[fn.name].add_event_source(
            event_sources.SqsEventSource(
                queue,
                batch_size=trigger.batch_size,
                report_batch_item_failures=True,
                # Pollers never start more invocations than the function may run: otherwise throttled
                # messages count as failed receives and go to the dead-letter queue unprocessed.
                max_concurrency=reserved,
            )
        )
