"""Training jobs run locally with SageMaker's contract: environment, output archive, registry lookup."""

from __future__ import annotations

import json
import logging
import os
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from shelfwise_infra import spec
from shelfwise_local.training import (
    BLAS_THREAD_VARIABLES,
    OPENMP_THREAD_VARIABLES,
    THREAD_LIMIT_VARIABLES,
    TRAINING_THREADS_ENV,
    TrainingJobFailedError,
    TrainingLayout,
    available_cores,
    build_model_archive,
    read_failure,
    registry_item_for,
    run_training_job,
    sagemaker_environment,
    training_job_name,
)

JOB = spec.TrainingJob(
    name="toy",
    description="test",
    directory="training/toy",
    channels={"interactions": "curated/interactions/", "catalog": "curated/catalog/"},
)
STARTED = datetime(2024, 3, 1, 12, 30, 5, 123456, tzinfo=UTC)


def test_job_name_is_stage_job_and_start_time_and_valid_for_sagemaker() -> None:
    name = training_job_name(JOB, STARTED)

    assert name == "local-toy-20240301T123005123"
    # SageMaker: letters, digits and single hyphens, at most 63 characters.
    assert len(name) <= 63 and name.replace("-", "").isalnum()


def test_environment_names_every_channel_and_the_output_folders(tmp_path: Path) -> None:
    layout = TrainingLayout(tmp_path / "job")

    environment = sagemaker_environment(JOB, "local-toy-1", layout, {"KEEP": "me"})

    assert environment["KEEP"] == "me"
    assert environment["SM_CHANNEL_INTERACTIONS"] == str(tmp_path / "job/input/data/interactions")
    assert environment["SM_CHANNEL_CATALOG"] == str(tmp_path / "job/input/data/catalog")
    assert environment["SM_MODEL_DIR"] == str(tmp_path / "job/model")
    assert environment["SM_OUTPUT_DATA_DIR"] == str(tmp_path / "job/output/data")
    assert environment["SM_OUTPUT_FAILURE"] == str(tmp_path / "job/output/failure")
    assert json.loads(environment["SM_CHANNELS"]) == ["catalog", "interactions"]
    training_env = json.loads(environment["SM_TRAINING_ENV"])
    assert training_env["job_name"] == "local-toy-1"
    assert training_env["channel_input_dirs"]["catalog"] == environment["SM_CHANNEL_CATALOG"]
    assert training_env["model_dir"] == environment["SM_MODEL_DIR"]


def test_archive_holds_the_model_folder_contents_relative_to_it(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "v1" / "nested").mkdir(parents=True)
    (model / "v1" / "manifest.json").write_text("{}")
    (model / "v1" / "nested" / "weights.bin").write_bytes(b"\x00\x01")

    members = build_model_archive(model, tmp_path / "out" / "model.tar.gz")

    assert members == ["v1/manifest.json", "v1/nested/weights.bin"]
    with tarfile.open(tmp_path / "out" / "model.tar.gz", "r:gz") as tar:
        names = tar.getnames()
        assert "v1/nested/weights.bin" in names and not any(name.startswith("/") for name in names)
        extracted = tar.extractfile("v1/nested/weights.bin")
        assert extracted is not None and extracted.read() == b"\x00\x01"


def test_failure_reason_is_the_failure_file_or_says_there_was_none(tmp_path: Path) -> None:
    layout = TrainingLayout(tmp_path)
    assert "exited with code 3" in read_failure(layout, 3)

    layout.failure.parent.mkdir(parents=True)
    layout.failure.write_text("no interactions in the channel\n")
    assert read_failure(layout, 1) == "no interactions in the channel"


class EmptyBucket:
    """The two S3 calls a training run makes when every channel is empty."""

    def __init__(self) -> None:
        self.uploads: list[tuple[str, str]] = []

    def get_paginator(self, name: str) -> EmptyBucket:
        return self

    def paginate(self, **arguments: str) -> list[dict[str, list[object]]]:
        return [{"Contents": []}]

    def upload_file(self, path: str, bucket: str, key: str) -> None:
        self.uploads.append((bucket, key))


def write_script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("import os, sys, pathlib\n" + body)
    return path


def test_a_job_that_writes_a_model_is_archived_under_its_job_name(tmp_path: Path) -> None:
    script = write_script(
        tmp_path / "toy" / "train.py",
        "assert sys.argv[1] == 'train'\n"
        "assert os.listdir(os.environ['SM_CHANNEL_CATALOG']) == []\n"
        "out = pathlib.Path(os.environ['SM_MODEL_DIR']) / 'v1'\n"
        "out.mkdir()\n"
        "(out / 'manifest.json').write_text('{}')\n"
        "print('epoch 1 done')\n",
    )
    bucket = EmptyBucket()

    result = run_training_job(
        JOB, s3=bucket, bucket="b", work_dir=tmp_path / "work", at=STARTED, entrypoint=script
    )

    key = "models/_jobs/toy/local-toy-20240301T123005123/output/model.tar.gz"
    assert bucket.uploads == [("b", key)]
    assert result["model_archive"] == f"s3://b/{key}"
    assert result["model_files"] == ["v1/manifest.json"]
    assert result["channels"] == {"catalog": 0, "interactions": 0}
    # The downloaded input is removed once the job ends, as on SageMaker.
    assert not (tmp_path / "work" / result["training_job_name"] / "input" / "data").exists()


def test_a_failing_job_fails_with_its_failure_file_text_and_uploads_nothing(tmp_path: Path) -> None:
    script = write_script(
        tmp_path / "toy" / "train.py",
        "pathlib.Path(os.environ['SM_OUTPUT_FAILURE']).write_text('need at least 20 rows')\nsys.exit(2)\n",
    )
    bucket = EmptyBucket()

    with pytest.raises(TrainingJobFailedError, match="need at least 20 rows"):
        run_training_job(JOB, s3=bucket, bucket="b", work_dir=tmp_path, at=STARTED, entrypoint=script)
    assert bucket.uploads == []


def test_a_job_that_writes_no_model_fails(tmp_path: Path) -> None:
    script = write_script(tmp_path / "toy" / "train.py", "print('nothing to do')\n")

    with pytest.raises(TrainingJobFailedError, match="wrote nothing"):
        run_training_job(JOB, s3=EmptyBucket(), bucket="b", work_dir=tmp_path, entrypoint=script)


def test_registry_item_is_found_by_training_job_or_by_its_archive_key() -> None:
    items = [
        {"model_name": "chat", "version": "1", "training_job": "local-chat-1"},
        {"model_name": "recommender", "version": "2", "source": "s3://b/models/_jobs/r/local-r-2/output/x"},
    ]

    assert registry_item_for(items, "local-chat-1") == items[0]
    assert registry_item_for(items, "local-r-2") == items[1]
    assert registry_item_for(items, "local-r-3") is None


def test_blas_pools_get_one_thread_and_the_job_learns_its_cores(tmp_path: Path) -> None:
    layout = TrainingLayout(tmp_path / "job")

    default = sagemaker_environment(JOB, "local-toy-1", layout, {})
    chosen = sagemaker_environment(JOB, "local-toy-1", layout, {"OPENBLAS_NUM_THREADS": "2"})

    cores = str(available_cores())
    assert default["SM_NUM_CPUS"] == cores
    assert json.loads(default["SM_TRAINING_ENV"])["num_cpus"] == int(cores)
    assert {default[name] for name in BLAS_THREAD_VARIABLES} == {"1"}
    assert default["OMP_WAIT_POLICY"] == "PASSIVE"
    # OpenMP (PyTorch's pool) is the job's to size, from the cores and the load.
    assert not any(name in default for name in OPENMP_THREAD_VARIABLES)
    # A pool size someone set for this machine is theirs to keep.
    assert chosen["OPENBLAS_NUM_THREADS"] == "2" and chosen["BLIS_NUM_THREADS"] == "1"


def test_training_threads_sets_every_pool_and_the_cores(tmp_path: Path) -> None:
    layout = TrainingLayout(tmp_path / "job")

    capped = sagemaker_environment(JOB, "local-toy-1", layout, {TRAINING_THREADS_ENV: "3"})
    chosen = sagemaker_environment(
        JOB, "local-toy-1", layout, {TRAINING_THREADS_ENV: "3", "OMP_NUM_THREADS": "1"}
    )

    assert {capped[name] for name in THREAD_LIMIT_VARIABLES} == {"3"} and capped["SM_NUM_CPUS"] == "3"
    assert chosen["OMP_NUM_THREADS"] == "1" and chosen["MKL_NUM_THREADS"] == "3"
    for wrong in ("0", "two"):
        with pytest.raises(ValueError, match=TRAINING_THREADS_ENV):
            sagemaker_environment(JOB, "local-toy-1", layout, {TRAINING_THREADS_ENV: wrong})


def _pools_seen_by_a_job(tmp_path: Path, base: dict[str, str]) -> dict[str, int]:
    """Runs a job that reports numpy's BLAS pools and PyTorch's intra-op pool as it starts."""
    script = write_script(
        tmp_path / "toy" / "train.py",
        "import json, numpy, torch, threadpoolctl\n"
        "pools = {pool['internal_api']: pool['num_threads'] for pool in threadpoolctl.threadpool_info()}\n"
        "pools['torch'] = torch.get_num_threads()\n"
        "print('threads ' + json.dumps(pools))\n"
        "(pathlib.Path(os.environ['SM_MODEL_DIR']) / 'manifest.json').write_text('{}')\n",
    )
    with runner_log_lines() as lines:
        run_training_job(
            JOB,
            s3=EmptyBucket(),
            bucket="b",
            work_dir=tmp_path / "work",
            entrypoint=script,
            base_environment=base,
        )
    (reported,) = [line.split("threads ", 1)[1] for line in lines if "| threads " in line]
    return json.loads(reported)


def test_a_training_process_starts_numpy_and_torch_with_the_threads_it_was_given(tmp_path: Path) -> None:
    unset = {name: value for name, value in os.environ.items() if name not in THREAD_LIMIT_VARIABLES}
    unset.pop(TRAINING_THREADS_ENV, None)

    default = _pools_seen_by_a_job(tmp_path / "default", unset)
    one = _pools_seen_by_a_job(tmp_path / "one", {**unset, TRAINING_THREADS_ENV: "1"})

    assert default["openblas"] == 1
    assert default["torch"] == min(available_cores(), default["torch"]) >= 1
    assert set(one.values()) == {1}, one


def test_a_silent_job_gets_still_training_lines_with_its_last_progress(tmp_path: Path) -> None:
    script = write_script(
        tmp_path / "toy" / "train.py",
        "import time\n"
        "print('[step 01] fitting', flush=True)\n"
        "time.sleep(1.5)\n"
        "(pathlib.Path(os.environ['SM_MODEL_DIR']) / 'manifest.json').write_text('{}')\n",
    )
    with runner_log_lines() as lines:
        run_training_job(
            JOB, s3=EmptyBucket(), bucket="b", work_dir=tmp_path, entrypoint=script, heartbeat_seconds=0.4
        )

    beats = [line for line in lines if "still training" in line]
    assert beats, lines
    assert all(beat.endswith("last progress: [step 01] fitting") for beat in beats)


class _CollectLines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def runner_log_lines() -> Iterator[list[str]]:
    """The runner's log messages while the block runs (the console's logger, at INFO)."""
    logger = logging.getLogger("shelfwise.local")
    handler, level = _CollectLines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
