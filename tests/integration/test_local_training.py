"""`shelfwise run train-… --wait` through the real local cloud, with stand-in training code and registry."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Iterator

import pytest
from shelfwise_infra import spec
from test_local_cloud import BUCKET, RunningCloud, run_cli, start_cloud

pytestmark = pytest.mark.integration

# Writes one model version the way the real jobs do, after checking what SageMaker would have given it.
TRAIN_RECOMMENDER = """
import json, os, sys
from pathlib import Path

assert sys.argv[1:] == ["train"], sys.argv
channel = Path(os.environ["SM_CHANNEL_INTERACTIONS"])
files = sorted(str(p.relative_to(channel)) for p in channel.rglob("*") if p.is_file())
print(f"[step 01] read {len(files)} interaction files", flush=True)
version = Path(os.environ["SM_MODEL_DIR"]) / "v-test-1"
version.mkdir(parents=True)
(version / "manifest.json").write_text(json.dumps({"model_name": "recommender", "version": "v-test-1",
    "files": files, "catalog_files": os.listdir(os.environ["SM_CHANNEL_CATALOG"])}))
print("[step 02] model written", flush=True)
"""

TRAIN_CHAT_FAILING = """
import os, sys
from pathlib import Path

Path(os.environ["SM_OUTPUT_FAILURE"]).write_text("need at least 20 labelled utterances, got 3")
sys.exit(2)
"""

# Stands in for the model registry: judges each archive the training runner uploads.
MODEL_REGISTRY = """
import io, json, os, tarfile
import boto3

def handler(event, context):
    s3 = boto3.client("s3")
    table = boto3.resource("dynamodb").Table(os.environ["SHELFWISE_MODELS_TABLE"])
    for record in event["Records"]:
        for notice in json.loads(record["body"]).get("Records", []):
            key = notice["s3"]["object"]["key"]
            if not key.endswith("/output/model.tar.gz"):
                continue
            body = s3.get_object(Bucket=notice["s3"]["bucket"]["name"], Key=key)["Body"].read()
            with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
                manifest = json.load(tar.extractfile("v-test-1/manifest.json"))
            table.put_item(Item={
                "model_name": manifest["model_name"], "version": manifest["version"], "status": "promoted",
                "reason": f"{len(manifest['files'])} interaction files", "training_job": key.split("/")[3],
            })
    return {"batchItemFailures": []}
"""


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    workspace = tmp_path_factory.mktemp("training")
    functions_dir = workspace / "functions"
    shutil.copytree(spec.FUNCTIONS_DIR / "api", functions_dir / "api")
    (functions_dir / "model_registry").mkdir()
    (functions_dir / "model_registry" / "app.py").write_text(textwrap.dedent(MODEL_REGISTRY))
    training_dir = workspace / "training"
    for job, code in (("recommender", TRAIN_RECOMMENDER), ("chat", TRAIN_CHAT_FAILING)):
        (training_dir / job).mkdir(parents=True)
        (training_dir / job / "train.py").write_text(textwrap.dedent(code))
    running = start_cloud(
        workspace / "state",
        workspace,
        "--functions-dir",
        str(functions_dir),
        "--training-dir",
        str(training_dir),
    )
    yield running
    running.stop()


def test_training_run_waits_for_the_registry_and_reports_its_verdict(cloud: RunningCloud) -> None:
    s3 = cloud.client("s3")
    for key in (
        "curated/interactions/dt=2024-03-01/part-a.parquet",
        "curated/interactions/dt=2024-03-02/part-b.parquet",
        "curated/interactions/.in-progress",
        "curated/catalog/part-c.parquet",
    ):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"rows")

    result = run_cli(
        "run", "train-recommender", "--wait", "--timeout", "60", "--state-dir", str(cloud.state_dir),
        cwd=cloud.state_dir.parent,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr + cloud.log()[-3000:]
    assert "model registry: recommender version v-test-1 promoted: 2 interaction files" in result.stdout
    archives = s3.list_objects_v2(Bucket=BUCKET, Prefix="models/_jobs/recommender/")["Contents"]
    (archive,) = [entry["Key"] for entry in archives]
    assert archive.startswith("models/_jobs/recommender/local-recommender-")
    assert archive.endswith("/output/model.tar.gz")
    assert f"s3://{BUCKET}/{archive}" in result.stdout
    # The job's own progress lines reach the local cloud log, prefixed with the job name.
    job_name = archive.split("/")[3]
    assert f"{job_name} | [step 01] read 2 interaction files" in cloud.log()


def test_a_failing_training_job_fails_the_run_with_its_failure_reason(cloud: RunningCloud) -> None:
    result = run_cli(
        "run", "train-chat", "--wait", "--timeout", "60", "--state-dir", str(cloud.state_dir),
        cwd=cloud.state_dir.parent,
    )  # fmt: skip

    assert result.returncode == 1
    assert "need at least 20 labelled utterances, got 3" in result.stderr
    listing = cloud.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="models/_jobs/chat/")
    assert listing.get("KeyCount", 0) == 0
