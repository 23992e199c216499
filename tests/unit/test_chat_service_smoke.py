"""The registry's smoke test of a chat version: a good version passes, a broken one fails with a reason."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from shelfwise.chat.smoke import ChatSmokeTestFailed, smoke_test

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "functions" / "chat" / "default_model"


@pytest.fixture
def version(tmp_path: Path) -> Path:
    copy = tmp_path / "chat-test"
    shutil.copytree(DEFAULT_MODEL, copy)
    return copy


def test_the_shipped_default_model_passes(version: Path) -> None:
    smoke_test(version)


def test_a_version_missing_its_onnx_file_fails_saying_it_does_not_load(version: Path) -> None:
    (version / "intent.onnx").unlink()
    with pytest.raises(ChatSmokeTestFailed, match="does not load"):
        smoke_test(version)


def test_labels_that_do_not_match_the_classifier_fail(version: Path) -> None:
    labels = json.loads((version / "labels.json").read_text("utf-8"))
    labels["sentiment"] = labels["sentiment"] + ["furious"]
    (version / "labels.json").write_text(json.dumps(labels), "utf-8")
    with pytest.raises(ChatSmokeTestFailed, match="sentiment classifier returned"):
        smoke_test(version)


def test_empty_labels_fail(version: Path) -> None:
    labels = json.loads((version / "labels.json").read_text("utf-8"))
    labels["intent"] = ["", *labels["intent"][1:]]
    (version / "labels.json").write_text(json.dumps(labels), "utf-8")
    with pytest.raises(ChatSmokeTestFailed, match="non-empty"):
        smoke_test(version)


def test_non_finite_weights_fail(version: Path) -> None:
    vectorizer = json.loads((version / "sentiment_vectorizer.json").read_text("utf-8"))
    vectorizer["idf"] = [float("nan")] * len(vectorizer["idf"])
    (version / "sentiment_vectorizer.json").write_text(json.dumps(vectorizer), "utf-8")
    with pytest.raises(ChatSmokeTestFailed, match="non-finite"):
        smoke_test(version)
