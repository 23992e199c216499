"""Training jobs run locally the way SageMaker runs them.

SageMaker downloads each channel's S3 prefix into `/opt/ml/input/data/<channel>/`, starts the container with
`train`, streams its output to CloudWatch, and on success archives `/opt/ml/model` as
`<output path><training-job-name>/output/model.tar.gz`; on failure the job's status reason is the text the
container wrote to `/opt/ml/output/failure`. Here the same happens under `<state>/training/<job-name>/` with
the job's entrypoint run by this Python, so the training code cannot tell the difference.

Two things SageMaker does not need to do are done here. A training job gets a dedicated instance there; here
it shares the laptop with the API, the forecast workers and whatever else runs. Thread pools that wait by
spinning, or that are larger than the cores left to them, then spend their time waiting on threads the
scheduler has parked: on two shared cores a 2,955-item `numpy.linalg.eigh` took 55 s with two OpenBLAS
threads and 15 s with one, 103 s and 67 s beside a busy neighbour. So a local training process gets
`SM_NUM_CPUS` = the cores it may use (as SageMaker gives the instance's), OpenBLAS-style BLAS pools of one
thread, idle OpenMP threads that sleep, and OpenMP itself (PyTorch's intra-op pool, MKL) left to the job or to
OpenMP's default, the cores of the process's affinity: a job that sizes its pools from the load, as the
recommender does, is not overruled. `SHELFWISE_TRAINING_THREADS=N` sets every pool to N; a pool variable
already set in the environment is kept. And a silent job gets a heartbeat line every `HEARTBEAT_SECONDS`,
so the console never goes quiet for long.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shelfwise.aws import dynamodb
from shelfwise_infra import spec

log = logging.getLogger("shelfwise.local")

# SageMaker keeps at most this much of the failure file as the job's FailureReason.
MAX_FAILURE_CHARS = 1024
MODEL_ARCHIVE = "output/model.tar.gz"
HYPERPARAMETERS_DIR = "hyperparameters"
# Sets every thread pool of a local training process to this many threads (default: see the module doc).
TRAINING_THREADS_ENV = "SHELFWISE_TRAINING_THREADS"
# Pools of BLAS libraries whose idle threads spin (OpenBLAS: numpy's and scipy's wheels; BLIS; Accelerate on
# macOS) and numexpr (pandas): one thread unless told otherwise. Their large products are few in these jobs.
BLAS_THREAD_VARIABLES = (
    "OPENBLAS_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
# OpenMP pools: PyTorch's intra-op pool and scikit-learn's (OMP), PyTorch's BLAS on x86 (MKL).
OPENMP_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
THREAD_LIMIT_VARIABLES = OPENMP_THREAD_VARIABLES + BLAS_THREAD_VARIABLES
# Idle OpenMP threads sleep rather than spin: a spinning thread takes the core another process (or another of
# the job's own threads, parked by the scheduler) needs.
IDLE_THREAD_POLICY = {"OMP_WAIT_POLICY": "PASSIVE"}
# A job that prints nothing for this long gets a "still training" line from the runner.
HEARTBEAT_SECONDS = 30.0


class TrainingJobFailedError(RuntimeError):
    """The training process exited non-zero; the message is what it wrote to its failure file."""


@dataclass(frozen=True)
class TrainingLayout:
    """The SageMaker directory layout of one training job, rooted at `root` instead of `/opt/ml`."""

    root: Path

    @property
    def input_data(self) -> Path:
        return self.root / "input" / "data"

    def channel(self, name: str) -> Path:
        return self.input_data / name

    @property
    def config(self) -> Path:
        return self.root / "input" / "config"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def output_data(self) -> Path:
        return self.root / "output" / "data"

    @property
    def failure(self) -> Path:
        return self.root / "output" / "failure"


def local_hyperparameters(state_dir: Path, job: spec.TrainingJob) -> dict[str, str]:
    """The deployment's hyperparameters for `job` locally: `<state dir>/hyperparameters/<job>.json`.

    A flat JSON object; values become strings as SageMaker passes them (the job validates names and values).
    No file: no hyperparameters, the job's defaults.
    """
    path = state_dir / HYPERPARAMETERS_DIR / f"{job.name}.json"
    if not path.is_file():
        return {}
    settings = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(settings, dict) or any(isinstance(value, dict | list) for value in settings.values()):
        raise ValueError(f"{path} must be a flat JSON object of hyperparameter names to values")
    return {str(name): str(value) for name, value in settings.items()}


def training_job_name(job: spec.TrainingJob, at: datetime, stage: str = "local") -> str:
    """`<stage>-<job>-<start time>`, the same shape the Step Functions state machine gives in AWS."""
    moment = at.astimezone(UTC)
    return f"{stage}-{job.name}-{moment:%Y%m%dT%H%M%S}{moment.microsecond // 1000:03d}"


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, which a container's cpuset also narrows)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # macOS has no affinity API
        return os.cpu_count() or 1


def configured_threads(base: Mapping[str, str]) -> int | None:
    """`SHELFWISE_TRAINING_THREADS` from `base`, or None when it is not set."""
    configured = base.get(TRAINING_THREADS_ENV, "").strip()
    if not configured:
        return None
    try:
        threads = int(configured)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ValueError(f"{TRAINING_THREADS_ENV} must be a whole number >= 1, not {configured!r}")
    return threads


def training_threads(base: Mapping[str, str]) -> int:
    """The cores a local training process may use: `SHELFWISE_TRAINING_THREADS`, else this process's."""
    return configured_threads(base) or available_cores()


def thread_limits(base: Mapping[str, str]) -> dict[str, str]:
    """The thread-pool variables of a local training process (see the module doc).

    A variable already set in `base` is kept: whoever set it chose for this machine.
    """
    configured = configured_threads(base)
    if configured is not None:
        limits = {name: str(configured) for name in THREAD_LIMIT_VARIABLES}
    else:
        limits = dict.fromkeys(BLAS_THREAD_VARIABLES, "1")
    limits |= IDLE_THREAD_POLICY
    return {name: base.get(name) or value for name, value in limits.items()}


def sagemaker_environment(
    job: spec.TrainingJob,
    job_name: str,
    layout: TrainingLayout,
    base: Mapping[str, str],
    hyperparameters: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment SageMaker's training toolkit gives the container, on top of `base`.

    `SM_NUM_CPUS` counts the cores the process may use (see `training_threads`), as SageMaker's count is the
    instance's cores; the thread-pool variables are `thread_limits`.
    """
    threads = training_threads(base)
    channels = sorted(job.channels)
    training_env = {
        "job_name": job_name,
        "channel_input_dirs": {name: str(layout.channel(name)) for name in channels},
        "model_dir": str(layout.model),
        "output_data_dir": str(layout.output_data),
        "input_data_config": {
            name: {"S3DistributionType": "FullyReplicated", "TrainingInputMode": "File"} for name in channels
        },
        "hyperparameters": dict(hyperparameters or {}),
        "current_host": "algo-1",
        "hosts": ["algo-1"],
        "num_cpus": threads,
        "num_gpus": 0,
    }
    environment = dict(base)
    environment.update(thread_limits(base))
    environment.update(
        {
            "SM_MODEL_DIR": str(layout.model),
            "SM_OUTPUT_DATA_DIR": str(layout.output_data),
            "SM_OUTPUT_FAILURE": str(layout.failure),
            "SM_INPUT_DIR": str(layout.root / "input"),
            "SM_INPUT_CONFIG_DIR": str(layout.config),
            "SM_CHANNELS": json.dumps(channels),
            "SM_HPS": json.dumps(dict(hyperparameters or {})),
            "SM_CURRENT_HOST": "algo-1",
            "SM_HOSTS": json.dumps(["algo-1"]),
            "SM_NUM_CPUS": str(training_env["num_cpus"]),
            "SM_NUM_GPUS": "0",
            "SM_TRAINING_ENV": json.dumps(training_env),
            "TRAINING_JOB_NAME": job_name,
            "PYTHONUNBUFFERED": "1",
        }
    )
    for name in channels:
        environment[f"SM_CHANNEL_{name.upper()}"] = str(layout.channel(name))
    return environment


def download_channels(s3: Any, bucket: str, job: spec.TrainingJob, layout: TrainingLayout) -> dict[str, int]:
    """Copy each channel's prefix to its input folder, keeping key paths below the prefix.

    Marker objects (any path part starting with `.`, such as ingestion's `.manifest` files) are skipped, as
    they are no data. An empty prefix gives an empty folder: the job decides what that means.
    """
    counts: dict[str, int] = {}
    for name, prefix in sorted(job.channels.items()):
        target = layout.channel(name)
        target.mkdir(parents=True, exist_ok=True)
        counts[name] = 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                relative = entry["Key"][len(prefix) :]
                parts = [part for part in relative.split("/") if part]
                if not parts or relative.endswith("/") or any(part.startswith(".") for part in parts):
                    continue
                if any(part == ".." for part in parts):
                    continue
                destination = target.joinpath(*parts)
                destination.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, entry["Key"], str(destination))
                counts[name] += 1
    return counts


def build_model_archive(model_dir: Path, archive: Path) -> list[str]:
    """tar.gz of everything under `model_dir`, paths relative to it (as SageMaker packs /opt/ml/model)."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    members: list[str] = []
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(model_dir.rglob("*")):
            relative = path.relative_to(model_dir).as_posix()
            if path.is_file() or (path.is_dir() and not any(path.iterdir())):
                tar.add(path, arcname=relative, recursive=False)
                if path.is_file():
                    members.append(relative)
    return members


def read_failure(layout: TrainingLayout, exit_code: int) -> str:
    if layout.failure.is_file():
        text = layout.failure.read_text("utf-8", errors="replace").strip()
        if text:
            return text[:MAX_FAILURE_CHARS]
    return f"the training process exited with code {exit_code} and wrote no failure reason"


class Heartbeat:
    """Calls `beat(seconds since start, last line)` whenever `seconds` pass without a line from the job."""

    def __init__(self, seconds: float, beat: Callable[[float, str], None]) -> None:
        self._seconds = seconds
        self._beat = beat
        self._started = time.monotonic()
        self._last_sign_of_life = self._started
        self._last_line = ""
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="training-heartbeat", daemon=True)

    def line(self, text: str) -> None:
        with self._lock:
            self._last_sign_of_life = time.monotonic()
            if text.strip():
                self._last_line = text.strip()

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopped.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stopped.wait(min(self._seconds / 4, 1.0)):
            now = time.monotonic()
            with self._lock:
                due = now - self._last_sign_of_life >= self._seconds
                if due:
                    self._last_sign_of_life = now
                last_line = self._last_line
            if due:
                self._beat(now - self._started, last_line)


def describe_duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def stream_process(
    command: list[str], environment: dict[str, str], cwd: Path, emit: Callable[[str], None]
) -> int:
    """Run `command`, passing each line it prints (stdout and stderr) to `emit`; returns the exit code."""
    with subprocess.Popen(
        command,
        cwd=cwd,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
        bufsize=1,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            emit(line.rstrip("\n"))
        return process.wait()


def run_training_job(
    job: spec.TrainingJob,
    *,
    s3: Any,
    bucket: str,
    work_dir: Path,
    at: datetime | None = None,
    entrypoint: Path | None = None,
    base_environment: Mapping[str, str] | None = None,
    hyperparameters: Mapping[str, str] | None = None,
    heartbeat_seconds: float = HEARTBEAT_SECONDS,
) -> dict[str, Any]:
    """Run one training job to completion; returns what the run record keeps about it.

    `hyperparameters` go to `input/config/hyperparameters.json` as SageMaker writes them (strings). The job's
    lines go to the log as they come; after `heartbeat_seconds` without one, a "still training" line does.

    Raises TrainingJobFailedError (with the job's failure text) when the process exits non-zero.
    """
    started = at or datetime.now(UTC)
    job_name = training_job_name(job, started)
    layout = TrainingLayout(work_dir / job_name)
    for folder in (layout.input_data, layout.config, layout.model, layout.output_data):
        folder.mkdir(parents=True, exist_ok=True)
    script = entrypoint or job.entrypoint
    environment = sagemaker_environment(
        job, job_name, layout, base_environment or os.environ, hyperparameters
    )
    (layout.config / "hyperparameters.json").write_text(
        json.dumps(dict(hyperparameters or {}), indent=2), encoding="utf-8"
    )
    try:
        counts = download_channels(s3, bucket, job, layout)
        log.info(
            "%s: started with %s core(s); channels %s",
            job_name,
            environment["SM_NUM_CPUS"],
            ", ".join(f"{name} ({count} files)" for name, count in counts.items()) or "none",
        )

        def still_training(elapsed: float, last_line: str) -> None:
            latest = f"; last progress: {last_line}" if last_line else ""
            log.info("%s: still training, %s so far%s", job_name, describe_duration(elapsed), latest)

        def emit(line: str) -> None:
            heartbeat.line(line)
            log.info("%s | %s", job_name, line)

        with Heartbeat(heartbeat_seconds, still_training) as heartbeat:
            exit_code = stream_process(
                [sys.executable, str(script), "train"], environment, cwd=script.parent, emit=emit
            )
    finally:
        # As on SageMaker, the downloaded input is gone once the job ends; the model folder stays.
        shutil.rmtree(layout.input_data, ignore_errors=True)
    if exit_code != 0:
        raise TrainingJobFailedError(read_failure(layout, exit_code))
    archive = layout.root / MODEL_ARCHIVE
    members = build_model_archive(layout.model, archive)
    if not members:
        raise TrainingJobFailedError("the training process succeeded but wrote nothing to SM_MODEL_DIR")
    key = f"{job.output_prefix}{job_name}/{MODEL_ARCHIVE}"
    s3.upload_file(str(archive), bucket, key)
    log.info("%s: wrote s3://%s/%s (%d files)", job_name, bucket, key, len(members))
    return {
        "status": "succeeded",
        "training_job": job.name,
        "training_job_name": job_name,
        "channels": counts,
        "hyperparameters": dict(hyperparameters or {}),
        "model_archive": f"s3://{bucket}/{key}",
        "model_files": members,
    }


def registry_item_for(items: list[dict[str, Any]], job_name: str) -> dict[str, Any] | None:
    """The model registry's item for the archive training job `job_name` wrote, if it is there yet.

    The registry stores the training-job name as `training_job`; an item that only names the archive (its
    key holds `/<job-name>/output/`) is recognised too.
    """
    marker = f"/{job_name}/output/"
    for item in items:
        if item.get("training_job") == job_name:
            return item
    for item in items:
        if any(isinstance(value, str) and marker in value for value in item.values()):
            return item
    return None


def scan_all(table: Any) -> list[dict[str, Any]]:
    """Every item of a Table resource, page after page."""
    return list(dynamodb.paginate(table, "scan"))


def wait_for_registry_item(
    table: Any, job_name: str, timeout: float, *, poll_seconds: float = 0.5
) -> dict[str, Any] | None:
    """Poll the models table until the registry has judged `job_name`'s archive; None on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        item = registry_item_for(scan_all(table), job_name)
        if item is not None or time.monotonic() >= deadline:
            return item
        time.sleep(poll_seconds)


def describe_registry_item(item: dict[str, Any]) -> str:
    reason = item.get("reason")
    text = f"{item.get('model_name')} version {item.get('version')} {item.get('status')}"
    return f"{text}: {reason}" if reason else text
