"""The platform, defined once.

Buckets, tables, queues, the event bus, functions, API routes and schedules are declared here as plain
data. The CDK app (`shelfwise_infra.stacks`) turns them into CloudFormation; the local cloud
(`shelfwise_local`) creates the same resources in moto, routes HTTP requests to the same handlers and fires
the same schedules. Nothing here imports aws_cdk, so the local cloud never needs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from shelfwise import settings

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = REPO_ROOT / "functions"
EVENTS_DIR = REPO_ROOT / "events"

# Prefixes inside the data bucket. Upstream systems write `incoming/`; everything else is ours.
INCOMING_PREFIX = "incoming/"
CURATED_PREFIX = "curated/"
REJECTED_PREFIX = "rejected/"
MODELS_PREFIX = "models/"
INGEST_KINDS = ("catalog", "interactions", "sales", "inventory")


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
    layers: tuple[Literal["domain", "data", "inference"], ...] = ("domain",)
    packaging: Literal["zip", "image"] = "zip"
    triggers: tuple[QueueTrigger, ...] = ()
    # Ids of the buckets/tables the function reads, or reads and writes, and whether it publishes to the
    # event bus. The CDK app grants exactly these; the local cloud does not enforce IAM, so keep them honest.
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    publishes_events: bool = False

    @property
    def directory(self) -> Path:
        return FUNCTIONS_DIR / self.name

    @property
    def service(self) -> str:
        return f"shelfwise-{self.name}"


@dataclass(frozen=True)
class Route:
    method: Literal["GET", "POST", "PUT", "DELETE"]
    path: str  # API Gateway style, e.g. /v1/users/{user_id}/recommendations
    function: str
    # Public routes need no API key (liveness probes); every other route requires one.
    public: bool = False


@dataclass(frozen=True)
class Schedule:
    name: str  # what `shelfwise run NAME` takes
    description: str
    expression: str  # EventBridge cron/rate expression, UTC
    function: str
    detail: dict[str, str] = field(default_factory=dict)


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

INGEST_QUEUE = Queue(id="IngestQueue", local_name="shelfwise-ingest")

EVENT_BUS = EventBus(id="EventBus", local_name="shelfwise", env=settings.EVENT_BUS_ENV)

BUCKETS: tuple[Bucket, ...] = (DATA_BUCKET,)
TABLES: tuple[Table, ...] = (
    CATALOG_TABLE,
    USER_ACTIVITY_TABLE,
    IDEMPOTENCY_TABLE,
    MODELS_TABLE,
    SEGMENTS_TABLE,
    RUNS_TABLE,
)
QUEUES: tuple[Queue, ...] = (INGEST_QUEUE,)

FUNCTIONS: tuple[Function, ...] = (
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
        memory_mb=2048,
        timeout_seconds=900,
        layers=("domain", "data"),
        triggers=(QueueTrigger(queue=INGEST_QUEUE.id, prefix=INCOMING_PREFIX),),
        writes=(
            DATA_BUCKET.id,
            CATALOG_TABLE.id,
            USER_ACTIVITY_TABLE.id,
            IDEMPOTENCY_TABLE.id,
        ),
    ),
    Function(
        name="segments",
        description="Scores customers by recency, frequency and monetary value; assigns marketing segments.",
        memory_mb=1024,
        timeout_seconds=300,
        layers=("domain", "data"),
        writes=(DATA_BUCKET.id, SEGMENTS_TABLE.id),
    ),
    Function(
        name="segments_api",
        description="Serves a customer's RFM segment.",
        memory_mb=256,
        timeout_seconds=10,
        reads=(SEGMENTS_TABLE.id,),
    ),
)

ROUTES: tuple[Route, ...] = (
    Route("GET", "/v1/health", "api", public=True),
    Route("GET", "/v1/models", "api"),
    Route("GET", "/v1/openapi.json", "api"),
    Route("GET", "/v1/customers/{user_id}/segment", "segments_api"),
)

SCHEDULES: tuple[Schedule, ...] = (
    Schedule(
        name="segment-customers",
        description="Nightly RFM scoring of every customer from the curated interactions.",
        expression="cron(30 1 * * ? *)",
        function="segments",
    ),
)


def function(name: str) -> Function:
    for candidate in FUNCTIONS:
        if candidate.name == name:
            return candidate
    raise KeyError(f"unknown function {name!r}; known: {', '.join(f.name for f in FUNCTIONS)}")


def schedule(name: str) -> Schedule:
    for candidate in SCHEDULES:
        if candidate.name == name:
            return candidate
    raise KeyError(f"unknown schedule {name!r}; known: {', '.join(s.name for s in SCHEDULES) or 'none'}")


def public_routes() -> frozenset[tuple[str, str]]:
    return frozenset((route.method, route.path) for route in ROUTES if route.public)


def powertools_environment(fn: Function) -> dict[str, str]:
    """Powertools settings every function gets, in AWS and locally."""
    return {
        "POWERTOOLS_SERVICE_NAME": fn.service,
        "POWERTOOLS_METRICS_NAMESPACE": "shelfwise",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def local_environment(fn: Function) -> dict[str, str]:
    """The environment a function gets in the local cloud: resource names as the CDK app would set them."""
    env = {bucket.env: bucket.local_name for bucket in BUCKETS}
    env.update({table.env: table.local_name for table in TABLES})
    env[EVENT_BUS.env] = EVENT_BUS.local_name
    env[settings.STAGE_ENV] = "local"
    env.update(powertools_environment(fn))
    return env
