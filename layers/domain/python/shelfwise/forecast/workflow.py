"""The forecast workflow's event contract (pydantic only; see `shelfwise_infra.spec.Workflow`).

One function, three steps. Payloads stay small because Step Functions passes them between states (256 KiB
limit): a shard is its index, its series count and the run settings every shard must agree on; the data
itself travels through S3 (`shelfwise.forecast.layout`).

Settings come from the schedule's `detail` (all optional, strings allowed as EventBridge rules send them):
`horizon` (days, default 28), `as_of` (YYYY-MM-DD: last observed day; default the latest sales date),
`shard_size` (series per shard invocation, default `DEFAULT_SHARD_SIZE`), `report_max_plots` (safety cap on
the report's plots, default `shelfwise.forecast.report.DEFAULT_MAX_PLOTS`; the report says how many lines it
left out).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shelfwise.forecast.report import DEFAULT_MAX_PLOTS

# docs/benchmarks.md (Forecasting): about 56 series/s per core with cross-validated model choice, so 500
# series take ~9 s of a shard's 900 s budget, with ~15 s of cold start and S3 around them. 30,000 SKUs make
# 60 shards: at the workflow's concurrency of 50 that is two waves, about a minute of wall clock, and a
# retried shard repeats 500 series, not thousands. Much smaller shards would spend most time starting up.
DEFAULT_SHARD_SIZE = 500
DEFAULT_HORIZON = 28
MAX_HORIZON = 366
RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
# The API returns the report in one Lambda response (6 MB at most). A plot with its caption is about
# 1.3 KB and the plan table about 0.2 MB, so 3,000 plots (~4 MB) is the most a report may hold.
MAX_REPORT_PLOTS = 3_000

RunId = Annotated[str, Field(pattern=RUN_ID_PATTERN, description="Names the run's folder in S3.")]


class RunSettings(BaseModel):
    """What a schedule's `detail` may set."""

    model_config = ConfigDict(extra="ignore")

    horizon: int = Field(default=DEFAULT_HORIZON, ge=1, le=MAX_HORIZON)
    as_of: date | None = None
    shard_size: int = Field(default=DEFAULT_SHARD_SIZE, ge=1, le=20_000)
    report_max_plots: int = Field(default=DEFAULT_MAX_PLOTS, ge=0, le=MAX_REPORT_PLOTS)


class ScheduledEvent(BaseModel):
    """The part of an EventBridge scheduled event the plan step reads."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = ""
    time: datetime | None = None
    detail: RunSettings = Field(default_factory=RunSettings)


class Shard(BaseModel):
    index: int = Field(ge=0)
    series: int = Field(ge=0)
    horizon: int = Field(ge=1, le=MAX_HORIZON)
    as_of: date
    # Planned promotion days (series x day) in the horizon; when > 0 they are in the shard's promotions file.
    promo_days: int = Field(default=0, ge=0)
    # Whether the retailer sends a promotions calendar at all: with one, days it leaves out are unpromoted;
    # without, the forecast expects each series' recent promotion rate.
    promotion_calendar: bool = False


class PlanOutput(BaseModel):
    run_id: RunId
    plan_date: date
    as_of: date
    horizon: int
    shard_size: int
    series: int
    sales_rows: int
    shards: list[Shard]
    report_max_plots: int = Field(default=DEFAULT_MAX_PLOTS, ge=0, le=MAX_REPORT_PLOTS)
    # Problems seen while planning that no shard sees (e.g. rows dated after the as-of date).
    issues: dict[str, Any] = Field(default_factory=dict)


class ShardOutcome(BaseModel):
    """A shard step's result, or the orchestrator's `{"shard", "error"}` once its retries are spent."""

    model_config = ConfigDict(extra="ignore")

    shard: Shard
    error: str | None = None
    series: int | None = None
    forecast_rows: int | None = None
    models: dict[str, int] = Field(default_factory=dict)


class PlanStep(BaseModel):
    step: Literal["plan"]
    run_id: RunId
    scheduled_event: ScheduledEvent = Field(default_factory=ScheduledEvent)


class ShardStep(BaseModel):
    step: Literal["shard"]
    run_id: RunId
    shard: Shard


class FinalizeStep(BaseModel):
    step: Literal["finalize"]
    run_id: RunId
    plan: PlanOutput
    results: list[ShardOutcome]


# Any of the three steps, told apart by `step`.
WorkflowStep = Annotated[PlanStep | ShardStep | FinalizeStep, Field(discriminator="step")]


def rejected_plan(run_id: str, errors: list[dict[str, str]]) -> dict[str, Any]:
    """The plan step's answer to invalid schedule settings: no shards; finalize passes it on."""
    return {
        "status": "rejected",
        "run_id": run_id,
        "message": "The forecast run's settings are not valid; nothing was forecast.",
        "errors": errors,
        "shards": [],
    }
