"""Service level the replenishment plan achieves against the one it states, on the Italian pasta sales.

For each origin the pipeline forecasts the 118 series from the 730 days before it (history only, and with
the window's promotion calendar), then `plan_replenishment` (the plan's own code) sets a reorder point for
every series at each lead time and service level below, from an empty position. The achieved cycle service
level is the share of series whose actual demand over the lead time stayed at or under that reorder point.

    .venv/bin/python benchmarks/replenishment_service.py [--write-docs]
    .venv/bin/python benchmarks/replenishment_service.py --validation   # the 50 coverage-grid cutoffs

Default origins are the forecasting benchmark's test windows (4 rolling windows ending on the last date, and
2018-11-01 / 2018-12-01). `--validation` uses the coverage grid, all before them, and also sweeps the daily
error correlation: the shipped value was chosen there. "previous" is the plan before that choice: days
independent and every day's spread read off the 95% bound alone.
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import replace
from pathlib import Path

import pandas as pd
from forecast_accuracy import DEFAULT_DATA, HOLIDAY_COUNTRY, coverage_grid, load_sales
from forecast_report import REPO_ROOT, machine_description, write_subsection
from shelfwise.forecast.config import ForecastConfig
from shelfwise.forecast.engine import forecast_shard
from shelfwise.forecast.replenishment import ReplenishmentConfig, plan_replenishment

LEAD_TIMES = (1, 3, 7, 14, 21)
SERVICE_LEVELS = (0.90, 0.95, 0.98, 0.99, 0.995)
SWEEP = (0.0, 0.1, 0.15, 0.2, 0.25, 0.3)
TEST_REFERENCE = ("2018-11-01", "2018-12-01")
PLOT = REPO_ROOT / "docs" / "replenishment_service.png"
TITLE = "Replenishment: service level achieved"
COMMAND = ".venv/bin/python benchmarks/replenishment_service.py --write-docs"


def inventory(skus: list[str], lead_time: int, service_level: float) -> pd.DataFrame:
    """An empty position at every series, so the reorder point alone decides what is covered."""
    return pd.DataFrame(
        {
            "sku": skus,
            "location": "store",
            "on_hand": 0.0,
            "on_order": 0.0,
            "lead_time_days": float(lead_time),
            "lead_time_sd_days": 0.0,
            "unit_cost": 1.0,
            "order_cost": 0.0,
            "holding_cost_rate": 0.25,
            "service_level": service_level,
            "moq": 0.0,
            "pack_size": 1.0,
        }
    )


def variants(validation: bool) -> dict[str, tuple[ReplenishmentConfig, bool, bool]]:
    """Name -> (plan settings, whether the plan sees hi_80, whether it sees the expected demand)."""
    found = {"previous": (ReplenishmentConfig(daily_error_correlation=0.0), False, False)}
    found["point demand"] = (ReplenishmentConfig(), True, False)
    found["shipped"] = (ReplenishmentConfig(), True, True)
    if validation:
        for correlation in SWEEP:
            settings = ReplenishmentConfig(daily_error_correlation=correlation)
            found[f"rho {correlation:g}"] = (settings, True, True)
    return found


def score_origin(
    sales: pd.DataFrame, origin: pd.Timestamp, config: ForecastConfig, validation: bool
) -> list[dict]:
    history = sales[(sales["date"] < origin) & (sales["date"] >= origin - pd.Timedelta(days=730))]
    window = sales[(sales["date"] >= origin) & (sales["date"] < origin + pd.Timedelta(days=config.horizon))]
    run_config = replace(config, end_date=(origin - pd.Timedelta(days=1)).date())
    forecasts = {
        "history only": forecast_shard(history, run_config)[0],
        "with calendar": forecast_shard(
            history, run_config, future_promo=window[["sku", "location", "date", "promo"]]
        )[0],
    }
    daily = window.sort_values("date").pivot_table(index="sku", columns="date", values="units", aggfunc="sum")
    records = []
    for mode, forecast in forecasts.items():
        forecast = forecast.assign(ds=pd.to_datetime(forecast["ds"]).dt.date)
        skus = sorted(forecast["sku"].unique())
        for name, (plan_config, with_hi_80, with_expected) in variants(validation).items():
            hidden = [] if with_hi_80 else ["hi_80"]
            seen = forecast.drop(columns=hidden + ([] if with_expected else ["expected"]))
            for lead_time in LEAD_TIMES:
                actual = daily.reindex(skus).iloc[:, :lead_time].sum(axis=1)
                for level in SERVICE_LEVELS:
                    plan = plan_replenishment(inventory(skus, lead_time, level), seen, config=plan_config)
                    lines = plan.plan.to_pandas().set_index("sku").reindex(skus)
                    points = lines["reorder_point"]
                    covered = actual.to_numpy() <= points.to_numpy() + 1e-9
                    records.append(
                        {
                            "origin": origin.date(),
                            "mode": mode,
                            "variant": name,
                            "lead_time": lead_time,
                            "stated": level,
                            "covered": int(covered.sum()),
                            "series": len(skus),
                            "planned_units": float(lines["lead_time_demand_mean"].sum()),
                            "actual_units": float(actual.sum()),
                        }
                    )
    return records


def achieved(records: pd.DataFrame) -> pd.DataFrame:
    grouped = records.groupby(["variant", "mode", "lead_time", "stated"])[["covered", "series"]].sum()
    return (100 * grouped["covered"] / grouped["series"]).rename("achieved").reset_index()


def demand_ratio(records: pd.DataFrame) -> pd.DataFrame:
    """The plan's lead-time demand over actual demand, summed over series and origins (1 is unbiased)."""
    once = records[records["stated"] == SERVICE_LEVELS[0]]
    sums = once.groupby(["variant", "mode", "lead_time"])[["planned_units", "actual_units"]].sum()
    return (sums["planned_units"] / sums["actual_units"]).rename("ratio").reset_index()


def gaps(table: pd.DataFrame) -> pd.DataFrame:
    gap = (table["achieved"] - 100 * table["stated"]).abs()
    return (
        table.assign(gap=gap)
        .groupby("variant")["gap"]
        .agg(mean_gap="mean", worst_gap="max")
        .round(2)
        .sort_values("mean_gap")
    )


def render(table: pd.DataFrame, ratios: pd.DataFrame, origins: list[str], seconds: float) -> str:
    lines = [
        f"Command: `{COMMAND}` ({seconds / 60:.0f} min). Machine: {machine_description()}.",
        "",
        f"Origins (the forecasting benchmark's test windows): {', '.join(origins)}; 118 series each. "
        "For every lead time and stated service level, `plan_replenishment` sets each series' reorder "
        "point from an empty position; the cell is the share of series whose actual demand over the "
        "lead time stayed at or under it (cycle service level; the target is the column's stated level). "
        "**previous**: days independent, each day's spread read off the 95% bound alone. **shipped**: "
        "daily errors correlated at 0.2 and each day's spread following the service level's z through "
        "the 80% and 95% bounds; both chosen on the 50 validation cutoffs (`--validation`), before these "
        "windows were scored.",
        "",
    ]
    for mode in ("history only", "with calendar"):
        lines += [f"{mode.capitalize()}:", ""]
        header = "| lead time | " + " | ".join(f"{level:.1%} prev / shipped" for level in SERVICE_LEVELS)
        lines += [header + " |", "|---:|" + "---:|" * len(SERVICE_LEVELS)]
        for lead_time in LEAD_TIMES:
            cells = []
            for level in SERVICE_LEVELS:
                pick = table[
                    (table["mode"] == mode) & (table["lead_time"] == lead_time) & (table["stated"] == level)
                ].set_index("variant")["achieved"]
                cells.append(f"{pick['previous']:.1f} / **{pick['shipped']:.1f}**")
            lines.append(f"| {lead_time} d | " + " | ".join(cells) + " |")
        lines.append("")
    summary = gaps(table)
    previous, shipped = summary.loc["previous"], summary.loc["shipped"]
    lines += [
        "Distance between achieved and stated, over the 50 cells above (points): previous mean "
        f"{previous['mean_gap']:.2f}, worst {previous['worst_gap']:.1f}; "
        f"shipped mean {shipped['mean_gap']:.2f}, worst {shipped['worst_gap']:.1f}. "
        f"Plot: `docs/{PLOT.name}`.",
        "",
        "Lead-time demand the plan states (the sum of its lines' `lead_time_demand_mean`) over the actual "
        "demand of those days, all series and origins: **point demand** sums the daily point forecasts "
        "(medians where a day's promotion is unknown), **shipped** their expected demand.",
        "",
        "| lead time | history only: point demand / shipped | with calendar: point demand / shipped |",
        "|---:|---:|---:|",
    ]
    for lead_time in LEAD_TIMES:
        cells = []
        for mode in ("history only", "with calendar"):
            pick = ratios[(ratios["mode"] == mode) & (ratios["lead_time"] == lead_time)]
            by_variant = pick.set_index("variant")["ratio"]
            cells.append(f"{by_variant['point demand']:.2f} / **{by_variant['shipped']:.2f}**")
        lines.append(f"| {lead_time} d | " + " | ".join(cells) + " |")
    point, shipped_gap = summary.loc["point demand"], summary.loc["shipped"]
    lines += [
        "",
        "Service-level distance with point demand (the plan before expected demand, same correlation and "
        f"spreads): mean {point['mean_gap']:.2f}, worst {point['worst_gap']:.1f}; shipped "
        f"{shipped_gap['mean_gap']:.2f}, worst {shipped_gap['worst_gap']:.1f}.",
    ]
    return "\n".join(lines)


def plot(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4.5), sharey=True)
    for axis, variant in zip(axes, ("previous", "shipped"), strict=True):
        for lead_time in LEAD_TIMES:
            rows = table[(table["variant"] == variant) & (table["lead_time"] == lead_time)]
            pooled = rows.groupby("stated")["achieved"].mean()
            axis.plot(100 * pooled.index, pooled.to_numpy(), marker="o", label=f"{lead_time} d lead time")
        axis.plot([89, 100], [89, 100], color="grey", linestyle="--", label="achieved = stated")
        axis.set_title(f"{variant} plan (both forecast modes)")
        axis.set_xlabel("stated service level (%)")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("achieved: demand over the lead time <= reorder point (%)")
    axes[1].legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--validation", action="store_true", help="the coverage grid, with the sweep")
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md and the plot")
    args = parser.parse_args()
    if not (args.data / "hierarchical_sales_data.csv").exists():
        print(f"pasta sales data not found under {args.data}; pass --data PATH. Nothing to benchmark.")
        return 0
    warnings.filterwarnings("ignore", category=FutureWarning)
    sales = load_sales(args.data)
    config = ForecastConfig(holiday_country=HOLIDAY_COUNTRY)
    if args.validation:
        origins = [pd.Timestamp(day) for day in coverage_grid()]
    else:
        last = sales["date"].max()
        rolling = [last - pd.Timedelta(days=config.horizon * k - 1) for k in range(4, 0, -1)]
        origins = rolling + [pd.Timestamp(day) for day in TEST_REFERENCE]
    started = time.perf_counter()
    records = []
    for number, origin in enumerate(origins, start=1):
        records += score_origin(sales, origin, config, args.validation)
        print(
            f"origin {origin.date()} ({number}/{len(origins)}), {time.perf_counter() - started:.0f} s",
            flush=True,
        )
    frame = pd.DataFrame(records)
    table, ratios = achieved(frame), demand_ratio(frame)
    print(gaps(table).to_string())
    print(ratios.pivot_table(index=["mode", "lead_time"], columns="variant", values="ratio").round(3))
    if args.validation:
        pivot = table[table["variant"].isin(["previous", "point demand", "shipped"])].pivot_table(
            index=["variant", "mode", "lead_time"], columns="stated", values="achieved"
        )
        print(pivot.round(1).to_string())
        return 0
    origin_names = [str(origin.date()) for origin in origins]
    report = render(table, ratios, origin_names, time.perf_counter() - started)
    print(report)
    if args.write_docs:
        plot(table, PLOT)
        write_subsection(TITLE, report)
        print(f"wrote '{TITLE}' in docs/benchmarks.md and {PLOT.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
