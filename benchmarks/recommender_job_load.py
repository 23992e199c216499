"""The recommender training job on the demo shop, alone and beside a CPU-bound neighbour.

    .venv/bin/python benchmarks/recommender_job_load.py [--write-docs] [--threads N] [--neighbour-threads 2]
        [--default-model]

Starts a local cloud in a temporary state folder, ingests the shop `shelfwise demo` generates, then runs the
recommender job through the local training runner (as the demo's background step does) twice: alone, and
with a neighbour process running numpy matrix products on `--neighbour-threads` threads the whole time. It
trains the model the demo trains (`--default-model`: the job's default instead) and
reports both wall-clock times and their ratio (target: at most 2.5x) and, with `--write-docs`, writes them to
docs/benchmarks.md. `--threads` sets SHELFWISE_TRAINING_THREADS for the job (every thread pool; default:
the runner's choice, see infra/shelfwise_local/training.py). The machine's load average is recorded with
each run: on a shared machine the other work shows in both numbers.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _common import command_line, machine_line, markdown_table, write_section

TARGET_RATIO = 2.5
# A CPU-bound neighbour: matrix products in a loop, on as many BLAS threads as it is given.
NEIGHBOUR = """
import numpy as np
rng = np.random.default_rng(0)
a, b = rng.random((1500, 1500)), rng.random((1500, 1500))
while True:
    a = (a @ b) / 1500.0
"""


@dataclass(frozen=True)
class JobRun:
    seconds: float
    load_before: tuple[float, float, float]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=None, help="SHELFWISE_TRAINING_THREADS for the job")
    parser.add_argument("--neighbour-threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument(
        "--default-model",
        action="store_true",
        help="train the job's default model instead of the one the demo chooses (EASE low-rank)",
    )
    args = parser.parse_args(argv)

    from shelfwise_infra import spec
    from shelfwise_local.cloud import LocalCloud, free_port_pair
    from shelfwise_local.demo_run import (
        DemoConsole,
        choose_demo_hyperparameters,
        deliver_shop,
        generate_demo_shop,
    )
    from shelfwise_local.training import TRAINING_THREADS_ENV, training_threads

    if args.threads is not None:
        os.environ[TRAINING_THREADS_ENV] = str(args.threads)
    threads = training_threads(os.environ)
    job = spec.training_job("recommender")
    with tempfile.TemporaryDirectory(prefix="shelfwise-job-load-") as scratch:
        state_dir = Path(scratch) / "state"
        cloud = LocalCloud(state_dir, port=free_port_pair(), function_log_path=state_dir / "functions.jsonl")
        files = generate_demo_shop(state_dir / "demo-data", args.seed)
        if not args.default_model:
            choose_demo_hyperparameters(state_dir)
        cloud.start()
        try:
            deliver_shop(cloud, files, DemoConsole())

            def timed_job() -> JobRun:
                load = os.getloadavg()
                started = time.perf_counter()
                cloud.run_training_job(job)
                seconds = time.perf_counter() - started
                # The registry judges the new archive in this process: let it finish before the next run.
                cloud.wait_until_idle(600.0)
                return JobRun(seconds, load)

            print(f"recommender job alone ({threads} thread(s)) ...", flush=True)
            alone = timed_job()
            print(f"  {alone.seconds:.1f} s", flush=True)
            neighbour_environment = {
                **os.environ,
                **{
                    name: str(args.neighbour_threads)
                    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
                },
            }
            neighbour = subprocess.Popen([sys.executable, "-c", NEIGHBOUR], env=neighbour_environment)
            try:
                time.sleep(3.0)  # the neighbour is busy before the job starts
                print(f"recommender job beside a {args.neighbour_threads}-thread numpy loop ...", flush=True)
                loaded = timed_job()
            finally:
                neighbour.terminate()
                neighbour.wait(timeout=30)
            print(f"  {loaded.seconds:.1f} s", flush=True)
        finally:
            cloud.stop()

    ratio = loaded.seconds / alone.seconds
    verdict = "within" if ratio <= TARGET_RATIO else "over"
    print(f"ratio {ratio:.2f}x ({verdict} the {TARGET_RATIO}x target)")
    if args.write_docs:
        write_docs(args, threads, alone, loaded, ratio)
    return 0


def _load(run: JobRun) -> str:
    return " / ".join(f"{value:.2f}" for value in run.load_before)


def write_docs(args: argparse.Namespace, threads: int, alone: JobRun, loaded: JobRun, ratio: float) -> None:
    beside = f"beside a {args.neighbour_threads}-thread numpy loop"
    pools = (
        f"every thread pool at {args.threads} thread(s)"
        if args.threads is not None
        else "BLAS pools of one thread, idle OpenMP threads asleep, PyTorch's pool sized by the job"
    )
    table = markdown_table(
        ["run", "wall-clock", "load average before (1 / 5 / 15 min)"],
        [
            ["alone", f"{alone.seconds:.1f} s", _load(alone)],
            [beside, f"{loaded.seconds:.1f} s", _load(loaded)],
            ["ratio", f"{ratio:.2f}x (target <= {TARGET_RATIO}x)", ""],
        ],
    )
    default = "the job's default (EASE + Mult-VAE blend)"
    model = default if args.default_model else "EASE low-rank, as the demo trains it"
    body = f"""
The recommender training job on the demo shop (`shelfwise demo`'s: 3,000 items, 5,000 customers, six months
of events), run through the local training runner as the demo runs it — channel download, the job process
(`SM_NUM_CPUS={threads}`, {pools}; see `infra/shelfwise_local/training.py`), the model archive — once alone,
once while a neighbour process multiplies 1500x1500 matrices in a loop on {args.neighbour_threads} OpenBLAS
thread(s). Model: {model}. Wall-clock from the job's start to its archive in S3; one run each.

{table}

{machine_line()}

Command: `{command_line()}`
"""
    write_section("Recommender", "Training job alone and under load (demo shop)", body)


if __name__ == "__main__":
    sys.exit(main())
