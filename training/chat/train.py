"""Chat triage training job (SageMaker training-container contract; the same command runs locally).

Channels: `intents` and `sentiment`, each a file or folder of `text,<label>` CSV/TSV files (gzip allowed),
read from SM_CHANNEL_INTENTS / SM_CHANNEL_SENTIMENT (default /opt/ml/input/data/<channel>). A missing channel
falls back to the shipped default corpus. The model version directory goes to SM_MODEL_DIR (default
/opt/ml/model); a failure reason goes to /opt/ml/output/failure. Flags override everything for local runs:

    python training/chat/train.py --intents my_intents.csv --model-dir /tmp/chat-models
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
_DOMAIN = Path(__file__).resolve().parents[2] / "layers" / "domain" / "python"
if _DOMAIN.is_dir():
    sys.path.insert(0, str(_DOMAIN))

from chat_training.corpora import default_intents, default_sentiment  # noqa: E402
from chat_training.data import LabelledTexts, TrainingDataRefused, read_labelled  # noqa: E402
from chat_training.fit import FitOptions, train_classifier  # noqa: E402
from chat_training.package import new_version, write_version  # noqa: E402

SENTIMENT_LABEL_ALIASES = {
    "0": "negative",
    "1": "positive",
    "-1": "negative",
    "neg": "negative",
    "pos": "positive",
}


def _channel(name: str) -> Path:
    return Path(os.environ.get(f"SM_CHANNEL_{name.upper()}", f"/opt/ml/input/data/{name}"))


def parse_args(argv: list[str]) -> argparse.Namespace:
    if argv and argv[0] == "train":  # SageMaker starts training images as `<image> train`
        argv = argv[1:]
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--intents", type=Path, default=_channel("intents"), help="intent training file/folder"
    )
    parser.add_argument("--sentiment", type=Path, default=_channel("sentiment"), help="sentiment file/folder")
    parser.add_argument(
        "--model-dir", type=Path, default=Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    )
    parser.add_argument(
        "--output-dir", type=Path, default=Path(os.environ.get("SM_OUTPUT_DIR", "/opt/ml/output"))
    )
    parser.add_argument("--version", default=None, help="version directory name (default: chat-<UTC time>)")
    parser.add_argument("--c", type=float, default=0.7, help="SVM regularisation strength, intent model")
    parser.add_argument("--sentiment-c", type=float, default=0.3, help="SVM regularisation, sentiment model")
    parser.add_argument("--holdout", type=float, default=0.1, help="held-out fraction for metrics")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--no-refit", action="store_true", help="keep the model fitted without the held-out rows"
    )
    return parser.parse_args(argv)


def _load(
    location: Path, default, what: str, label_map: dict[str, str] | None = None
) -> tuple[LabelledTexts, str]:
    if location.exists():
        print(f"reading {what} data from {location}", flush=True)
        return read_labelled(location, label_map=label_map), str(location)
    print(f"no {what} channel at {location}; using the shipped default corpus", flush=True)
    return default(), f"shipped default {what} corpus"


def run(args: argparse.Namespace) -> Path:
    version = args.version or new_version()
    options = FitOptions(c=args.c, holdout=args.holdout, seed=args.seed, refit_on_all=not args.no_refit)
    intents, intent_source = _load(args.intents, default_intents, "intent")
    print(f"intent: {len(intents.texts)} rows, {len(intents.rejections)} rejected", flush=True)
    sentiment, sentiment_source = _load(
        args.sentiment, default_sentiment, "sentiment", SENTIMENT_LABEL_ALIASES
    )
    print(f"sentiment: {len(sentiment.texts)} rows, {len(sentiment.rejections)} rejected", flush=True)
    print("training intent classifier", flush=True)
    intent_model = train_classifier(intents, options, progress=lambda line: print(line, flush=True))
    print("training sentiment classifier", flush=True)
    sentiment_options = FitOptions(
        c=args.sentiment_c,
        holdout=args.holdout,
        seed=args.seed,
        refit_on_all=not args.no_refit,
        # The default corpus has few neutral examples; a retailer's own file is fitted as it comes.
        class_weight=None if args.sentiment.exists() else "balanced",
    )
    sentiment_model = train_classifier(sentiment, sentiment_options, lambda line: print(line, flush=True))
    version_dir = args.model_dir / version
    write_version(
        version_dir,
        version=version,
        intent=intent_model,
        sentiment=sentiment_model,
        sources={"intent": intent_source, "sentiment": sentiment_source},
        rejections={"intent": intents.rejections, "sentiment": sentiment.rejections},
    )
    print(f"model version {version} written to {version_dir}", flush=True)
    return version_dir


def _write_failure(output_dir: Path, reason: str) -> None:
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "failure").write_text(reason, "utf-8")
    except OSError as error:
        print(f"could not write the failure file: {error}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        run(args)
    except TrainingDataRefused as refusal:
        print(f"training refused: {refusal}", file=sys.stderr, flush=True)
        _write_failure(args.output_dir, f"training refused: {refusal}")
        return 2
    except Exception as error:  # the contract wants the reason in the failure file, whatever it is
        _write_failure(args.output_dir, f"{type(error).__name__}: {error}\n{traceback.format_exc()}")
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
