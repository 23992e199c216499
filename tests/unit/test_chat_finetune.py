"""Fine-tuning the sentence encoder in the chat training job: asked for through the deployment's
hyperparameters, trained only on the rows the blend fits on, shipped inside the version, served as trained."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest
from chat_training import job as chat_job
from chat_training.blend import blend_splits
from chat_training.fit import FitOptions
from shelfwise.chat.model import ChatModel

REPO = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = REPO / "functions" / "chat" / "default_model"
INTENT_PHRASES = {
    "track_order": ["where is my {thing}", "has my {thing} shipped yet", "track my {thing} please",
                    "when does my {thing} arrive", "my {thing} is late, where is it"],
    "get_refund": ["i want my money back for the {thing}", "refund the {thing} please",
                   "can i get a refund on my {thing}", "return the {thing} and refund me",
                   "please give me a refund for this {thing}"],
    "thank_you": ["thanks a lot for the {thing}", "cheers, the {thing} is great", "thank you so much",
                  "great help with my {thing}, thanks", "much appreciated, the {thing} arrived"],
}  # fmt: skip
SENTIMENT_PHRASES = {
    "positive": ["love the {thing}", "the {thing} is brilliant", "great {thing}, thank you"],
    "negative": ["the {thing} broke, awful", "worst {thing} ever", "the {thing} is a disaster"],
    "neutral": ["the {thing} arrived on tuesday", "is the {thing} blue", "i ordered a {thing}"],
}
THINGS = ["parcel", "order", "jacket", "blender", "shoes", "lamp", "package", "phone"]


def _write(path: Path, phrases: dict[str, list[str]], label_column: str) -> tuple[list[str], list[str]]:
    rows = [
        (phrase.format(thing=thing), label)
        for label, templates in phrases.items()
        for thing in THINGS
        for phrase in templates
    ]
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", label_column])
        writer.writerows(rows)
    return [text for text, _ in rows], [label for _, label in rows]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run_job(tmp: Path, channels: list[str], hyperparameters: dict[str, str]) -> int:
    config = tmp / "config"
    config.mkdir(exist_ok=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters), "utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SM_INPUT_CONFIG_DIR", str(config))
        return chat_job.main(
            [*channels, "--replies", str(tmp / "no-replies"), "--base-model", str(DEFAULT_MODEL),
             "--model-dir", str(tmp / "models"), "--output-dir", str(tmp / "output"), "--version", "v1"]
        )  # fmt: skip


@pytest.fixture(scope="module")
def fine_tuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[str]]]:
    tmp = tmp_path_factory.mktemp("fine-tune")
    _, intent_labels = _write(tmp / "intents.csv", INTENT_PHRASES, "intent")
    _, sentiment_labels = _write(tmp / "sentiment.csv", SENTIMENT_PHRASES, "sentiment")
    channels = ["--intents", str(tmp / "intents.csv"), "--sentiment", str(tmp / "sentiment.csv")]
    assert _run_job(tmp, channels, {"fine_tune_epochs": "1"}) == 0
    return tmp / "models" / "v1", {"intent": intent_labels, "sentiment": sentiment_labels}


def test_the_deployment_setting_fine_tunes_the_encoder_the_version_ships(fine_tuned) -> None:
    version_dir, _ = fine_tuned
    encoder = version_dir / "encoder"
    assert _sha256(encoder / "encoder.onnx") != _sha256(DEFAULT_MODEL / "encoder" / "encoder.onnx")
    description = json.loads((encoder / "encoder.json").read_text("utf-8"))
    assert description["fine_tuned"]["epochs"] == 1
    assert (encoder / "LICENSE").read_bytes() == (DEFAULT_MODEL / "encoder" / "LICENSE").read_bytes()
    metrics = json.loads((version_dir / "metrics.json").read_text("utf-8"))
    assert "fine-tuned 1 epochs" in metrics["intent"]["encoder"]
    # The layer fine-tuning trained competed with the regression heads on the validation rows.
    for part in ("intent", "sentiment"):
        assert "fine-tuned" in metrics[part]["head_validation_accuracy"]
        assert metrics[part]["head"] in {"fine-tuned", "logistic regression"}


def test_fine_tuning_never_sees_the_validation_or_held_out_rows(fine_tuned) -> None:
    version_dir, labels = fine_tuned
    description = json.loads((version_dir / "encoder" / "encoder.json").read_text("utf-8"))
    for part in ("intent", "sentiment"):
        # The job's options for a retailer's file: 10% held out, seed 42.
        _, held_rows, fit_rows, validation_rows = blend_splits(labels[part], FitOptions())
        assert description["fine_tuned"]["tasks"][part] == len(fit_rows)
        assert len(fit_rows) + len(validation_rows) + len(held_rows) == len(labels[part])


def test_the_fine_tuned_version_serves_with_its_own_encoder(fine_tuned) -> None:
    version_dir, _ = fine_tuned
    model = ChatModel.load(version_dir)
    assert model.encoder is not None and model.encoder.directory == version_dir / "encoder"
    (intent, confidence, _), _ = model.classify("where is my parcel, it is late")
    assert intent == "track_order" and 0.0 < confidence <= 1.0


def test_a_kept_head_on_the_base_encoder_turns_fine_tuning_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path / "sentiment.csv", SENTIMENT_PHRASES, "sentiment")
    channels = ["--intents", str(tmp_path / "no-intents"), "--sentiment", str(tmp_path / "sentiment.csv")]
    assert _run_job(tmp_path, channels, {"fine_tune_epochs": "1"}) == 0
    assert "fine-tuning skipped: the intent classifier is kept from the base model" in capsys.readouterr().out
    encoder = tmp_path / "models" / "v1" / "encoder" / "encoder.onnx"
    assert _sha256(encoder) == _sha256(DEFAULT_MODEL / "encoder" / "encoder.onnx")


@pytest.mark.parametrize(
    ("hyperparameters", "named"),
    [({"fine_tune_epochs": "many"}, "fine_tune_epochs"), ({"fine_tune_epochs": "11"}, "fine_tune_epochs"),
     ({"learning_rate": "0.1"}, "learning_rate"), ({"han_words": "reviews"}, "han_words")],
)  # fmt: skip
def test_a_bad_hyperparameter_fails_the_job_naming_it(
    tmp_path: Path, hyperparameters: dict[str, str], named: str
) -> None:
    _write(tmp_path / "sentiment.csv", SENTIMENT_PHRASES, "sentiment")
    channels = ["--intents", str(tmp_path / "none"), "--sentiment", str(tmp_path / "sentiment.csv")]
    assert _run_job(tmp_path, channels, hyperparameters) == 1
    assert named in (tmp_path / "output" / "failure").read_text("utf-8")
    assert not (tmp_path / "models").exists()


def test_fine_tuning_works_down_to_a_single_batch() -> None:
    import torch
    from chat_training.encoder_build import source_dir
    from chat_training.finetune import Task, fine_tune

    task = Task("sentiment", ["great", "awful", "fine", "love it"] * 3, ["pos", "neg", "neu", "pos"] * 3)
    tuned = fine_tune(source_dir(), [task], epochs=1, seed=1, progress=lambda line: None)
    assert tuned.summary["tasks"] == {"sentiment": 12} and len(tuned.summary["loss_by_epoch"]) == 1
    ones = torch.ones((1, 3), dtype=torch.int64)
    with torch.no_grad():
        embedding = tuned.module(ones * 2000, ones, ones * 0)
    assert embedding.shape == (1, 384) and abs(float(embedding.norm()) - 1.0) < 1e-5


def test_warm_started_heads_start_from_the_frozen_regression_and_come_back() -> None:
    from chat_training.encoder_build import source_dir
    from chat_training.finetune import Task, fine_tune

    task = Task("sentiment", ["great", "awful", "fine", "love it"] * 3, ["pos", "neg", "neu", "pos"] * 3)
    tuned = fine_tune(
        source_dir(),
        [task],
        epochs=1,
        seed=1,
        learning_rate=2e-5,
        warm_start=True,
        progress=lambda line: None,
    )
    assert tuned.summary["warm_start"] is True and tuned.summary["learning_rate"] == 2e-5
    ((coef, intercept),) = tuned.heads
    # Classes in sorted order (neg, neu, pos), on the unit-length embedding.
    assert coef.shape == (3, 384) and intercept.shape == (3,)
