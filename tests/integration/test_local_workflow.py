"""`shelfwise run forecast --wait` through the real local cloud, with a stand-in workflow function."""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Iterator

import pytest
from shelfwise_infra import spec
from test_local_cloud import BUCKET, RunningCloud, run_cli, start_cloud

pytestmark = pytest.mark.integration

# Plans five shards; shard 3 always fails. Each shard attempt leaves a marker in the bucket, so the test can
# see that workers reached the local cloud and how often each shard was tried.
FORECAST = """
import os, uuid
import boto3

def handler(event, context):
    step = event["step"]
    if step == "plan":
        return {"run_id": event["run_id"], "shards": [{"n": n} for n in range(5)]}
    if step == "shard":
        n = event["shard"]["n"]
        boto3.client("s3").put_object(
            Bucket=os.environ["SHELFWISE_DATA_BUCKET"],
            Key=f"test-shards/{n}/{os.getpid()}-{uuid.uuid4().hex}",
            Body=b"",
        )
        if n == 3:
            raise RuntimeError("shard 3 has no sales history")
        return {"n": n, "pid": os.getpid()}
    results = event["results"]
    return {
        "status": "succeeded",
        "forecast": [r["n"] for r in results if "error" not in r],
        "errors": [r["error"] for r in results if "error" in r],
        "plan_shards": len(event["plan"]["shards"]),
    }
"""


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    workspace = tmp_path_factory.mktemp("workflow")
    functions_dir = workspace / "functions"
    shutil.copytree(spec.FUNCTIONS_DIR / "api", functions_dir / "api")
    (functions_dir / "forecast").mkdir()
    (functions_dir / "forecast" / "app.py").write_text(textwrap.dedent(FORECAST))
    running = start_cloud(workspace / "state", workspace, "--functions-dir", str(functions_dir))
    yield running
    running.stop()


def test_forecast_run_fans_out_to_worker_processes_and_finalizes_despite_a_bad_shard(
    cloud: RunningCloud,
) -> None:
    result = run_cli(
        "run", "forecast", "--wait", "--timeout", "120", "--state-dir", str(cloud.state_dir),
        cwd=cloud.state_dir.parent,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr + cloud.log()[-3000:]
    record = json.loads(result.stdout[result.stdout.index("{") : result.stdout.rindex("}") + 1])
    summary = json.loads(record["result"])
    assert summary["shards"] == 5 and summary["failed_shards"] == 1
    assert summary["finalize"]["forecast"] == [0, 1, 2, 4]
    assert summary["finalize"]["errors"] == ["RuntimeError: shard 3 has no sales history"]
    assert summary["finalize"]["plan_shards"] == 5

    markers = [
        entry["Key"]
        for entry in cloud.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="test-shards/")["Contents"]
    ]
    attempts = {n: sum(1 for key in markers if key.split("/")[1] == str(n)) for n in range(5)}
    workflow = spec.workflow("forecast")
    assert attempts == {0: 1, 1: 1, 2: 1, 3: workflow.shard_retries + 1, 4: 1}
    worker_pids = {key.split("/")[2].split("-")[0] for key in markers}
    assert str(cloud.process.pid) not in worker_pids
    assert "forecast: 5/5 shards done, 1 failed" in cloud.log()
