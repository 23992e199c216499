"""Forecasting throughput: our pipeline against plain AutoETS(7), and the AWS fan-out arithmetic for 30k SKUs.

The catalog is synthetic (30,000 daily series of 365 days plus 28 held-out days: weekly-seasonal, intermittent
and lumpy demand, promotions on some days). A sample is timed on one core (n_jobs=1) and the rate is
extrapolated to the catalog; the held-out days give both methods' MASE on the same sample.

    .venv/bin/python benchmarks/forecast_speed.py [--sample 600] [--baseline-sample 200] [--write-docs]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from forecast_report import machine_description, write_subsection
from shelfwise.forecast.config import ForecastConfig
from shelfwise.forecast.engine import forecast_shard
from shelfwise.forecast.metrics import mase
from statsforecast import StatsForecast
from statsforecast.models import AutoETS

HISTORY_DAYS = 365
HOLDOUT_DAYS = 28
LAMBDA_TIMEOUT_S = 900


def synthetic_catalog(count: int, seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sales rows for `count` series (history + holdout) and the promotion calendar of the holdout."""
    rng = np.random.default_rng(seed)
    days = HISTORY_DAYS + HOLDOUT_DAYS
    dates = pd.date_range("2024-01-01", periods=days, freq="D")
    weekday = dates.dayofweek.to_numpy()
    frames = []
    for index in range(count):
        kind = rng.choice(["smooth", "intermittent", "lumpy"], p=[0.6, 0.3, 0.1])
        level = rng.lognormal(1.2, 1.0) if kind == "smooth" else rng.lognormal(-0.5, 0.6)
        shape = rng.normal(1.0, 0.25, 7).clip(0.2)
        trend = 1 + rng.normal(0, 0.3) * np.arange(days) / days
        promo = rng.random(days) < rng.uniform(0.0, 0.2)
        rate = level * shape[weekday] / shape.mean() * trend * np.where(promo, rng.uniform(1.3, 2.5), 1.0)
        units = rng.poisson(rate.clip(0)) * (rng.integers(1, 8, days) if kind == "lumpy" else 1)
        frames.append(
            pd.DataFrame(
                {
                    "sku": f"SKU{index:05d}",
                    "location": "DC1",
                    "date": dates,
                    "units": units.astype(float),
                    "promo": promo,
                }
            )
        )
    sales = pd.concat(frames, ignore_index=True)
    return sales, sales[sales["date"] >= dates[HISTORY_DAYS]]


def holdout_mase(forecasts: pd.DataFrame, column: str, history: pd.DataFrame, holdout: pd.DataFrame) -> float:
    truth = holdout.assign(unique_id=holdout["sku"] + "|" + holdout["location"], ds=holdout["date"])
    merged = truth.merge(forecasts[["unique_id", "ds", column]], on=["unique_id", "ds"])
    histories = {
        uid: units.to_numpy()
        for uid, units in history.groupby(history["sku"] + "|" + history["location"])["units"]
    }
    scores = [
        mase(rows["units"].to_numpy(), rows[column].to_numpy(), histories[uid], 7)
        for uid, rows in merged.groupby("unique_id")
    ]
    return float(np.nanmean(scores))


@dataclass(frozen=True)
class SpeedResult:
    ours_rate: float  # series per second, one core
    base_rate: float
    ours_mase: float  # on the held-out days of the first `baseline_sample` series
    base_mase: float
    summary: pd.DataFrame

    @property
    def ratio(self) -> float:
        return self.ours_rate / self.base_rate


def measure(sample: int = 600, baseline_sample: int = 200) -> SpeedResult:
    """Times our pipeline on `sample` synthetic series and plain AutoETS(7) on `baseline_sample`, one core."""
    sales, holdout = synthetic_catalog(max(sample, baseline_sample))
    history = sales[sales["date"] < holdout["date"].min()]
    ids = sorted(history["sku"].unique())
    ours_history = history[history["sku"].isin(ids[:sample])]
    base_history = history[history["sku"].isin(ids[:baseline_sample])]

    config = ForecastConfig(horizon=HOLDOUT_DAYS)
    started = time.perf_counter()
    ours, summary = forecast_shard(
        ours_history,
        config,
        future_promo=holdout[["sku", "location", "date", "promo"]],
        progress=lambda done, total: print(f"  shelfwise: {done}/{total} series", flush=True),
    )
    ours_rate = sample / (time.perf_counter() - started)

    long = pd.DataFrame(
        {"unique_id": base_history["sku"] + "|DC1", "ds": base_history["date"], "y": base_history["units"]}
    )
    started = time.perf_counter()
    baseline = StatsForecast(models=[AutoETS(season_length=7)], freq="D", n_jobs=1).forecast(
        df=long, h=HOLDOUT_DAYS
    )
    base_rate = baseline_sample / (time.perf_counter() - started)
    print(f"  AutoETS: {baseline_sample} series done", flush=True)

    common = ours[ours["sku"].isin(ids[:baseline_sample])]
    ours_mase = holdout_mase(common, "mean", base_history, holdout)
    base_mase = holdout_mase(baseline, "AutoETS", base_history, holdout)
    return SpeedResult(ours_rate, base_rate, ours_mase, base_mase, summary)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=int, default=30_000)
    parser.add_argument("--sample", type=int, default=600, help="series timed through our pipeline")
    parser.add_argument("--baseline-sample", type=int, default=200, help="series timed through plain AutoETS")
    parser.add_argument("--shard-size", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=100, help="forecast Lambdas running at once")
    parser.add_argument(
        "--overhead-s", type=float, default=15.0, help="per shard: cold start, S3 read and write"
    )
    parser.add_argument("--write-docs", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)

    result = measure(args.sample, args.baseline_sample)
    report = render(args, result)
    print(report)
    if args.write_docs:
        write_subsection("Speed (synthetic 30,000-SKU catalog)", report)
    return 0


COMMAND = ".venv/bin/python benchmarks/forecast_speed.py --write-docs"


def render(args: argparse.Namespace, result: SpeedResult, command: str = COMMAND) -> str:
    ours_rate, base_rate, summary = result.ours_rate, result.base_rate, result.summary
    ours_mase, base_mase = result.ours_mase, result.base_mase
    shards = math.ceil(args.catalog / args.shard_size)
    forecasting_s = args.shard_size / ours_rate
    shard_s = forecasting_s + args.overhead_s
    waves = math.ceil(shards / args.concurrency)
    models = ", ".join(
        f"{name} {share:.0%}" for name, share in summary["model"].value_counts(normalize=True).items()
    )
    defaults = ForecastConfig()
    choice = (
        "median combinations of 3 models per class"
        if len(defaults.smooth_models) == 1 and len(defaults.intermittent_models) == 1
        else "CV model choice"
    )
    ours_label = (
        f"shelfwise pipeline (cleaning, promotion and profile adjustment, {choice}, "
        f"{defaults.cv_windows}-window CV for conformal intervals)"
    )
    return "\n".join(
        [
            f"Command: `{command}`. Machine: {machine_description()}.",
            "",
            f"Measured on samples of the catalog on one core (n_jobs=1), {HISTORY_DAYS}-day daily series, "
            "then extrapolated:",
            "",
            f"| method | sample | series/s/core | {args.catalog:,} series on one core | "
            f"MASE on {HOLDOUT_DAYS} held-out days (same {args.baseline_sample} series) |",
            "|---|---|---|---|---|",
            f"| {ours_label} | {args.sample} | {ours_rate:.1f} | {args.catalog / ours_rate / 60:.0f} min | "
            f"{ours_mase:.3f} |",
            f"| plain `StatsForecast([AutoETS(season_length=7)])`, no intervals | {args.baseline_sample} | "
            f"{base_rate:.1f} | {args.catalog / base_rate / 60:.0f} min | {base_mase:.3f} |",
            "",
            f"Throughput: **{ours_rate / base_rate:.1f}x** plain AutoETS (target >= 3x). Models: {models}.",
            "",
            f"AWS fan-out (extrapolated; assumes a 1-vCPU Lambda is as fast as one core here): "
            f"{args.catalog:,} SKUs in shards of {args.shard_size} = {shards} invocations; at concurrency "
            f"{args.concurrency} that is {waves} wave(s). Per shard {forecasting_s:.0f} s of forecasting + "
            f"{args.overhead_s:.0f} s for cold start and S3 = {shard_s:.0f} s, "
            f"{shard_s / LAMBDA_TIMEOUT_S:.0%} of the 900 s timeout. Wall-clock about "
            f"{waves * shard_s / 60:.1f} min (target <= 10 min).",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
