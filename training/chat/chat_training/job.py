"""Chat triage training job (SageMaker training-container contract; the same command runs locally).

Channels: `intents` (`text,intent`), `sentiment` (`text,sentiment` in negative|neutral|positive) and
`replies` (`intent,template`), read from SM_CHANNEL_INTENTS / SM_CHANNEL_SENTIMENT / SM_CHANNEL_REPLIES
(default /opt/ml/input/data/<channel>). A channel is a file or a folder of curated Parquet parts (what the
platform hands over from `curated/chat-training/`, `curated/chat-sentiment/` and `curated/chat-replies/`)
and/or CSV/TSV files with those columns (gzip allowed).

What is trained: a channel with data trains its classifier from that data. A channel that is absent or empty
has no retailer data, so its classifier is taken unchanged from the base model: the default model that ships
with the chat function (`--base-model`). Curated data is kept, so once a retailer has sent sentiment labels
every later run trains sentiment from them again; "no data" only ever means "the default is in service for
this part", and the base model is exactly that default.

Replies: every version carries `reply_templates.json` for all of its intents
(`shelfwise.chat.templates.merge_templates`): the retailer's templates replace the default ones intent by
intent, an intent without one keeps the default templates when the defaults know it, and an intent with
neither has no automatic reply (`reply: null`). Templates for intents the model does not have, and rows with a
placeholder no slot fills, are left out and listed. A run with only new templates still makes a new version:
the classifiers come from the curated labels as always (or the base model when there are none).

Encoder: the classifiers' embedding heads are fitted on the base model's sentence encoder, frozen. With the
deployment hyperparameter `fine_tune_epochs` (hyperparameters.json, see chat_training/hyperparameters.py, or
`--fine-tune-epochs`) the encoder is first fine-tuned on this run's messages (chat_training/finetune.py) and
the version ships the fine-tuned encoder instead.

Output: one version directory `SM_MODEL_DIR/<version>/` (default /opt/ml/model) with the model files,
`metrics.json` carrying the registry's `gate` (`intent_accuracy`, `sentiment_accuracy`, and a
`comparable_key` hashed from the label sets and from which parts were trained on the retailer's data) and
`manifest.json` (`model_name: chat`, `version`, `created_at`, `files`: sha256 of every other file), written
last. A failure reason goes to `/opt/ml/output/failure` (SM_OUTPUT_FAILURE, `--failure-file`); refused
training data exits 2. For local runs:

    python training/chat/train.py --intents my_intents.csv --model-dir /tmp/chat-models
    python training/chat/train.py --default-corpora --version default --model-dir /tmp/m   # the shipped model
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import os
import sys
import tempfile
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper
from shelfwise.chat.encoder import SentenceEncoder, reads_as_english
from shelfwise.chat.templates import (
    MergedTemplates,
    merge_templates,
    order_templates,
    template_problem,
)
from shelfwise.chat.text import Vectorizer
from shelfwise.job_hyperparameters import read_job_hyperparameters

from chat_training.blend import FROZEN_ENCODER, blend_splits, train_blended
from chat_training.corpora import REPO_ROOT, default_intents, default_sentiment
from chat_training.data import LabelledTexts, Rejection, TrainingDataRefused, read_labelled
from chat_training.fit import FitOptions, TrainedClassifier, ngram_config, train_classifier
from chat_training.hyperparameters import ChatHyperparameters
from chat_training.package import new_version, write_version

MODEL_NAME = "chat"
MANIFEST = "manifest.json"
METRICS = "metrics.json"
TEMPLATES_FILE = "reply_templates.json"
REPLY_COLUMNS = ("intent", "template")
PARTS = ("intent", "sentiment")
SENTIMENT_LABEL_ALIASES = {
    "0": "negative",
    "1": "positive",
    "-1": "negative",
    "neg": "negative",
    "pos": "positive",
}
DEFAULT_CORPORA = {"intent": default_intents, "sentiment": default_sentiment}
DATA_SUFFIXES = (".parquet", ".csv", ".tsv", ".csv.gz", ".tsv.gz")
# The exported fine-tuned encoder must give the embeddings PyTorch gives (per-channel int8 keeps >= 0.98).
MIN_EXPORT_COSINE = 0.95
# The default model ships in functions/chat (the container keeps the repository's layout).
BASE_MODEL_CANDIDATES = (REPO_ROOT / "functions" / "chat" / "default_model",)


def _channel(name: str) -> Path:
    return Path(os.environ.get(f"SM_CHANNEL_{name.upper()}", f"/opt/ml/input/data/{name}"))


def _default_base_model() -> Path:
    configured = os.environ.get("SHELFWISE_CHAT_BASE_MODEL")
    if configured:
        return Path(configured)
    return next((path for path in BASE_MODEL_CANDIDATES if path.is_dir()), BASE_MODEL_CANDIDATES[-1])


def parse_args(argv: list[str], settings: ChatHyperparameters | None = None) -> argparse.Namespace:
    if argv and argv[0] == "train":  # SageMaker starts training images as `<image> train`
        argv = argv[1:]
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--intents", type=Path, default=_channel("intents"), help="intent data file/folder")
    parser.add_argument("--sentiment", type=Path, default=_channel("sentiment"), help="sentiment file/folder")
    parser.add_argument(
        "--replies", type=Path, default=_channel("replies"), help="reply template file/folder"
    )
    parser.add_argument(
        "--base-model",
        type=Path,
        default=_default_base_model(),
        help="version directory whose classifier is kept for a channel without data",
    )
    parser.add_argument(
        "--model-dir", type=Path, default=Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    )
    parser.add_argument(
        "--output-dir", type=Path, default=Path(os.environ.get("SM_OUTPUT_DIR", "/opt/ml/output"))
    )
    parser.add_argument(
        "--default-corpora",
        action="store_true",
        help="train a channel without data from the shipped default corpus instead of keeping the base "
        "model's classifier (how functions/chat/default_model is built)",
    )
    parser.add_argument(
        "--failure-file",
        type=Path,
        default=Path(os.environ["SM_OUTPUT_FAILURE"]) if os.environ.get("SM_OUTPUT_FAILURE") else None,
        help="where the failure reason goes (default: <output-dir>/failure)",
    )
    parser.add_argument(
        "--encoder",
        type=Path,
        default=None,
        help="sentence encoder folder (default: the base model's encoder/, which the default model ships)",
    )
    parser.add_argument(
        "--no-encoder",
        action="store_true",
        help="train the n-gram classifiers alone, without the embedding heads and the blend",
    )
    parser.add_argument(
        "--encoder-parts",
        default="intent,sentiment",
        help="which classifiers get an embedding head and the blend (comma-separated); the shipped default "
        "sentiment corpus (about 100,000 rows, mostly lexicon-labelled) is built with intent only",
    )
    parser.add_argument(
        "--han-words",
        default="sentiment",
        help="which n-gram classifiers split Chinese text into dictionary words for their word n-grams "
        "(comma-separated, empty for none); on the training parts of the Chinese review and intent sets "
        "(5-fold cross-validation) segmentation helped the reviews by 0.23 points and not the short intent "
        "utterances",
    )
    parser.add_argument("--version", default=None, help="version directory name (default: chat-<UTC time>)")
    parser.add_argument("--c", type=float, default=0.7, help="SVM regularisation strength, intent model")
    parser.add_argument("--sentiment-c", type=float, default=0.3, help="SVM regularisation, sentiment model")
    parser.add_argument("--holdout", type=float, default=0.1, help="held-out fraction for metrics")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--no-refit", action="store_true", help="keep the model fitted without the held-out rows"
    )
    parser.add_argument(
        "--fine-tune-epochs",
        type=int,
        default=0,
        help="epochs of fine-tuning the encoder on this run's messages before the heads are fitted (PyTorch; "
        "0 keeps the encoder frozen)",
    )
    if settings is not None:
        parser.set_defaults(**settings.as_defaults())
    return parser.parse_args(argv)


def data_files(location: Path) -> list[Path]:
    """The data files of a channel; empty when the channel is absent or holds nothing readable."""
    if location.is_file():
        return [location]
    if not location.is_dir():
        return []
    return sorted(
        path
        for path in location.rglob("*")
        if path.is_file() and not path.name.startswith(".") and path.name.endswith(DATA_SUFFIXES)
    )


def _parquet_as_csv(part: Path, target: Path, label_column: str) -> None:
    """Curated parts become `text,<label>` CSV so one reader applies the same row rules to every source."""
    import pyarrow.parquet as pq

    table = pq.read_table(part)
    missing = [name for name in ("text", label_column) if name not in table.column_names]
    if missing:
        raise TrainingDataRefused(f"{part.name}: no {', '.join(missing)} column (found {table.column_names})")
    with open(target, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", label_column])
        for text, label in zip(
            table.column("text").to_pylist(), table.column(label_column).to_pylist(), strict=True
        ):
            writer.writerow(["" if text is None else text, "" if label is None else label])


def read_channel(location: Path, label_column: str, label_map: dict[str, str] | None = None) -> LabelledTexts:
    files = data_files(location)
    with tempfile.TemporaryDirectory(prefix="chat-channel-") as staging_name:
        staging = Path(staging_name)
        for index, path in enumerate(files):
            # Index first: parts from different folders may share a name; the rest keeps the source readable.
            if path.suffix == ".parquet":
                _parquet_as_csv(path, staging / f"{index:04d}-{path.stem}.csv", label_column)
            else:
                (staging / f"{index:04d}-{path.name}").symlink_to(path.resolve())
        return read_labelled(staging, label_map=label_map)


def _reply_rows(path: Path) -> list[dict[str, object]]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    opener = gzip.open if path.name.endswith(".gz") else open
    delimiter = "\t" if ".tsv" in path.name else ","
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
        return [
            {str(name).strip().lower(): value for name, value in row.items() if name is not None}
            for row in csv.DictReader(handle, delimiter=delimiter)
        ]


def read_replies(location: Path) -> tuple[dict[str, list[str]], list[Rejection]]:
    """The reply templates of a channel (intent -> templates, most specific first) and the rows left out.
    Curated parts are already validated; the same rules apply again to files given by hand."""
    rows: list[tuple[str, str]] = []
    rejections: list[Rejection] = []
    for path in data_files(location):
        for number, row in enumerate(_reply_rows(path), start=2):  # line 1 is the header
            intent = str(row.get("intent") or "").strip()
            template = str(row.get("template") or "").strip()
            missing = [
                name for name, value in zip(REPLY_COLUMNS, (intent, template), strict=True) if not value
            ]
            problem = f"{missing[0]} is missing" if missing else template_problem(template)
            if problem:
                field = missing[0] if missing else "template"
                rejections.append(Rejection(source=path.name, row=number, field=field, reason=problem))
            else:
                rows.append((intent, template))
    return order_templates(rows), rejections


def write_reply_templates(version_dir: Path, merged: MergedTemplates) -> None:
    (version_dir / TEMPLATES_FILE).write_text(
        json.dumps(merged.templates, indent=1, ensure_ascii=False), "utf-8"
    )


def _report_replies(merged: MergedTemplates) -> None:
    print(
        f"replies: {len(merged.from_retailer)} intents from the retailer's templates, "
        f"{len(merged.from_defaults)} from the defaults",
        flush=True,
    )
    notes = {
        "unknown_intents": "templates left out, the model has no such intent",
        "without_reply": "no template at all, these intents answer with reply null",
        "slot_only": "every template needs a slot, no reply when the message lacks it",
    }
    for key, note in notes.items():
        intents = getattr(merged, key)
        if intents:
            print(f"replies: {note}: {', '.join(intents)}", flush=True)


def classifier_from_version(version_dir: Path, part: str) -> TrainedClassifier:
    """One classifier of an existing version, as the packager needs it (weights read back from its ONNX)."""
    manifest = json.loads((version_dir / MANIFEST).read_text("utf-8"))
    labels = json.loads((version_dir / manifest.get("labels", "labels.json")).read_text("utf-8"))[part]
    entry = manifest[part]
    graph = onnx.load(str(version_dir / entry["onnx"])).graph
    weights = {initializer.name: numpy_helper.to_array(initializer) for initializer in graph.initializer}
    metrics_path = version_dir / METRICS
    metrics = json.loads(metrics_path.read_text("utf-8")).get(part, {}) if metrics_path.exists() else {}
    head_coef = head_intercept = None
    if entry.get("embedding_head"):
        head = onnx.load(str(version_dir / entry["embedding_head"])).graph
        head_weights = {item.name: numpy_helper.to_array(item) for item in head.initializer}
        head_coef = np.ascontiguousarray(head_weights["W"].T, dtype=np.float64)
        head_intercept = np.asarray(head_weights["b"], dtype=np.float64)
    return TrainedClassifier(
        vectorizer=Vectorizer.load(version_dir / entry["vectorizer"]),
        coef=np.ascontiguousarray(weights["W"].T, dtype=np.float64),
        intercept=np.asarray(weights["b"], dtype=np.float64),
        labels=[str(label) for label in labels],
        metrics=dict(metrics),
        head_coef=head_coef,
        head_intercept=head_intercept,
        ngram_weight=float(entry["ngram_weight"]) if entry.get("ngram_weight") is not None else None,
    )


def comparable_key(intent_labels: list[str], sentiment_labels: list[str], retrained: dict[str, bool]) -> str:
    """Versions are compared only when they answer with the same labels, each part measured on the same kind
    of data: a retailer's first sentiment model has the same three labels as the default, but its held-out
    accuracy comes from the retailer's messages, so comparing it with the default's would mean nothing."""
    payload = json.dumps(
        {
            "intent": sorted(intent_labels),
            "sentiment": sorted(sentiment_labels),
            "trained_on": {part: "retailer" if retrained[part] else "base" for part in sorted(retrained)},
        }
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def held_out_accuracy(metrics: dict[str, Any], part: str) -> float:
    held = metrics.get("held_out") or {}
    if "accuracy" not in held:
        raise RuntimeError(f"the {part} classifier has no held-out accuracy; it cannot be gated")
    return float(held["accuracy"])


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def finish_version(
    version_dir: Path,
    *,
    version: str,
    intent: TrainedClassifier,
    sentiment: TrainedClassifier,
    retrained: dict[str, bool],
    replies: MergedTemplates | None = None,
) -> None:
    """Adds the registry contract to what the packager wrote: the gate, then the manifest with file hashes."""
    metrics_path = version_dir / METRICS
    metrics = json.loads(metrics_path.read_text("utf-8"))
    metrics["gate"] = {
        "metrics": {
            "intent_accuracy": held_out_accuracy(intent.metrics, "intent"),
            "sentiment_accuracy": held_out_accuracy(sentiment.metrics, "sentiment"),
        },
        "comparable_key": comparable_key(intent.labels, sentiment.labels, retrained),
    }
    metrics_path.write_text(json.dumps(metrics, indent=1), "utf-8")
    manifest_path = version_dir / MANIFEST
    manifest = json.loads(manifest_path.read_text("utf-8"))
    manifest.update(model_name=MODEL_NAME, version=version)
    if replies is not None:
        manifest["replies"] = {"file": TEMPLATES_FILE, **replies.summary()}
    manifest["files"] = {
        path.relative_to(version_dir).as_posix(): sha256_of(path)
        for path in sorted(version_dir.rglob("*"))
        if path.is_file() and path != manifest_path
    }
    # Written last: a manifest present means every file it lists is complete.
    manifest_path.write_text(json.dumps(manifest, indent=1), "utf-8")


def _progress(line: str) -> None:
    print(line, flush=True)


def encoder_location(args: argparse.Namespace) -> Path | None:
    """The encoder the heads are trained on: given explicitly, or the one the base model carries."""
    if args.no_encoder:
        return None
    if args.encoder is not None:
        return args.encoder
    candidate = args.base_model / "encoder"
    return candidate if (candidate / "encoder.onnx").is_file() else None


def fine_tuned_encoder(
    args: argparse.Namespace,
    prepared: dict[str, tuple[LabelledTexts, FitOptions]],
    kept: dict[str, TrainedClassifier],
    encoder_parts: set[str],
    scratch: Path,
) -> tuple[Path, dict[str, tuple[np.ndarray, np.ndarray, list[str]]]] | None:
    """The encoder fine-tuned on this run's messages, exported into `scratch`, with the linear layer each part
    was fine-tuned through (coef, intercept, labels; a head candidate for the blend); None when there is
    nothing to fine-tune on, or when a classifier kept from the base model has a head trained on the base
    encoder (a changed encoder would silently break that head)."""
    from chat_training.encoder_build import build, source_dir
    from chat_training.finetune import Task, agreement, fine_tune

    with_head = [part for part, classifier in kept.items() if classifier.head_coef is not None]
    if with_head:
        print(
            f"fine-tuning skipped: the {', '.join(with_head)} classifier is kept from the base model with a "
            "head on the base encoder; send data for every part to fine-tune",
            flush=True,
        )
        return None
    tasks = []
    for part, (data, options) in prepared.items():
        if part not in encoder_parts:
            continue
        # Only the rows the blend fits on: its validation rows and the held-out rows stay unseen.
        _, _, fit_rows, _ = blend_splits(data.labels, options)
        rows = [row for row in fit_rows if reads_as_english(data.texts[row])]
        tasks.append(Task(part, [data.texts[row] for row in rows], [data.labels[row] for row in rows]))
    if not tasks:
        return None
    tuned = fine_tune(source_dir(), tasks, epochs=args.fine_tune_epochs, seed=args.seed, progress=_progress)
    out = build(scratch / "encoder", progress=_progress, module=tuned.module, fine_tuning=tuned.summary)
    sample = [text for task in tasks for text in task.texts[:20]]
    cosine = agreement(tuned.module, out, sample)
    print(
        f"  fine-tuned encoder: int8 ONNX vs PyTorch cosine >= {cosine:.4f} on {len(sample)} messages",
        flush=True,
    )
    if cosine < MIN_EXPORT_COSINE:
        raise RuntimeError(f"the exported fine-tuned encoder disagrees with PyTorch (cosine {cosine:.3f})")
    heads = {
        task.name: (coef, intercept, sorted(set(task.labels)))
        for task, (coef, intercept) in zip(tasks, tuned.heads, strict=True)
    }
    return out, heads


def run(args: argparse.Namespace) -> Path:
    with tempfile.TemporaryDirectory(prefix="chat-job-") as scratch:
        return _run(args, Path(scratch))


def _run(args: argparse.Namespace, scratch: Path) -> Path:
    version = args.version or new_version()
    encoder_dir = encoder_location(args)
    print(f"sentence encoder: {encoder_dir or 'none (n-gram classifiers only)'}", flush=True)
    encoder_parts = {part.strip() for part in args.encoder_parts.split(",") if part.strip()}
    han_word_parts = {part.strip() for part in args.han_words.split(",") if part.strip()}
    plans = {
        "intent": (args.intents, "intent", None, args.c),
        "sentiment": (args.sentiment, "sentiment", SENTIMENT_LABEL_ALIASES, args.sentiment_c),
    }
    prepared: dict[str, tuple[LabelledTexts, FitOptions]] = {}
    trained: dict[str, TrainedClassifier] = {}
    sources: dict[str, str] = {}
    rejections: dict[str, list] = {}
    retrained: dict[str, bool] = {}
    for part, (location, label_column, label_map, c) in plans.items():
        options = FitOptions(
            config=ngram_config(part in han_word_parts),
            c=c,
            holdout=args.holdout,
            seed=args.seed,
            refit_on_all=not args.no_refit,
        )
        if not data_files(location) and args.default_corpora:
            print(f"{part}: no data at {location}; training on the shipped default corpus", flush=True)
            data = DEFAULT_CORPORA[part]()
            # The default sentiment corpus has few neutral examples; a retailer's file is fitted as it comes.
            balanced = "balanced" if part == "sentiment" else None
            prepared[part] = (data, replace(options, class_weight=balanced))
            sources[part] = f"shipped default {part} corpus"
            rejections[part] = data.rejections
            retrained[part] = False
            continue
        if not data_files(location):
            print(f"{part}: no data at {location}; keeping the base model's classifier", flush=True)
            base_version = json.loads((args.base_model / MANIFEST).read_text("utf-8")).get("version", "?")
            trained[part] = classifier_from_version(args.base_model, part)
            sources[part] = f"base model {base_version} (no {part} data in this run)"
            rejections[part] = []
            retrained[part] = False
            continue
        data = read_channel(location, label_column, label_map)
        print(f"{part}: {len(data.texts)} rows, {len(data.rejections)} rejected", flush=True)
        prepared[part] = (data, options)
        sources[part] = f"{len(data.texts)} labeled rows from {location}"
        rejections[part] = data.rejections
        retrained[part] = True

    encoder_description = FROZEN_ENCODER
    tuned_heads: dict[str, tuple[np.ndarray, np.ndarray, list[str]]] = {}
    if encoder_dir is not None and args.fine_tune_epochs > 0:
        tuned = fine_tuned_encoder(args, prepared, trained, encoder_parts, scratch)
        if tuned is not None:
            encoder_dir, tuned_heads = tuned
            epochs = args.fine_tune_epochs
            encoder_description = f"all-MiniLM-L6-v2 fine-tuned {epochs} epochs on this run's rows, int8 ONNX"
    encoder = SentenceEncoder(encoder_dir) if encoder_dir is not None else None
    for part, (data, options) in prepared.items():
        print(f"training {part} classifier", flush=True)
        if encoder is None or part not in encoder_parts:
            trained[part] = train_classifier(data, options, progress=_progress)
        else:
            trained[part] = train_blended(
                data,
                options,
                encoder,
                progress=_progress,
                encoder_description=encoder_description,
                tuned_head=tuned_heads.get(part),
            )

    retailer_templates, rejections["replies"] = read_replies(args.replies)
    merged = merge_templates(trained["intent"].labels, retailer_templates)
    template_count = sum(len(options) for options in retailer_templates.values())
    sources["replies"] = (
        f"{template_count} templates for {len(retailer_templates)} intents from {args.replies}"
        if retailer_templates
        else "default templates (no reply templates in this run)"
    )
    _report_replies(merged)
    version_dir = args.model_dir / version
    write_version(
        version_dir,
        version=version,
        intent=trained["intent"],
        sentiment=trained["sentiment"],
        sources=sources,
        rejections=rejections,
        encoder_dir=encoder_dir if encoder_dir is not None else args.base_model / "encoder",
    )
    write_reply_templates(version_dir, merged)
    finish_version(
        version_dir,
        version=version,
        intent=trained["intent"],
        sentiment=trained["sentiment"],
        retrained=retrained,
        replies=merged,
    )
    print(f"model version {version} written to {version_dir}", flush=True)
    return version_dir


def _write_failure(args: argparse.Namespace, reason: str) -> None:
    failure = args.failure_file or args.output_dir / "failure"
    try:
        failure.parent.mkdir(parents=True, exist_ok=True)
        failure.write_text(reason, "utf-8")
    except OSError as error:
        print(f"could not write the failure file: {error}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        settings = read_job_hyperparameters(ChatHyperparameters)
    except ValueError as error:
        _write_failure(parse_args(argv), f"ValueError: {error}")
        print(f"training failed: {error}", file=sys.stderr, flush=True)
        return 1
    args = parse_args(argv, settings)
    print(f"deployment settings: {settings.as_defaults() or 'none'}", flush=True)
    try:
        run(args)
    except TrainingDataRefused as refusal:
        print(f"training refused: {refusal}", file=sys.stderr, flush=True)
        _write_failure(args, f"training refused: {refusal}")
        return 2
    except Exception as error:  # the contract wants the reason in the failure file, whatever it is
        _write_failure(args, f"{type(error).__name__}: {error}\n{traceback.format_exc()}")
        raise
    return 0
