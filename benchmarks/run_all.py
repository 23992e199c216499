"""Run every benchmark, one after the other, each writing its own section of docs/benchmarks.md.

    .venv/bin/python benchmarks/run_all.py [--only ingest,chat,...]

Benchmarks on public datasets read them from ../shared/data and say so (and skip) when it is absent.
Each runs in its own process so one's memory does not colour another's numbers.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

BENCHMARKS: dict[str, list[str]] = {
    "ingest": ["ingest_benchmark.py"],
    "ingest-isolation": ["ingest_isolation.py"],
    "recommender-quality": ["recommender_quality.py"],
    "recommender-latency": ["recommender_latency.py"],
    "recommender-fairness": ["recommender_fairness.py"],
    "recommender-served": ["recommender_served.py"],
    "recommender-job-load": ["recommender_job_load.py", "--write-docs"],
    "chat": ["chat_benchmark.py"],
    # Speed, product path and rolling windows in one run: the targets are judged together.
    "forecast": ["forecast_all.py", "--write-docs"],
    "replenishment-service": ["replenishment_service.py", "--write-docs"],
    "crash-recovery": ["crash_recovery.py"],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    args = parser.parse_args(argv)
    selected = [name.strip() for name in args.only.split(",") if name.strip()] or list(BENCHMARKS)
    unknown = sorted(set(selected) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")

    failed: list[str] = []
    for name in selected:
        script, *flags = BENCHMARKS[name]
        print(f"== {name}: {script} {' '.join(flags)}", flush=True)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, str(HERE / script), *flags], check=False)
        print(f"== {name}: exit {result.returncode} after {time.perf_counter() - started:.0f} s", flush=True)
        if result.returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
