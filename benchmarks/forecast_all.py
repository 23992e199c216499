"""Every forecasting measurement in one run: speed ratio, accuracy through the product path, rolling windows.

The forecasting targets are judged together (the product path's accuracy must not be bought with speed), so
this runs, one after the other on the same machine:

1. `forecast_speed`: our pipeline against plain AutoETS(7) on a synthetic catalog, one core;
2. `forecast_product_path`: the pasta sales through clean local clouds (`shelfwise run forecast`, then the
   forecast API), history only and with the campaign calendar, on the two reference cutoffs;
3. `forecast_accuracy`: the rolling and reference windows against AutoETS, AutoTheta and their mean.

and writes each one's subsection of docs/benchmarks.md plus "Targets in one run", the verdicts of the issue's
targets from this run with the machine's load average.

    .venv/bin/python benchmarks/forecast_all.py [--data PATH] [--write-docs] [--skip-rolling]
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import forecast_accuracy
import forecast_product_path
import forecast_speed
import pandas as pd
from forecast_report import machine_description, write_subsection

COMMAND = ".venv/bin/python benchmarks/forecast_all.py --write-docs"
SPEED_TARGET = 3.0


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=forecast_accuracy.DEFAULT_DATA)
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument(
        "--skip-rolling", action="store_true", help="leave out step 3 (the slow baseline table)"
    )
    args = parser.parse_args(argv)
    if not (args.data / "hierarchical_sales_data.csv").exists():
        print(f"pasta sales data not found under {args.data}; pass --data PATH. Nothing to benchmark.")
        return 0
    warnings.filterwarnings("ignore", category=FutureWarning)
    loads = {"start": load_average()}

    speed_args = forecast_speed.build_parser().parse_args([])
    speed = forecast_speed.measure(speed_args.sample, speed_args.baseline_sample)
    speed_report = forecast_speed.render(speed_args, speed, command=COMMAND)
    print(speed_report, flush=True)
    loads["after speed"] = load_average()

    product = forecast_product_path.measure(forecast_accuracy.load_sales(args.data))
    product_report = forecast_product_path.render(product, args, command=COMMAND)
    print(product_report, flush=True)
    loads["after product path"] = load_average()

    summary = render(product, speed, loads)
    print(summary, flush=True)
    if args.write_docs:
        write_subsection("Targets in one run", summary)
        write_subsection("Speed (synthetic 30,000-SKU catalog)", speed_report)
        write_subsection("Accuracy through the product path (local cloud)", product_report)
    if not args.skip_rolling:
        rolling_argv = ["--data", str(args.data), *(["--write-docs"] if args.write_docs else [])]
        return forecast_accuracy.main(rolling_argv, command=COMMAND)
    return 0


def render(product: pd.DataFrame, speed: forecast_speed.SpeedResult, loads: dict[str, str]) -> str:
    lines = [
        f"Command: `{COMMAND}` (one process: speed, then the product path, then the rolling-window "
        f"table of the Accuracy subsection). Machine: {machine_description()}. "
        "Load average (1 / 5 / 15 min): "
        + "; ".join(f"{when} {value}" for when, value in loads.items())
        + ".",
        "",
        f"- Speed: **{speed.ratio:.1f}x** plain AutoETS(7) (target >= {SPEED_TARGET:.0f}x: "
        f"{'met' if speed.ratio >= SPEED_TARGET else 'NOT met'}).",
    ]
    lines += [f"- Product path, {line}." for line in forecast_product_path.verdicts(product)]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
