"""Where a forecast run keeps its files in the data bucket (standard library only).

forecasts/runs/<run_id>/input/shard-NNNN.parquet    sales rows of one shard's series (plan step)
forecasts/runs/<run_id>/input/shard-NNNN.promotions.parquet   its planned promotion days in the horizon
forecasts/runs/<run_id>/output/shard-NNNN.parquet   that shard's daily forecasts (shard step)
forecasts/runs/<run_id>/output/shard-NNNN.summary.parquet   one row per series: class, model, issues
forecasts/daily/<plan_date>/forecasts.parquet       every forecast of the run that made that plan
plans/<plan_date>/plan.csv | plan.parquet | report.html | summary.json
plans/latest.json                                   {"plan_date", "run_id", ...} of the newest plan
"""

from __future__ import annotations

from datetime import date

FORECASTS_PREFIX = "forecasts/"
PLANS_PREFIX = "plans/"
RUNS_PREFIX = f"{FORECASTS_PREFIX}runs/"
DAILY_PREFIX = f"{FORECASTS_PREFIX}daily/"
LATEST_PLAN_KEY = f"{PLANS_PREFIX}latest.json"
PLAN_FILES = ("plan.csv", "plan.xlsx", "plan.parquet", "report.html", "summary.json")


def run_prefix(run_id: str) -> str:
    return f"{RUNS_PREFIX}{run_id}/"


def shard_input_key(run_id: str, index: int) -> str:
    return f"{run_prefix(run_id)}input/shard-{index:04d}.parquet"


def shard_promotions_key(run_id: str, index: int) -> str:
    return f"{run_prefix(run_id)}input/shard-{index:04d}.promotions.parquet"


def shard_output_key(run_id: str, index: int) -> str:
    return f"{run_prefix(run_id)}output/shard-{index:04d}.parquet"


def shard_summary_key(run_id: str, index: int) -> str:
    return f"{run_prefix(run_id)}output/shard-{index:04d}.summary.parquet"


def daily_forecasts_key(plan_date: date) -> str:
    return f"{DAILY_PREFIX}{plan_date.isoformat()}/forecasts.parquet"


def plan_date_from_daily_key(key: str) -> date | None:
    """The plan date a `forecasts/daily/<date>/forecasts.parquet` key belongs to; None for other keys."""
    parts = key[len(DAILY_PREFIX) :].split("/") if key.startswith(DAILY_PREFIX) else []
    if len(parts) != 2 or parts[1] != "forecasts.parquet":
        return None
    try:
        return date.fromisoformat(parts[0])
    except ValueError:
        return None


def plan_key(plan_date: date, name: str) -> str:
    if name not in PLAN_FILES:
        raise ValueError(f"unknown plan file {name!r}; known: {', '.join(PLAN_FILES)}")
    return f"{PLANS_PREFIX}{plan_date.isoformat()}/{name}"
