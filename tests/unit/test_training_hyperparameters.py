"""The deployment's hyperparameters reach the recommender job the way SageMaker passes them, validated."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from shelfwise_infra import spec
from shelfwise_local.training import local_hyperparameters, run_training_job
from shelfwise_recommender import job as train_entrypoint
from shelfwise_recommender.hyperparameters import read_hyperparameters
from shelfwise_recommender.synthetic import planted_shop

JOB = spec.TrainingJob(
    name="toy", description="test", directory="training/toy", channels={"interactions": "curated/x/"}
)


class EmptyBucket:
    def get_paginator(self, name: str) -> EmptyBucket:
        return self

    def paginate(self, **kwargs: object) -> list[dict[str, object]]:
        return [{}]

    def upload_file(self, path: str, bucket: str, key: str) -> None:
        pass


def test_sagemaker_strings_are_validated_into_the_jobs_settings(tmp_path: Path) -> None:
    path = tmp_path / "hyperparameters.json"
    path.write_text(json.dumps({"half_life_days": "0", "weight_view": "0.1", "ranker": "off"}))
    assert read_hyperparameters(path).as_defaults() == {
        "half_life_days": 0.0,
        "weight_view": 0.1,
        "ranker": "off",
    }
    assert read_hyperparameters(tmp_path / "absent.json").as_defaults() == {}
    for bad, problem in (
        ({"half_life": "30"}, "half_life: Extra inputs are not permitted"),
        ({"half_life_days": "-1"}, "half_life_days: Input should be greater than or equal to 0"),
        ({"ranker": "sometimes"}, "ranker"),
        ({"recency_boost": "0.5"}, "recency_boost: Input should be greater than or equal to 1"),
    ):
        path.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=problem):
            read_hyperparameters(path)


def test_the_job_trains_with_the_deployments_settings_and_flags_win(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    interactions, _ = planted_shop(n_users=60, n_items=40)
    # Timestamps two years apart: with the 120-day default most pairs would be decayed under 0.1.
    older = interactions.index[: len(interactions) * 9 // 10]
    interactions.loc[older, "timestamp"] -= pd.Timedelta(days=730)
    (tmp_path / "interactions").mkdir()
    interactions.to_parquet(tmp_path / "interactions" / "part-1.parquet")
    config = tmp_path / "config"
    config.mkdir()
    monkeypatch.setenv("SM_INPUT_CONFIG_DIR", str(config))
    args = ["--interactions", str(tmp_path / "interactions"), "--catalog", str(tmp_path / "none")]
    args += [
        "--failure-file",
        str(tmp_path / "failure"),
        "--rank",
        "8",
        "--ranker",
        "off",
        "--model",
        "ease_lowrank",
    ]

    assert train_entrypoint.main([*args, "--model-dir", str(tmp_path / "decayed")]) == 0
    decayed = capsys.readouterr().out
    assert "WARNING" in decayed and "half_life_days" in decayed

    (config / "hyperparameters.json").write_text(json.dumps({"half_life_days": "0", "weight_view": "1"}))
    assert train_entrypoint.main([*args, "--model-dir", str(tmp_path / "flat")]) == 0
    flat = capsys.readouterr().out
    assert "WARNING" not in flat
    (version,) = (tmp_path / "flat").iterdir()
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["weighting"]["half_life_days"] is None
    assert manifest["weighting"]["event_weights"]["view"] == 1.0
    assert manifest["config"]["rank"] == 8  # the flag, over the default
    metrics = json.loads((version / "metrics.json").read_text())
    assert metrics["weights"]["share_below_0_1"] == 0.0
    # Unset, the recency boost is chosen on the training data and its validation table recorded.
    assert set(metrics["recency"]["validation"]) >= {"1", "12"}
    assert manifest["weighting"]["recency_boost"] == metrics["recency"]["boost"]

    (config / "hyperparameters.json").write_text(json.dumps({"half_life_days": "0", "recency_boost": "3"}))
    assert train_entrypoint.main([*args, "--model-dir", str(tmp_path / "boosted")]) == 0
    (version,) = (tmp_path / "boosted").iterdir()
    assert json.loads((version / "manifest.json").read_text())["weighting"]["recency_boost"] == 3.0
    assert "validation" not in json.loads((version / "metrics.json").read_text())["recency"]

    (config / "hyperparameters.json").write_text(json.dumps({"half_lif_days": "0"}))
    assert train_entrypoint.main([*args, "--model-dir", str(tmp_path / "typo")]) == 1
    assert "half_lif_days" in (tmp_path / "failure").read_text()


def test_the_local_cloud_passes_the_state_dirs_settings_as_sagemaker_does(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert local_hyperparameters(state, JOB) == {}
    (state / "hyperparameters").mkdir(parents=True)
    (state / "hyperparameters" / "toy.json").write_text(json.dumps({"half_life_days": 0, "ranker": "off"}))
    settings = local_hyperparameters(state, JOB)
    assert settings == {"half_life_days": "0", "ranker": "off"}
    script = tmp_path / "toy" / "train.py"
    script.parent.mkdir()
    script.write_text(
        "import json, os, pathlib\n"
        "config = pathlib.Path(os.environ['SM_INPUT_CONFIG_DIR']) / 'hyperparameters.json'\n"
        "assert json.loads(config.read_text()) == json.loads(os.environ['SM_HPS'])"
        " == {'half_life_days': '0', 'ranker': 'off'}\n"
        "out = pathlib.Path(os.environ['SM_MODEL_DIR']) / 'v1'\n"
        "out.mkdir()\n"
        "(out / 'manifest.json').write_text('{}')\n"
    )
    result = run_training_job(
        JOB,
        s3=EmptyBucket(),
        bucket="b",
        work_dir=tmp_path / "work",
        entrypoint=script,
        hyperparameters=settings,
    )
    assert result["hyperparameters"] == settings
    (state / "hyperparameters" / "toy.json").write_text(json.dumps({"nested": {"no": 1}}))
    with pytest.raises(ValueError, match="flat JSON object"):
        local_hyperparameters(state, JOB)


class Context(dict):
    def try_get_context(self, key: str) -> object:
        return self.get(key)


def test_a_deployment_sets_a_jobs_hyperparameters_in_cdk_context() -> None:
    from shelfwise_infra.config import StageConfig

    given = Context(training_hyperparameters='{"recommender": {"half_life_days": 0, "ranker": "off"}}')
    config = StageConfig.from_context(given)
    assert config.training_hyperparameters == {"recommender": {"half_life_days": "0", "ranker": "off"}}
    assert StageConfig.from_context(Context()).training_hyperparameters == {}
    with pytest.raises(ValueError, match="training_hyperparameters"):
        StageConfig.from_context(Context(training_hyperparameters='{"recommender": 3}'))
