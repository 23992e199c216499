"""Fault injection: `shelfwise local up` killed with SIGKILL at seeded random moments of an ingestion of
several files, restarted on the same state dir; every file must land exactly once, as in an uninterrupted
run. Plus the dead-letter queue surviving a crash and `shelfwise redrive`.

The harness is `shelfwise_local.crash_trials` (also behind benchmarks/crash_recovery.py, on 1,000,000 rows).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from shelfwise_infra import spec
from shelfwise_local import crash_trials
from shelfwise_local.crash_trials import CloudProcess, Outcome

pytestmark = [pytest.mark.integration, pytest.mark.fault_injection]

TRIAL_SEEDS = (11, 12, 13, 14, 15)
ROWS = 10_000
INGEST_TIMEOUT = 240.0


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("crash-recovery")


@pytest.fixture(scope="module")
def files() -> list[crash_trials.DropFile]:
    return crash_trials.ci_files(rows=ROWS)


@pytest.fixture(scope="module")
def reference(workspace: Path, files: list[crash_trials.DropFile]) -> tuple[Outcome, float]:
    outcome, seconds = crash_trials.run_files(workspace / "reference", workspace, files, INGEST_TIMEOUT)
    assert outcome.orphan_parts == []
    assert all(len(manifests) == 1 for manifests in outcome.manifests.values())
    assert len(outcome.manifests) == len(files)
    return outcome, seconds


@pytest.mark.parametrize("seed", TRIAL_SEEDS)
def test_a_kill_at_a_random_moment_still_lands_every_file_exactly_once(
    seed: int, workspace: Path, files: list[crash_trials.DropFile], reference: tuple[Outcome, float]
) -> None:
    outcome, ingest_seconds = reference

    trial = crash_trials.run_trial(
        workspace / f"trial-{seed}",
        workspace,
        files,
        seed=seed,
        kill_window=ingest_seconds,
        reference=outcome,
        timeout=INGEST_TIMEOUT,
    )

    assert trial.differences == [], (
        f"killed after {trial.kill_after_seconds:.1f} s with {trial.manifests_before_kill} manifests"
    )


def _dead_letters_in_snapshot(state_dir: Path, queue: str) -> int:
    try:
        state = json.loads((state_dir / "snapshot" / "state.json").read_text())
    except (OSError, ValueError):
        return 0
    return len(state.get("sqs", {}).get(queue, []))


def test_dead_letters_survive_a_crash_and_redrive_sends_them_back_through_ingestion(workspace: Path) -> None:
    state_dir = workspace / "dead-letters"
    dlq_name = f"{spec.INGEST_QUEUE.local_name}-dlq"
    ghost = "incoming/interactions/ghost.csv"
    body = {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2026-03-01T10:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:AIDALOCALSHELFWISE"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": "0", "x-amz-id-2": "0"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "ingest",
                    "bucket": {
                        "name": spec.DATA_BUCKET.local_name,
                        "ownerIdentity": {"principalId": "AWS:AIDALOCALSHELFWISE"},
                        "arn": f"arn:aws:s3:::{spec.DATA_BUCKET.local_name}",
                    },
                    "object": {"key": ghost, "size": 10, "eTag": "0123456789abcdef", "sequencer": "01"},
                },
            }
        ]
    }
    first = CloudProcess(state_dir, workspace)
    try:
        sqs = first.client("sqs")
        dlq_url = sqs.get_queue_url(QueueName=dlq_name)["QueueUrl"]
        sqs.send_message(QueueUrl=dlq_url, MessageBody=json.dumps(body))
        deadline = time.monotonic() + 30
        while _dead_letters_in_snapshot(state_dir, dlq_name) == 0 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert _dead_letters_in_snapshot(state_dir, dlq_name) == 1
    finally:
        first.kill()

    second = CloudProcess(state_dir, workspace)
    try:
        sqs = second.client("sqs")
        dlq_url = sqs.get_queue_url(QueueName=dlq_name)["QueueUrl"]
        depth = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
        assert depth["Attributes"]["ApproximateNumberOfMessages"] == "1"

        redrive = subprocess.run(
            [sys.executable, "-m", "shelfwise_local.cli", "redrive", "--state-dir", str(state_dir)],
            env={name: value for name, value in os.environ.items() if not name.startswith("AWS_")},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert redrive.returncode == 0, redrive.stderr
        assert f"{spec.INGEST_QUEUE.local_name}: moved 1 message(s)" in redrive.stdout

        # The ingest function took it from the queue: no such object, so the file gets a rejected manifest.
        second.wait_for_manifests(1, INGEST_TIMEOUT)
        manifests = second.outcome().manifests
        assert manifests[ghost][0]["status"] == "rejected"
        depth = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
        assert depth["Attributes"]["ApproximateNumberOfMessages"] == "0"
    finally:
        second.stop()
