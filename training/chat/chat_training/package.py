"""Writing a chat model version directory that `shelfwise.chat.model.ChatModel.load` reads."""

from __future__ import annotations

import json
import platform
import shutil
from datetime import UTC, datetime
from pathlib import Path

from shelfwise.chat.model import MANIFEST
from shelfwise.chat.text import FORMAT_VERSION

from chat_training.data import Rejection, write_rejections
from chat_training.export import save_embedding_head, save_linear_head
from chat_training.fit import TrainedClassifier

MANIFEST_FORMAT = 1
ENCODER_DIR = "encoder"


def new_version() -> str:
    return "chat-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def write_version(
    version_dir: Path,
    *,
    version: str,
    intent: TrainedClassifier,
    sentiment: TrainedClassifier,
    sources: dict[str, str],
    rejections: dict[str, list[Rejection]],
    encoder_dir: Path | None = None,
) -> None:
    """`encoder_dir`: the sentence encoder the embedding heads were trained on, copied into the version so
    a version is served exactly as it was trained (a version never depends on what the function ships)."""
    version_dir.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, object] = {
        "version": version,
        "format_version": MANIFEST_FORMAT,
        "vectorizer_format": FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "labels": "labels.json",
    }
    for name, classifier in (("intent", intent), ("sentiment", sentiment)):
        save_linear_head(version_dir / f"{name}.onnx", classifier.coef, classifier.intercept, name=name)
        classifier.vectorizer.save(version_dir / f"{name}_vectorizer.json")
        entry: dict[str, object] = {"onnx": f"{name}.onnx", "vectorizer": f"{name}_vectorizer.json"}
        if classifier.head_coef is not None and classifier.head_intercept is not None:
            head_file = f"{name}_embedding_head.onnx"
            save_embedding_head(
                version_dir / head_file, classifier.head_coef, classifier.head_intercept, name=f"{name}_head"
            )
            entry.update(embedding_head=head_file, ngram_weight=classifier.ngram_weight)
        manifest[name] = entry
    if any(classifier.head_coef is not None for classifier in (intent, sentiment)):
        if encoder_dir is None:
            raise ValueError("embedding heads need the encoder they were trained on")
        target = version_dir / ENCODER_DIR
        if target.resolve() != encoder_dir.resolve():
            shutil.copytree(encoder_dir, target, dirs_exist_ok=True)
        manifest["encoder"] = ENCODER_DIR
    (version_dir / "labels.json").write_text(
        json.dumps({"intent": intent.labels, "sentiment": sentiment.labels}, indent=1), "utf-8"
    )
    (version_dir / MANIFEST).write_text(json.dumps(manifest, indent=1), "utf-8")
    metrics = {
        "version": version,
        "intent": intent.metrics,
        "sentiment": sentiment.metrics,
        "sources": sources,
    }
    (version_dir / "metrics.json").write_text(json.dumps(metrics, indent=1), "utf-8")
    for name, rows in rejections.items():
        if rows:
            write_rejections(version_dir / f"rejected_{name}_rows.csv", rows)
    (version_dir / "model_card.md").write_text(_model_card(version, intent, sentiment, sources, rejections))


def _model_card(
    version: str,
    intent: TrainedClassifier,
    sentiment: TrainedClassifier,
    sources: dict[str, str],
    rejections: dict[str, list[Rejection]],
) -> str:
    def section(title: str, classifier: TrainedClassifier, source: str, rejected: list[Rejection]) -> str:
        held = classifier.metrics["held_out"]
        assert isinstance(held, dict)
        # A classifier kept from a base model fitted before NB-SVM was added records no `nb_weight`.
        nb_weight = classifier.metrics.get("nb_weight")
        nb_part = f" + {nb_weight} x NB-SVM, folded into one linear layer" if nb_weight is not None else ""
        return (
            f"## {title}\n\n"
            f"- Training data: {source}\n"
            f"- Rows used: {classifier.metrics['train_rows']}; rows rejected: {len(rejected)}"
            + (" (see the rejected_*_rows.csv file)" if rejected else "")
            + "\n"
            f"- Labels ({len(classifier.labels)}): {', '.join(classifier.labels)}\n"
            f"- Features: {classifier.metrics['features']} word 1-2-grams (negation-marked"
            + ("; Chinese split into dictionary words" if classifier.vectorizer.config.han_words else "")
            + ") and character n-grams, sublinear tf-idf\n"
            f"- Model: linear SVM (C={classifier.metrics['c']}){nb_part}\n"
            + (
                "- Blended with a logistic-regression head on the sentence embeddings of "
                f"{classifier.metrics.get('encoder', 'all-MiniLM-L6-v2 int8 ONNX')} (Apache-2.0, licence "
                f"in encoder/): n-gram weight {classifier.ngram_weight}, chosen on "
                "a validation split of the training part; messages mostly in other scripts use the n-gram "
                "model alone\n"
                if classifier.ngram_weight is not None
                else ""
            )
            + f"- Held-out ({classifier.metrics['held_out_fraction']:.0%} stratified, seed 42): accuracy "
            f"{held['accuracy']}, macro-F1 {held['macro_f1']}, log-loss {held['log_loss']}\n"
        )

    return (
        f"# Chat triage model {version}\n\n"
        "Linear classifiers over word and character n-gram tf-idf, exported to ONNX (Gather → weighted sum → "
        "linear → softmax); the tokenizer ships as JSON and is reproduced exactly by `shelfwise.chat.text`.\n"
        "Intended use: routing customer-service chat messages and flagging unhappy customers for a person. "
        "Not for decisions about a customer without a person reviewing them.\n\n"
        + section("Intent", intent, sources["intent"], rejections.get("intent", []))
        + "\n"
        + section("Sentiment", sentiment, sources["sentiment"], rejections.get("sentiment", []))
        + f"\nTrained with Python {platform.python_version()} on {platform.machine()}.\n"
    )
