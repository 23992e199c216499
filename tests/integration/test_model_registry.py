"""The model_registry function end to end on moto: archive in, version unpacked, validated, gated, decided."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto_platform import local_platform
from shelfwise import model_versions
from shelfwise_infra import spec
from shelfwise_local.functions import (
    context_for,
    forget_loaded_functions,
    load_handler,
)
from shelfwise_recommender.config import TrainConfig
from shelfwise_recommender.pipeline import train
from shelfwise_recommender.progress import Progress
from shelfwise_recommender.synthetic import planted_shop

pytestmark = pytest.mark.integration

REGISTRY = spec.function("model_registry")
BUCKET = spec.DATA_BUCKET.local_name
MODELS_TABLE = spec.MODELS_TABLE.local_name
EVENTS = spec.EVENTS_DIR / "model_registry"


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two real tiny recommender versions, trained on different shops (so their versions differ)."""
    built = []
    for n_users in (200, 240):
        interactions, catalog = planted_shop(n_users=n_users, n_items=100)
        config = replace(TrainConfig(), rank=16, l2=20.0)
        result = train(interactions, catalog, config, tmp_path_factory.mktemp("versions"), Progress())
        built.append(Path(result.model_dir))
    return built


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    forget_loaded_functions()
    with local_platform(monkeypatch, REGISTRY.name):
        yield boto3.client("s3")
    forget_loaded_functions()


def copy_version(source: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    for path in source.rglob("*"):
        if path.is_file():
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(path.read_bytes())
    return target


def set_gate_metrics(version: Path, **metrics: float) -> None:
    """Rewrite metrics.json's gate and keep the manifest's sha256 honest (a genuinely worse model)."""
    document = json.loads((version / "metrics.json").read_text())
    document["gate"]["metrics"].update(metrics)
    (version / "metrics.json").write_text(json.dumps(document))
    manifest = json.loads((version / "manifest.json").read_text())
    manifest["files"]["metrics.json"] = hashlib.sha256((version / "metrics.json").read_bytes()).hexdigest()
    (version / "manifest.json").write_text(json.dumps(manifest))


def archive_bytes(version: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(version, arcname=version.name)
    return buffer.getvalue()


def notification(key: str) -> dict[str, Any]:
    event = json.loads((EVENTS / "sqs-s3-training-archive.json").read_text())
    body = json.loads(event["Records"][0]["body"])
    body["Records"][0]["s3"]["object"]["key"] = key
    event["Records"][0]["body"] = json.dumps(body)
    return event


def deliver(key: str) -> dict[str, Any]:
    return load_handler("model_registry")(notification(key), context_for(REGISTRY))


def drop_archive(s3: Any, version: Path, run: str, job: str = "recommender") -> str:
    key = f"models/_jobs/{job}/{run}/output/model.tar.gz"
    s3.put_object(Bucket=BUCKET, Key=key, Body=archive_bytes(version))
    return key


def item(model_name: str, version: str) -> model_versions.ModelVersion | None:
    return model_versions.get_version(MODELS_TABLE, model_name, version)


def in_service() -> str | None:
    promoted = model_versions.in_service(MODELS_TABLE, "recommender")
    return promoted.version if promoted else None


def test_sample_events_parse_as_registry_notifications() -> None:
    for name in ("sqs-s3-training-archive.json", "sqs-s3-manifest.json"):
        event = json.loads((EVENTS / name).read_text())
        assert json.loads(event["Records"][0]["body"])["Records"][0]["s3"]["object"]["key"].startswith(
            "models/"
        )


def test_a_training_archive_is_unpacked_validated_and_promoted(cloud: Any, versions: list[Path]) -> None:
    first = versions[0]
    response = deliver(drop_archive(cloud, first, "local-recommender-1"))
    assert response == {"batchItemFailures": []}
    decided = item("recommender", first.name)
    assert decided is not None and decided.status == "promoted"
    assert decided.training_job == "local-recommender-1"
    assert decided.artifact_uri == f"s3://{BUCKET}/models/recommender/{first.name}/"
    assert decided.metrics["ndcg_lift_over_popularity"] > 1.0
    # Coverage and exposure are recorded next to the gate metrics, so GET /v1/models shows them.
    assert 0 < decided.metrics["catalog_coverage"] <= 1 and "exposure_gini" in decided.metrics
    assert decided.comparable_key == "recommender-v1" and decided.promoted_at
    keys = {
        obj["Key"] for obj in cloud.list_objects_v2(Bucket=BUCKET, Prefix="models/recommender/")["Contents"]
    }
    expected = {
        f"models/recommender/{first.name}/{name}"
        for name in json.loads((first / "manifest.json").read_text())["files"]
    }
    assert expected | {f"models/recommender/{first.name}/manifest.json"} == keys
    assert in_service() == first.name


def test_redelivery_and_the_registrys_own_manifest_do_not_decide_again(
    cloud: Any, versions: list[Path]
) -> None:
    key = drop_archive(cloud, versions[0], "local-recommender-1")
    deliver(key)
    decided_at = item("recommender", versions[0].name).decided_at
    deliver(key)
    deliver(f"models/recommender/{versions[0].name}/manifest.json")
    deliver(f"models/recommender/{versions[0].name}/scorer.onnx")  # ignored without a read
    assert item("recommender", versions[0].name).decided_at == decided_at


def test_a_corrupt_version_is_rejected_and_the_old_one_keeps_serving(
    cloud: Any, versions: list[Path], tmp_path: Path
) -> None:
    deliver(drop_archive(cloud, versions[0], "run-1"))
    tampered = copy_version(versions[1], tmp_path / versions[1].name)
    scorer = tampered / "scorer.onnx"
    scorer.write_bytes(scorer.read_bytes()[:-10] + b"0123456789")
    deliver(drop_archive(cloud, tampered, "run-2"))
    rejected = item("recommender", versions[1].name)
    assert rejected.status == "rejected" and "scorer.onnx is corrupt" in rejected.reason
    assert rejected.training_job == "run-2"
    assert in_service() == versions[0].name


def test_a_worse_model_is_rejected_with_the_comparison(
    cloud: Any, versions: list[Path], tmp_path: Path
) -> None:
    deliver(drop_archive(cloud, versions[0], "run-1"))
    current = item("recommender", versions[0].name).metrics["ndcg_at_10"]
    worse = copy_version(versions[1], tmp_path / versions[1].name)
    set_gate_metrics(worse, ndcg_at_10=current - 0.1)
    deliver(drop_archive(cloud, worse, "run-2"))
    rejected = item("recommender", versions[1].name)
    assert rejected.status == "rejected"
    assert "worse than the version in service" in rejected.reason and "ndcg_at_10" in rejected.reason
    assert in_service() == versions[0].name


def test_a_better_model_replaces_the_one_in_service(cloud: Any, versions: list[Path], tmp_path: Path) -> None:
    deliver(drop_archive(cloud, versions[0], "run-1"))
    current = item("recommender", versions[0].name).metrics
    better = copy_version(versions[1], tmp_path / versions[1].name)
    set_gate_metrics(better, **{name: value + 0.05 for name, value in current.items()})
    deliver(drop_archive(cloud, better, "run-2"))
    assert item("recommender", versions[1].name).status == "promoted"
    assert in_service() == versions[1].name
    assert item("recommender", versions[0].name).status == "promoted"  # history stays


def test_a_hostile_archive_is_rejected_under_its_job_run(cloud: Any) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("../../etc/cron.d/evil")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"boom"))
    key = "models/_jobs/recommender/run-evil/output/model.tar.gz"
    cloud.put_object(Bucket=BUCKET, Key=key, Body=buffer.getvalue())
    assert deliver(key) == {"batchItemFailures": []}
    rejected = item("recommender", "run-evil")
    assert rejected.status == "rejected" and "not a plain relative path" in rejected.reason
    assert rejected.training_job == "run-evil"
    assert in_service() is None


def test_a_version_uploaded_by_hand_is_validated_from_its_manifest(cloud: Any, versions: list[Path]) -> None:
    version = versions[0]
    prefix = f"models/recommender/{version.name}/"
    for path in sorted(version.rglob("*")):
        if path.is_file() and path.name != "manifest.json":
            cloud.put_object(
                Bucket=BUCKET, Key=prefix + path.relative_to(version).as_posix(), Body=path.read_bytes()
            )
    cloud.put_object(
        Bucket=BUCKET, Key=prefix + "manifest.json", Body=(version / "manifest.json").read_bytes()
    )
    deliver(prefix + "manifest.json")
    decided = item("recommender", version.name)
    assert decided.status == "promoted" and decided.training_job is None


def test_a_manifest_under_the_wrong_name_is_rejected(cloud: Any, versions: list[Path]) -> None:
    cloud.put_object(
        Bucket=BUCKET,
        Key="models/recommender/v-elsewhere/manifest.json",
        Body=(versions[0] / "manifest.json").read_bytes(),
    )
    deliver("models/recommender/v-elsewhere/manifest.json")
    rejected = item("recommender", "v-elsewhere")
    assert rejected.status == "rejected" and "sits under models/recommender/v-elsewhere/" in rejected.reason


def test_decisions_are_published_to_the_event_bus(cloud: Any, versions: list[Path], tmp_path: Path) -> None:
    sqs, events = boto3.client("sqs"), boto3.client("events")
    queue_url = sqs.create_queue(QueueName="decisions")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="model-decisions",
        EventBusName=spec.EVENT_BUS.local_name,
        EventPattern=json.dumps({"source": ["shelfwise"], "detail-type": ["ModelPromoted", "ModelRejected"]}),
    )
    events.put_targets(
        Rule="model-decisions",
        EventBusName=spec.EVENT_BUS.local_name,
        Targets=[{"Id": "queue", "Arn": queue_arn}],
    )
    deliver(drop_archive(cloud, versions[0], "run-1"))
    worse = copy_version(versions[1], tmp_path / versions[1].name)
    set_gate_metrics(worse, ndcg_lift_over_popularity=0.5)
    deliver(drop_archive(cloud, worse, "run-2"))
    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    published = [json.loads(message["Body"]) for message in received]
    assert [(event["detail-type"], event["detail"]["version"]) for event in published] == [
        ("ModelPromoted", versions[0].name),
        ("ModelRejected", versions[1].name),
    ]
    assert "below the floor" in published[1]["detail"]["reason"]
    assert published[0]["detail"]["training_job"] == "run-1"


def test_one_writer_claims_a_version_and_a_dead_writers_claim_goes_stale(cloud: Any) -> None:
    def candidate(claimed_at: str, job: str | None = None) -> model_versions.ModelVersion:
        return model_versions.ModelVersion(
            model_name="recommender",
            version="v9",
            status="candidate",
            created_at="2026-11-27T03:00:00Z",
            decided_at=claimed_at,
            training_job=job,
        )

    stale = "2026-11-27T03:50:00Z"
    assert model_versions.claim(MODELS_TABLE, candidate("2026-11-27T04:00:00Z", "run-a"), stale_before=stale)
    assert item("recommender", "v9").training_job is None  # only decided items name their job run
    assert not model_versions.claim(MODELS_TABLE, candidate("2026-11-27T04:01:00Z"), stale_before=stale)
    assert model_versions.claim(MODELS_TABLE, candidate("2026-11-27T04:02:00Z", "run-a"), stale_before=stale)
    assert model_versions.claim(
        MODELS_TABLE, candidate("2026-11-27T04:20:00Z"), stale_before="2026-11-27T04:10:00Z"
    )
    model_versions.record(
        MODELS_TABLE, candidate("2026-11-27T04:21:00Z").model_copy(update={"status": "rejected"})
    )
    assert not model_versions.claim(
        MODELS_TABLE, candidate("2026-11-27T09:00:00Z", "run-a"), stale_before="2026-11-28"
    )
