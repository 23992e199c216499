"""The recommender training job, following the SageMaker training-container contract.

Inputs:  $SM_CHANNEL_INTERACTIONS (default /opt/ml/input/data/interactions) — interactions as Parquet/CSV
         $SM_CHANNEL_CATALOG      (default /opt/ml/input/data/catalog)      — catalog as Parquet/CSV, optional
Output:  $SM_MODEL_DIR            (default /opt/ml/model) — one <version>/ directory (manifest, ONNX, ...)
Failure: /opt/ml/output/failure (or $SM_OUTPUT_FAILURE) gets a one-paragraph reason; the exit code is 1.
Settings: $SM_INPUT_CONFIG_DIR/hyperparameters.json (default /opt/ml/input/config), the deployment's
         hyperparameters (shelfwise_recommender/hyperparameters.py); they replace the defaults below.
Flags override every path and hyper-parameter for local runs: `python training/recommender/train.py --help`
(`train.py` is the container's entrypoint and calls `main`).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

from .config import DEFAULT_EVENT_WEIGHTS, TrainConfig, WeightingConfig
from .data import TrainingDataError
from .hyperparameters import Hyperparameters, read_hyperparameters
from .io import read_channel
from .pipeline import SERVABLE_MODELS, train
from .progress import Progress

DEFAULT_FAILURE_FILE = "/opt/ml/output/failure"


def parse_args(argv: list[str] | None = None, settings: Hyperparameters | None = None) -> argparse.Namespace:
    """Flags over the deployment's hyperparameters (`settings`) over the job's defaults."""
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(description="Train the shelfwise recommender and export it as ONNX.")
    # SageMaker runs training images as `<image> train`.
    parser.add_argument("mode", nargs="?", choices=("train",), default="train", help=argparse.SUPPRESS)
    parser.add_argument(
        "--interactions",
        type=Path,
        default=Path(os.environ.get("SM_CHANNEL_INTERACTIONS", "/opt/ml/input/data/interactions")),
    )
    parser.add_argument(
        "--catalog",
        type=Path,
        default=Path(os.environ.get("SM_CHANNEL_CATALOG", "/opt/ml/input/data/catalog")),
    )
    parser.add_argument(
        "--model-dir", type=Path, default=Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    )
    parser.add_argument(
        "--failure-file", type=Path, default=Path(os.environ.get("SM_OUTPUT_FAILURE", DEFAULT_FAILURE_FILE))
    )
    parser.add_argument("--model", choices=SERVABLE_MODELS, default=defaults.model)
    parser.add_argument("--l2", type=float, default=defaults.l2)
    parser.add_argument(
        "--diagonal-penalty",
        type=float,
        default=defaults.diagonal_penalty,
        help="EDLAE: extra L2 per unit of an item's own popularity (0 = plain EASE)",
    )
    parser.add_argument("--rank", type=int, default=defaults.rank)
    parser.add_argument(
        "--sequence-window",
        type=int,
        default=defaults.sequence_window,
        help="also fit windows of this many consecutive items of each user's history; 0 turns it off",
    )
    parser.add_argument(
        "--sequence-weight",
        type=float,
        default=defaults.sequence_weight,
        help="weight of the history windows relative to the users' whole histories",
    )
    parser.add_argument(
        "--vae-weight",
        type=float,
        default=defaults.vae_weight,
        help="ease_vae: the Mult-VAE's weight in the blend with EASE",
    )
    parser.add_argument(
        "--vae-max-items",
        type=int,
        default=defaults.vae_max_items,
        help="ease_vae: larger catalogs are served by low-rank EASE alone",
    )
    parser.add_argument("--quantize", choices=("int8", "none"), default=defaults.quantize)
    parser.add_argument(
        "--ranker",
        choices=("auto", "off"),
        default=defaults.ranker,
        help="auto: train the FM re-ranker and ship it only if the hold-out improves",
    )
    parser.add_argument(
        "--half-life-days",
        type=float,
        default=defaults.weighting.half_life_days,
        help="recency half-life of an event's weight; 0 turns decay off",
    )
    parser.add_argument(
        "--recency-boost",
        type=float,
        default=defaults.recency_boost,
        help="weight multiple of events newer than the model at serving time; unset: chosen on validation",
    )
    for event_type, weight in DEFAULT_EVENT_WEIGHTS.items():
        parser.add_argument(f"--weight-{event_type}", type=float, default=weight)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    if settings is not None:
        parser.set_defaults(**settings.as_defaults())
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    weighting = WeightingConfig(
        event_weights={
            event_type: getattr(args, f"weight_{event_type}") for event_type in DEFAULT_EVENT_WEIGHTS
        },
        half_life_days=args.half_life_days or None,
    )
    return replace(
        TrainConfig(),
        model=args.model,
        l2=args.l2,
        diagonal_penalty=args.diagonal_penalty,
        rank=args.rank,
        sequence_window=args.sequence_window,
        sequence_weight=args.sequence_weight,
        vae_weight=args.vae_weight,
        vae_max_items=args.vae_max_items,
        quantize=args.quantize,
        ranker=args.ranker,
        recency_boost=args.recency_boost,
        weighting=weighting,
        seed=args.seed,
    )


def main(argv: list[str] | None = None) -> int:
    try:
        settings = read_hyperparameters()
    except ValueError as error:
        failure = parse_args(argv).failure_file
        _write_failure(failure, f"ValueError: {error}")
        print(f"training failed: {error}", file=sys.stderr)
        return 1
    args = parse_args(argv, settings)
    progress = Progress()
    try:
        config = config_from_args(args)
        progress.step(
            f"hyperparameters: half_life_days={config.weighting.half_life_days}, "
            f"event_weights={config.weighting.event_weights}, l2={config.l2:g}, rank={config.rank}, "
            f"ranker={config.ranker}, recency_boost={config.recency_boost or 'chosen on validation'} "
            f"(deployment settings: {settings.as_defaults() or 'none'})"
        )
        progress.step(f"reading interactions from {args.interactions} and catalog from {args.catalog}")
        interactions = read_channel(args.interactions, required=True)
        interactions = _without_erased_customers(interactions, progress)
        catalog = read_channel(args.catalog, required=False)
        with progress.heartbeat():
            result = train(interactions, catalog, config, args.model_dir, progress)
    except (TrainingDataError, ValueError, OSError) as error:
        _write_failure(args.failure_file, f"{type(error).__name__}: {error}")
        print(f"training failed: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # the contract wants every failure explained in the failure file
        _write_failure(args.failure_file, f"{type(error).__name__}: {error}\n{traceback.format_exc()}")
        raise
    progress.step(f"done: {result.model_dir}")
    return 0


def _without_erased_customers(interactions: Any, progress: Progress) -> Any:
    """The interactions without the rows of customers on the deny list (the `erased_customers` channel)."""
    from shelfwise.privacy.erasure_deny_list import drop_erased, markers_in

    channel = Path(os.environ.get("SM_CHANNEL_ERASED_CUSTOMERS", "/opt/ml/input/data/erased_customers"))
    deny_markers = markers_in(channel)
    kept, removed = drop_erased(interactions, deny_markers)
    progress.step(f"left out {removed} rows of erased customers ({len(deny_markers)} on the deny list)")
    return kept


def _write_failure(path: Path, reason: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(reason + "\n", encoding="utf-8")
    except OSError as error:
        print(f"could not write the failure file {path}: {error}", file=sys.stderr)
