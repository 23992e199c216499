"""The platform, defined once.

Buckets, tables, queues, the event bus, functions, API routes and schedules are declared here as plain
data. The CDK app (`shelfwise_infra.stacks`) turns them into CloudFormation; the local cloud
(`shelfwise_local`) creates the same resources in moto, routes HTTP requests to the same handlers and fires
the same schedules. Nothing here imports aws_cdk, so the local cloud never needs it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from shelfwise import settings
from shelfwise.auth import READ_SCOPE, SERVER_SCOPE, WRITE_SCOPE
from shelfwise.forecast.plan_settings import PlanSettings, plan_settings_environment, plan_settings_from_env
from shelfwise.recommend.diversify import RERANK_ENV, RerankConfig

from shelfwise_infra.retention import Retention

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = REPO_ROOT / "functions"
EVENTS_DIR = REPO_ROOT / "events"

# Prefixes inside the data bucket. Upstream systems write `incoming/`; everything else is ours.
INCOMING_PREFIX = "incoming/"
CURATED_PREFIX = "curated/"
REJECTED_PREFIX = "rejected/"
MODELS_PREFIX = "models/"
# Training jobs write `<prefix><job>/<training-job-name>/output/model.tar.gz` here (the SageMaker layout); the
# model registry unpacks each archive into `models/<model_name>/<version>/` and validates it.
TRAINING_OUTPUT_PREFIX = "models/_jobs/"
FORECASTS_PREFIX = "forecasts/"
PLANS_PREFIX = "plans/"
SEGMENTS_PREFIX = "segments/"
INGEST_KINDS = (
    "catalog",
    "interactions",
    "sales",
    "inventory",
    "promotions",
    "chat-training",
    "chat-sentiment",
    "chat-replies",
)


@dataclass(frozen=True)
class Bucket:
    id: str
    local_name: str
    env: str


@dataclass(frozen=True)
class Table:
    id: str
    local_name: str
    env: str
    partition_key: str
    sort_key: str | None = None
    ttl_attribute: str | None = None


@dataclass(frozen=True)
class Queue:
    id: str
    local_name: str
    # Messages that fail this many times move to the dead-letter queue `<local_name>-dlq`.
    max_receive_count: int = 3
    visibility_timeout_seconds: int = 900


@dataclass(frozen=True)
class EventBus:
    id: str
    local_name: str
    env: str
    source: str = "shelfwise"


@dataclass(frozen=True)
class QueueTrigger:
    """S3 ObjectCreated notifications under `prefix` go to `queue`, whose messages invoke the function."""

    queue: str
    prefix: str
    batch_size: int = 1


@dataclass(frozen=True)
class Function:
    name: str  # folder under functions/, holding app.py with `handler`
    description: str
    memory_mb: int = 512
    timeout_seconds: int = 30
    # /tmp size; Lambda gives 512 MB unless asked (up to 10240).
    ephemeral_storage_mb: int = 512
    layers: tuple[Literal["domain", "data", "inference", "tokens", "pii"], ...] = ("domain",)
    packaging: Literal["zip", "image"] = "zip"
    triggers: tuple[QueueTrigger, ...] = ()
    # Ids of the tables the function reads, or reads and writes, and whether it publishes to the event bus.
    # The CDK app grants exactly these; the local cloud does not enforce IAM, so keep them honest.
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    publishes_events: bool = False
    # Data-bucket keys the function reads (s3:GetObject) and writes (s3:PutObject; nothing deletes): a value
    # ending in "/" is a prefix, anything else one exact key. Read what the code really reads, write only the
    # function's own outputs; the CDK app grants exactly these (tests/infra/test_security.py).
    bucket_reads: tuple[str, ...] = ()
    bucket_writes: tuple[str, ...] = ()
    # Data-bucket keys the function deletes (s3:DeleteObject, and s3:DeleteObjectVersion with the versions
    # listing: the bucket is versioned): only the erasure job, which removes one customer's data.
    bucket_deletes: tuple[str, ...] = ()
    # Ids of the `SECRETS` the function reads: it gets secretsmanager:GetSecretValue on exactly these and each
    # one's ARN (locally its name) in the secret's `env`.
    secrets: tuple[str, ...] = ()

    @property
    def directory(self) -> Path:
        return FUNCTIONS_DIR / self.name

    @property
    def service(self) -> str:
        return f"shelfwise-{self.name}"


# Who may call a route, and with which credential (docs/security.md):
# - "public": nobody needs a credential (liveness, the API description); no customer data.
# - "shopper": a browser acting for one shopper, with a customer token the retailer's site issues (verified by
#   the `authorizer` function), or the retailer's servers with an operator token carrying `SERVER_SCOPE`.
#   The handler serves and records data only for the token's subject.
# - "operations": an operator identity (Cognito in AWS) with `READ_SCOPE` for GET, `WRITE_SCOPE` otherwise.
Access = Literal["public", "shopper", "operations"]
OPERATOR_SCOPES = (READ_SCOPE, WRITE_SCOPE, SERVER_SCOPE)


@dataclass(frozen=True)
class Route:
    method: Literal["GET", "POST", "PUT", "DELETE"]
    path: str  # API Gateway style, e.g. /v1/users/{user_id}/recommendations
    function: str
    access: Access = "operations"

    @property
    def public(self) -> bool:
        return self.access == "public"

    @property
    def scope(self) -> str | None:
        """The operator scope an operations route requires (read for GET, write for changes)."""
        if self.access != "operations":
            return None
        return READ_SCOPE if self.method == "GET" else WRITE_SCOPE


@dataclass(frozen=True)
class TrainingJob:
    """A model training container (SageMaker training-container contract).

    In AWS a schedule starts it as a SageMaker training job from the image built from `dockerfile`; locally
    the same entrypoint runs as a process. Channels are downloaded from the data bucket prefixes named here
    and exposed as `SM_CHANNEL_<NAME>`; whatever the job writes to `SM_MODEL_DIR` is archived to
    `TRAINING_OUTPUT_PREFIX<name>/<training-job-name>/output/model.tar.gz`, where the model registry picks it
    up.
    """

    name: str
    description: str
    directory: str  # relative to the repository root, holds the entrypoint `train.py`
    channels: dict[str, str]  # channel name -> data bucket prefix
    instance_type: str = "ml.m5.large"
    volume_gb: int = 30
    max_runtime_seconds: int = 3600

    @property
    def dockerfile(self) -> Path:
        return REPO_ROOT / self.directory / "Dockerfile"

    @property
    def entrypoint(self) -> Path:
        return REPO_ROOT / self.directory / "train.py"

    @property
    def output_prefix(self) -> str:
        return f"{TRAINING_OUTPUT_PREFIX}{self.name}/"


@dataclass(frozen=True)
class Workflow:
    """Plan, fan out, finalize: one function invoked three ways.

    The function receives `{"step": "plan", "run_id", "scheduled_event"}` and returns
    `{"run_id", "shards": [<shard>, ...], ...}`; then `{"step": "shard", "run_id", "shard": <shard>}` once per
    shard (in AWS a Step Functions Distributed Map, locally a process pool), each retried up to
    `shard_retries` times; then `{"step": "finalize", "run_id", "plan": <plan output>, "results": [...]}`
    where a shard that still failed appears as `{"shard": <shard>, "error": "<reason>"}`.
    """

    name: str
    description: str
    function: str
    max_concurrency: int = 50
    shard_retries: int = 2


@dataclass(frozen=True)
class Schedule:
    """A cron/rate rule that runs exactly one target: a function, a training job or a workflow."""

    name: str  # what `shelfwise run NAME` takes
    description: str
    expression: str  # EventBridge cron/rate expression, UTC
    function: str | None = None
    training_job: str | None = None
    workflow: str | None = None
    detail: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        targets = [t for t in (self.function, self.training_job, self.workflow) if t]
        if len(targets) != 1:
            raise ValueError(f"schedule {self.name!r} needs exactly one of function, training_job, workflow")

    @property
    def target(self) -> tuple[Literal["function", "training_job", "workflow"], str]:
        if self.function:
            return "function", self.function
        if self.training_job:
            return "training_job", self.training_job
        return "workflow", str(self.workflow)


DATA_BUCKET = Bucket(id="DataBucket", local_name="shelfwise-data", env=settings.DATA_BUCKET_ENV)

CATALOG_TABLE = Table(
    id="CatalogTable", local_name="shelfwise-catalog", env=settings.CATALOG_TABLE_ENV, partition_key="item_id"
)
USER_ACTIVITY_TABLE = Table(
    id="UserActivityTable",
    local_name="shelfwise-user-activity",
    env=settings.USER_ACTIVITY_TABLE_ENV,
    partition_key="user_id",
    ttl_attribute="expires_at",
)
IDEMPOTENCY_TABLE = Table(
    id="IdempotencyTable",
    local_name="shelfwise-idempotency",
    env=settings.IDEMPOTENCY_TABLE_ENV,
    partition_key="id",
    ttl_attribute="expiration",
)
MODELS_TABLE = Table(
    id="ModelsTable",
    local_name="shelfwise-models",
    env=settings.MODELS_TABLE_ENV,
    partition_key="model_name",
    sort_key="version",
)
SEGMENTS_TABLE = Table(
    id="SegmentsTable",
    local_name="shelfwise-segments",
    env=settings.SEGMENTS_TABLE_ENV,
    partition_key="user_id",
)
RUNS_TABLE = Table(
    id="RunsTable",
    local_name="shelfwise-runs",
    env=settings.RUNS_TABLE_ENV,
    partition_key="run_id",
    ttl_attribute="expires_at",
)

CHAT_SESSIONS_TABLE = Table(
    id="ChatSessionsTable",
    local_name="shelfwise-chat-sessions",
    env=settings.CHAT_SESSIONS_TABLE_ENV,
    partition_key="session_id",
    ttl_attribute="expires_at",
)
FORECASTS_TABLE = Table(
    id="ForecastsTable",
    local_name="shelfwise-forecasts",
    env=settings.FORECASTS_TABLE_ENV,
    partition_key="sku",
    sort_key="location",
)
PLANS_TABLE = Table(
    id="PlansTable",
    local_name="shelfwise-plans",
    env=settings.PLANS_TABLE_ENV,
    partition_key="plan_date",
    sort_key="item_key",
)
# One item per erasure request, kept as its audit record once done (no personal data then; no TTL), and a
# pointer per open request that makes a repeated DELETE find it (shelfwise.privacy.erasure).
ERASURES_TABLE = Table(
    id="ErasuresTable",
    local_name="shelfwise-erasures",
    env=settings.ERASURES_TABLE_ENV,
    partition_key="request_id",
)
# The deny list of erased customers (shelfwise.privacy.erasure_deny_list): one object per customer, named
# by a one-way digest of the pseudonym. Training jobs read it as a channel; ingestion reads it too.
ERASED_CUSTOMERS_PREFIX = "privacy/erased-customers/"


@dataclass(frozen=True)
class Secret:
    id: str
    local_name: str
    env: str


# The retailer's customer-token key (HS256 shared secret; the CDK app creates it unless a JWKS URL is given).
CUSTOMER_TOKEN_SECRET = Secret(
    id="CustomerTokenKey",
    local_name="shelfwise/customer-token-key",
    env=settings.CUSTOMER_TOKEN_SECRET_ARN_ENV,
)
# Local only: in AWS operators sign in to the Cognito user pool, whose keys are published as JWKS.
LOCAL_OPERATOR_TOKEN_SECRET = Secret(
    id="LocalOperatorTokenKey",
    local_name="shelfwise/local-operator-token-key",
    env=settings.OPERATOR_TOKEN_SECRET_ARN_ENV,
)
# The key of customer pseudonyms (shelfwise.privacy.pseudonyms): generated by the CDK app, a key file in the
# state dir locally. Only the functions that turn a customer id into its pseudonym read it.
PSEUDONYM_KEY_SECRET = Secret(
    id="PseudonymKey",
    local_name="shelfwise/pseudonym-key",
    env=settings.PSEUDONYM_KEY_SECRET_ARN_ENV,
)
SECRETS: tuple[Secret, ...] = (PSEUDONYM_KEY_SECRET,)
LOCAL_CUSTOMER_TOKEN_ISSUER = "shelfwise-local"
LOCAL_CUSTOMER_TOKEN_AUDIENCE = "shelfwise"
LOCAL_OPERATOR_TOKEN_ISSUER = "shelfwise-local-operators"
AUTHORIZER_FUNCTION = "authorizer"
RECOMMENDATIONS_FUNCTION = "recommendations"

# One item per processed dropped file: its outcome, listed by `GET /v1/ingest/files`
# (shelfwise.ingest.outcomes).
INGEST_FILES_TABLE = Table(
    id="IngestFilesTable",
    local_name="shelfwise-ingest-files",
    env=settings.INGEST_FILES_TABLE_ENV,
    partition_key="day",
    sort_key="file_key",
    ttl_attribute="expires_at",
)

# pseudonym -> the retailer's customer id: the one DynamoDB place a raw customer id is kept, written by
# ingestion, read only where an answer must carry the retailer's id (shelfwise.privacy.identities).
CUSTOMER_IDS_TABLE = Table(
    id="CustomerIdsTable",
    local_name="shelfwise-customer-ids",
    env=settings.CUSTOMER_IDS_TABLE_ENV,
    partition_key="pseudonym",
)

INGEST_QUEUE = Queue(id="IngestQueue", local_name="shelfwise-ingest")
MODELS_QUEUE = Queue(id="ModelsQueue", local_name="shelfwise-models")

EVENT_BUS = EventBus(id="EventBus", local_name="shelfwise", env=settings.EVENT_BUS_ENV)

BUCKETS: tuple[Bucket, ...] = (DATA_BUCKET,)
TABLES: tuple[Table, ...] = (
    CATALOG_TABLE,
    USER_ACTIVITY_TABLE,
    IDEMPOTENCY_TABLE,
    MODELS_TABLE,
    SEGMENTS_TABLE,
    RUNS_TABLE,
    CHAT_SESSIONS_TABLE,
    FORECASTS_TABLE,
    PLANS_TABLE,
    INGEST_FILES_TABLE,
    ERASURES_TABLE,
    CUSTOMER_IDS_TABLE,
)
QUEUES: tuple[Queue, ...] = (INGEST_QUEUE, MODELS_QUEUE)

FUNCTIONS: tuple[Function, ...] = (
    Function(
        name=AUTHORIZER_FUNCTION,
        description="Verifies customer and operator bearer tokens for the shopper routes.",
        memory_mb=256,
        timeout_seconds=5,
        layers=("domain", "tokens"),
    ),
    Function(
        name="api",
        description="Platform endpoints: health, model registry listing, OpenAPI document.",
        memory_mb=256,
        timeout_seconds=10,
        reads=(MODELS_TABLE.id,),
    ),
    Function(
        name="ingest",
        description="Validates files dropped under incoming/, lands curated Parquet and DynamoDB items.",
        # The dropped file is read in place from S3 (ranged GETs), never copied to /tmp. /tmp holds only
        # what is being uploaded: per curated partition and for the rejection report, the multipart part in
        # progress (under 8 MiB, shelfwise.aws.s3.DEFAULT_PART_BYTES). 3 GB covers a year of daily
        # partitions at once; more partitions than that means smaller ones, and all of them together are the
        # file's curated Parquet, well under 3 GB for the largest file the reader accepts (4 GiB of CSV).
        # Memory leaves room for the keyed pseudonyms and the per-user activity fold, which grow with the rows
        # and distinct users (949 MB peak at 1M rows, docs/benchmarks.md), and buys vCPUs for the 15-minute
        # limit.
        memory_mb=4096,
        ephemeral_storage_mb=3072,
        timeout_seconds=900,
        # pii: the chat-training and chat-sentiment files' messages are redacted before they land.
        layers=("domain", "data", "pii"),
        triggers=(QueueTrigger(queue=INGEST_QUEUE.id, prefix=INCOMING_PREFIX),),
        writes=(
            CATALOG_TABLE.id,
            USER_ACTIVITY_TABLE.id,
            IDEMPOTENCY_TABLE.id,
            INGEST_FILES_TABLE.id,
            CUSTOMER_IDS_TABLE.id,
        ),
        secrets=(PSEUDONYM_KEY_SECRET.id,),
        publishes_events=True,
        # The dropped file, the curated stock positions (to recompute the out-of-stock list), and its outputs.
        bucket_reads=(INCOMING_PREFIX, CURATED_PREFIX),
        bucket_writes=(CURATED_PREFIX, REJECTED_PREFIX, "serving/out-of-stock.json"),
    ),
    Function(
        name="ingest_api",
        description="Lists recently dropped files with their outcome and rejection report (operators).",
        memory_mb=256,
        timeout_seconds=10,
        reads=(INGEST_FILES_TABLE.id,),
        # Pre-signed links to rejection reports are only as good as the signer's own s3:GetObject.
        bucket_reads=(REJECTED_PREFIX,),
    ),
    Function(
        name="segments",
        description="Scores customers by recency, frequency and monetary value; assigns marketing segments.",
        memory_mb=1024,
        timeout_seconds=300,
        layers=("domain", "data"),
        writes=(SEGMENTS_TABLE.id,),
        # The CRM export names customers by the retailer's ids: the vault maps the scored pseudonyms back.
        reads=(CUSTOMER_IDS_TABLE.id,),
        bucket_reads=(f"{CURATED_PREFIX}interactions/", "segments/"),
        bucket_writes=("segments/",),
    ),
    Function(
        name="segments_api",
        description="Serves a customer's RFM segment.",
        memory_mb=256,
        timeout_seconds=10,
        reads=(SEGMENTS_TABLE.id,),
        secrets=(PSEUDONYM_KEY_SECRET.id,),
    ),
    Function(
        name="customers",
        description="The right of access: everything held about one customer (operators).",
        memory_mb=1024,
        # API Gateway's longest integration timeout: the curated partitions are read in parallel.
        timeout_seconds=29,
        layers=("domain", "data"),
        reads=(
            USER_ACTIVITY_TABLE.id,
            SEGMENTS_TABLE.id,
            CHAT_SESSIONS_TABLE.id,
            MODELS_TABLE.id,
            CUSTOMER_IDS_TABLE.id,
        ),
        secrets=(PSEUDONYM_KEY_SECRET.id,),
        # The curated interactions (one column of each part) and the recommender versions' user lists.
        bucket_reads=(f"{CURATED_PREFIX}interactions/", f"{MODELS_PREFIX}recommender/"),
    ),
    Function(
        name="model_registry",
        description="Unpacks trained model archives, validates each new version and promotes or rejects it.",
        memory_mb=1024,
        timeout_seconds=300,
        layers=("domain", "inference"),
        triggers=(QueueTrigger(queue=MODELS_QUEUE.id, prefix=MODELS_PREFIX, batch_size=1),),
        writes=(MODELS_TABLE.id,),
        publishes_events=True,
        # Training archives under models/_jobs/ and uploaded versions in, unpacked versions out.
        bucket_reads=(MODELS_PREFIX,),
        bucket_writes=(MODELS_PREFIX,),
    ),
    Function(
        name=RECOMMENDATIONS_FUNCTION,
        description="Personalized and similar-item recommendations; takes storefront events in real time.",
        memory_mb=1769,
        timeout_seconds=10,
        layers=("domain", "inference"),
        reads=(MODELS_TABLE.id, CATALOG_TABLE.id),
        writes=(USER_ACTIVITY_TABLE.id,),
        # Its own model, the out-of-stock list; storefront events land as files the ingest function takes.
        bucket_reads=(f"{MODELS_PREFIX}recommender/", "serving/out-of-stock.json"),
        bucket_writes=(f"{INCOMING_PREFIX}interactions/api/",),
        secrets=(PSEUDONYM_KEY_SECRET.id,),
    ),
    Function(
        name="chat",
        description="Chat triage: intent, sentiment, templated reply, escalation, PII redaction.",
        memory_mb=1024,
        timeout_seconds=10,
        layers=("domain", "inference", "pii"),
        reads=(MODELS_TABLE.id,),
        writes=(CHAT_SESSIONS_TABLE.id,),
        publishes_events=True,
        bucket_reads=(f"{MODELS_PREFIX}chat/",),
        secrets=(PSEUDONYM_KEY_SECRET.id,),
    ),
    Function(
        name="forecast",
        description="Nightly demand forecast and replenishment plan: plans shards, forecasts one, finalizes.",
        memory_mb=3008,
        timeout_seconds=900,
        packaging="image",
        writes=(FORECASTS_TABLE.id, PLANS_TABLE.id),
        publishes_events=True,
        # Curated sales, promotions and inventory, rows rejected from sales files; shard results, plans out.
        bucket_reads=(CURATED_PREFIX, f"{REJECTED_PREFIX}sales/", FORECASTS_PREFIX),
        bucket_writes=(FORECASTS_PREFIX, PLANS_PREFIX),
    ),
    Function(
        name="forecast_api",
        description="Serves demand forecasts, replenishment plans and their reports.",
        memory_mb=512,
        timeout_seconds=10,
        reads=(FORECASTS_TABLE.id, PLANS_TABLE.id),
        bucket_reads=(FORECASTS_PREFIX, PLANS_PREFIX),
    ),
    Function(
        name="reconcile",
        description="Re-drives dropped files left without a manifest (a crashed or timed-out ingestion).",
        memory_mb=256,
        timeout_seconds=300,
        # Lists incoming/ and the manifests; re-drives a file by copying it onto itself (a new ObjectCreated).
        bucket_reads=(INCOMING_PREFIX, f"{CURATED_PREFIX}_manifests/"),
        bucket_writes=(INCOMING_PREFIX,),
    ),
    Function(
        name="customer_erasure",
        description="Records customers' erasure requests and reports their progress (operators).",
        memory_mb=256,
        timeout_seconds=10,
        writes=(ERASURES_TABLE.id,),
        secrets=(PSEUDONYM_KEY_SECRET.id,),
    ),
    Function(
        name="erasure",
        description="Erases the customers of open erasure requests from every store; keeps an audit record.",
        # Rewrites one object at a time in memory: a curated partition, a raw file, a model version.
        memory_mb=3008,
        timeout_seconds=900,
        layers=("domain", "data"),
        reads=(MODELS_TABLE.id,),
        writes=(
            ERASURES_TABLE.id,
            USER_ACTIVITY_TABLE.id,
            SEGMENTS_TABLE.id,
            CHAT_SESSIONS_TABLE.id,
            IDEMPOTENCY_TABLE.id,
            CUSTOMER_IDS_TABLE.id,
        ),
        publishes_events=True,
        bucket_reads=(
            f"{INCOMING_PREFIX}interactions/",
            f"{CURATED_PREFIX}interactions/",
            f"{REJECTED_PREFIX}interactions/",
            "segments/",
            f"{MODELS_PREFIX}recommender/",
            f"{TRAINING_OUTPUT_PREFIX}recommender/",
            ERASED_CUSTOMERS_PREFIX,
        ),
        bucket_writes=(
            f"{CURATED_PREFIX}interactions/",
            f"{REJECTED_PREFIX}interactions/",
            "segments/",
            f"{MODELS_PREFIX}recommender/",
            ERASED_CUSTOMERS_PREFIX,
        ),
        # Ingested raw files and unpacked training archives holding the customer are deleted; every rewritten
        # object's noncurrent versions holding them too.
        bucket_deletes=(
            f"{INCOMING_PREFIX}interactions/",
            f"{CURATED_PREFIX}interactions/",
            f"{REJECTED_PREFIX}interactions/",
            "segments/",
            f"{MODELS_PREFIX}recommender/",
            f"{TRAINING_OUTPUT_PREFIX}recommender/",
        ),
    ),
)

TRAINING_JOBS: tuple[TrainingJob, ...] = (
    TrainingJob(
        name="recommender",
        description="Retrieval (and ranking) recommender from the curated interactions and catalog.",
        directory="training/recommender",
        channels={
            "interactions": f"{CURATED_PREFIX}interactions/",
            "catalog": f"{CURATED_PREFIX}catalog/",
            # Erased customers: the job drops their rows (shelfwise.privacy.erasure_deny_list).
            "erased_customers": ERASED_CUSTOMERS_PREFIX,
        },
        instance_type="ml.m5.2xlarge",
    ),
    TrainingJob(
        name="chat",
        description="Chat intent and sentiment classifiers and reply templates from the retailer's files.",
        directory="training/chat",
        channels={
            "intents": f"{CURATED_PREFIX}chat-training/",
            "sentiment": f"{CURATED_PREFIX}chat-sentiment/",
            "replies": f"{CURATED_PREFIX}chat-replies/",
        },
        instance_type="ml.m5.xlarge",
    ),
)

WORKFLOWS: tuple[Workflow, ...] = (
    Workflow(
        name="forecast",
        description="Forecast every SKU and location by shard, then build the replenishment plan and report.",
        function="forecast",
    ),
)

ROUTES: tuple[Route, ...] = (
    Route("GET", "/v1/health", "api", access="public"),
    Route("GET", "/v1/openapi.json", "api", access="public"),
    Route("GET", "/v1/models", "api"),
    Route("GET", "/v1/customers/{user_id}/segment", "segments_api"),
    Route("GET", "/v1/customers/{user_id}/data", "customers"),
    Route("GET", "/v1/users/{user_id}/recommendations", "recommendations", access="shopper"),
    Route("GET", "/v1/items/{item_id}/similar", "recommendations", access="shopper"),
    Route("POST", "/v1/events", "recommendations", access="shopper"),
    Route("POST", "/v1/chat/messages", "chat", access="shopper"),
    Route("GET", "/v1/forecasts/{sku}", "forecast_api"),
    Route("GET", "/v1/replenishment/plan", "forecast_api"),
    Route("GET", "/v1/replenishment/report", "forecast_api"),
    Route("GET", "/v1/ingest/files", "ingest_api", access="operations"),
    # `{user_id}` as in the segment route: API Gateway needs one variable name per path level.
    Route("DELETE", "/v1/customers/{user_id}", "customer_erasure"),
    Route("GET", "/v1/customers/erasures/{request_id}", "customer_erasure"),
)

SCHEDULES: tuple[Schedule, ...] = (
    Schedule(
        name="reconcile-ingest",
        description="Re-drives dropped files with no manifest, older than the queue's visibility timeout.",
        expression="rate(15 minutes)",
        function="reconcile",
        # Younger files may still have their own message in the queue (or in flight): leave them to it.
        detail={"older_than_seconds": str(INGEST_QUEUE.visibility_timeout_seconds)},
    ),
    Schedule(
        name="segment-customers",
        description="Nightly RFM scoring of every customer from the curated interactions.",
        expression="cron(30 1 * * ? *)",
        function="segments",
    ),
    Schedule(
        name="train-recommender",
        description="Nightly recommender training from the curated interactions and catalog.",
        expression="cron(0 3 * * ? *)",
        training_job="recommender",
    ),
    Schedule(
        name="train-chat",
        description="Weekly chat model training from the retailer's labeled utterances.",
        expression="cron(0 4 ? * SUN *)",
        training_job="chat",
    ),
    Schedule(
        name="forecast",
        description="Nightly demand forecast and replenishment plan for every SKU and location.",
        expression="cron(0 2 * * ? *)",
        workflow="forecast",
    ),
    Schedule(
        name="erase-customers",
        description="Works off open erasure requests: every store, the deny list, CustomerErased, the audit.",
        # Not started by the DELETE itself: one run at a time rewrites shared objects (no two runs racing on
        # a partition), one pass over the bucket serves every request waiting, and 15 minutes is far inside
        # the month the GDPR allows.
        expression="rate(15 minutes)",
        function="erasure",
    ),
)


def function(name: str) -> Function:
    for candidate in FUNCTIONS:
        if candidate.name == name:
            return candidate
    raise KeyError(f"unknown function {name!r}; known: {', '.join(f.name for f in FUNCTIONS)}")


def secret(secret_id: str) -> Secret:
    for candidate in SECRETS:
        if candidate.id == secret_id:
            return candidate
    raise KeyError(f"unknown secret {secret_id!r}; known: {', '.join(s.id for s in SECRETS)}")


def schedule(name: str) -> Schedule:
    for candidate in SCHEDULES:
        if candidate.name == name:
            return candidate
    raise KeyError(f"unknown schedule {name!r}; known: {', '.join(s.name for s in SCHEDULES) or 'none'}")


def training_job(name: str) -> TrainingJob:
    for candidate in TRAINING_JOBS:
        if candidate.name == name:
            return candidate
    raise KeyError(f"unknown training job {name!r}; known: {', '.join(j.name for j in TRAINING_JOBS)}")


def workflow(name: str) -> Workflow:
    for candidate in WORKFLOWS:
        if candidate.name == name:
            return candidate
    raise KeyError(f"unknown workflow {name!r}; known: {', '.join(w.name for w in WORKFLOWS)}")


def public_routes() -> frozenset[tuple[str, str]]:
    return frozenset((route.method, route.path) for route in ROUTES if route.public)


def powertools_environment(fn: Function) -> dict[str, str]:
    """Powertools settings every function gets, in AWS and locally."""
    return {
        "POWERTOOLS_SERVICE_NAME": fn.service,
        "POWERTOOLS_METRICS_NAMESPACE": "shelfwise",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def retention_environment(fn: Function, retention: Retention) -> dict[str, str]:
    """The retention of the TTL items a function writes, from the deployment's setting (docs/privacy.md)."""
    env = {}
    if USER_ACTIVITY_TABLE.id in fn.writes:
        env[settings.ACTIVITY_RETENTION_DAYS_ENV] = str(retention.activity_days)
    if CHAT_SESSIONS_TABLE.id in fn.writes:
        env[settings.CHAT_SESSION_RETENTION_HOURS_ENV] = str(retention.chat_session_hours)
    if INGEST_FILES_TABLE.id in (*fn.writes, *fn.reads):
        # The log's items expire with the reports they point at; listings never reach further back.
        env[settings.REJECTED_RETENTION_DAYS_ENV] = str(retention.rejected_days)
    return env


def deployment_settings_environment(fn: Function, forecast: PlanSettings, rerank: str) -> dict[str, str]:
    """Settings a deployment gives one function (docs/configuration.md): the forecast function's replenishment
    settings, the recommendations function's re-ranking. The CDK app takes them from context; the local cloud
    from its own environment, where `<state dir>/settings/forecast.json` is applied at start-up."""
    if fn.name == workflow("forecast").function:
        return plan_settings_environment(forecast)
    if fn.name == RECOMMENDATIONS_FUNCTION:
        return {RERANK_ENV: rerank}
    return {}


def local_environment(fn: Function) -> dict[str, str]:
    """The environment a function gets in the local cloud: resource names as the CDK app would set them."""
    env = {bucket.env: bucket.local_name for bucket in BUCKETS}
    env.update({table.env: table.local_name for table in TABLES})
    env[EVENT_BUS.env] = EVENT_BUS.local_name
    env[settings.STAGE_ENV] = "local"
    env.update(powertools_environment(fn))
    env.update(retention_environment(fn, Retention.from_environment()))
    env.update(
        deployment_settings_environment(
            fn, plan_settings_from_env(os.environ), RerankConfig.from_env().setting
        )
    )
    env.update({secret(secret_id).env: secret(secret_id).local_name for secret_id in fn.secrets})
    if fn.name == AUTHORIZER_FUNCTION:
        env.update(
            {
                CUSTOMER_TOKEN_SECRET.env: CUSTOMER_TOKEN_SECRET.local_name,
                settings.CUSTOMER_TOKEN_ISSUER_ENV: LOCAL_CUSTOMER_TOKEN_ISSUER,
                settings.CUSTOMER_TOKEN_AUDIENCE_ENV: LOCAL_CUSTOMER_TOKEN_AUDIENCE,
                LOCAL_OPERATOR_TOKEN_SECRET.env: LOCAL_OPERATOR_TOKEN_SECRET.local_name,
                settings.OPERATOR_TOKEN_ISSUER_ENV: LOCAL_OPERATOR_TOKEN_ISSUER,
            }
        )
    return env
