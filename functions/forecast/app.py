"""The forecast workflow's function (container image): plan, forecast one shard, or finalize.

Invoked three ways by the `forecast` workflow (`shelfwise_infra.spec.Workflow`): in AWS by Step Functions
(a Distributed Map over the shards), locally by the platform's process pool. The work lives in
`shelfwise.forecast.planning`, `.shard_run` and `.finalize`.

Per-deployment plan settings (currency, maximum days of supply, service levels per class, review period)
come from the function's environment, validated by `shelfwise.forecast.plan_settings`.
"""

from __future__ import annotations

import os
import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import ValidationError, parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from shelfwise.forecast.config import ForecastConfig
from shelfwise.forecast.finalize import finalize_run
from shelfwise.forecast.plan_settings import plan_settings_from_env
from shelfwise.forecast.planning import plan_run
from shelfwise.forecast.shard_run import run_shard
from shelfwise.forecast.workflow import FinalizeStep, PlanStep, ShardStep, WorkflowStep, rejected_plan
from shelfwise.settings import Settings

logger, tracer, metrics = Logger(), Tracer(), Metrics()


class InvalidWorkflowEvent(ValueError):
    """The orchestrator sent a step this function cannot read: a wiring bug, so the step fails loudly."""


@logger.inject_lambda_context(log_event=False, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("step") == "plan":
        problems = _problems(event, PlanStep)
        if problems:
            # A schedule's settings are the operator's input: answered with a report, not a crash.
            logger.error("forecast run rejected", extra={"errors": problems})
            metrics.add_metric(name="RejectedRuns", unit=MetricUnit.Count, value=1)
            return rejected_plan(str(event.get("run_id", "")), problems)
    if event.get("step") == "finalize" and (event.get("plan") or {}).get("status") == "rejected":
        metrics.add_metric(name="RejectedRuns", unit=MetricUnit.Count, value=1)
        return event["plan"]
    try:
        step = parse(event=event, model=WorkflowStep)
    except ValidationError as error:
        raise InvalidWorkflowEvent(f"not a forecast workflow step: {_describe(error)}") from None
    settings = Settings.from_env()
    logger.append_keys(run_id=step.run_id, step=step.step)
    if isinstance(step, PlanStep):
        return _plan(step, settings)
    if isinstance(step, ShardStep):
        return _shard(step, settings)
    return _finalize(step, settings)


@tracer.capture_method
def _plan(step: PlanStep, settings: Settings) -> dict[str, Any]:
    output = plan_run(
        step.run_id,
        step.scheduled_event.detail,
        bucket=settings.data_bucket,
        now=step.scheduled_event.time,
    )
    metrics.add_metric(name="SeriesPlanned", unit=MetricUnit.Count, value=output.series)
    metrics.add_metric(name="ShardsPlanned", unit=MetricUnit.Count, value=len(output.shards))
    logger.info(
        "forecast run planned",
        extra={"as_of": output.as_of.isoformat(), "series": output.series, "shards": len(output.shards)},
    )
    return output.model_dump(mode="json")


@tracer.capture_method
def _shard(step: ShardStep, settings: Settings) -> dict[str, Any]:
    started = time.monotonic()
    country = plan_settings_from_env(os.environ).holiday_country
    outcome = run_shard(
        step.run_id,
        step.shard,
        bucket=settings.data_bucket,
        config=ForecastConfig(horizon=step.shard.horizon, end_date=step.shard.as_of, holiday_country=country),
        progress=lambda done, total: logger.debug("shard progress", extra={"done": done, "total": total}),
    )
    seconds = time.monotonic() - started
    metrics.add_metric(name="SeriesForecast", unit=MetricUnit.Count, value=outcome.series or 0)
    metrics.add_metric(name="ShardSeconds", unit=MetricUnit.Seconds, value=seconds)
    logger.info(
        "shard forecast",
        extra={"shard": step.shard.index, "series": outcome.series, "models": outcome.models},
    )
    return outcome.model_dump(mode="json", exclude_none=True)


@tracer.capture_method
def _finalize(step: FinalizeStep, settings: Settings) -> dict[str, Any]:
    plan_settings = plan_settings_from_env(os.environ)
    summary = finalize_run(
        step,
        bucket=settings.data_bucket,
        forecasts_table=settings.forecasts_table,
        plans_table=settings.plans_table,
        event_bus=settings.event_bus,
        replenishment=plan_settings.replenishment(),
        currency=plan_settings.currency,
    )
    metrics.add_metric(name="PlanLines", unit=MetricUnit.Count, value=summary["plan"]["lines"])
    metrics.add_metric(name="PlanOrders", unit=MetricUnit.Count, value=summary["plan"]["needing_order"])
    metrics.add_metric(name="FailedShards", unit=MetricUnit.Count, value=len(summary["failed_shards"]))
    logger.info(
        "replenishment plan ready",
        extra={
            "plan_date": summary["plan_date"],
            "plan": summary["plan"],
            "failed": summary["failed_shards"],
        },
    )
    return summary


def _problems(event: dict[str, Any], model: type[PlanStep]) -> list[dict[str, str]]:
    try:
        model.model_validate(event)
    except ValidationError as error:
        return [
            {"field": ".".join(str(part) for part in issue["loc"]), "message": issue["msg"]}
            for issue in error.errors()
        ]
    return []


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in issue['loc']) or 'event'}: {issue['msg']}"
        for issue in error.errors()
    )
