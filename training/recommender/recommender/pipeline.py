"""The training job end to end: weight events, evaluate on a hold-out, fit on all data, export, self-check."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd

from .config import TrainConfig
from .data import InteractionMatrix, TrainingDataError, event_confidences
from .evaluate import evaluate_model, top_k_unseen
from .export import ExportInputs, export_model
from .models import Popularity, ServingFactors, build_model
from .progress import Progress
from .split import stratified_user_split

SERVABLE_MODELS = ("ease_lowrank", "ease_svd", "ials")
# Below this many users a hold-out says more about noise than about the model, so it is skipped.
MIN_USERS_FOR_EVALUATION = 20


@dataclass
class TrainResult:
    model_dir: Path
    metrics: dict[str, Any]


def _model_from_config(config: TrainConfig, kind: str | None = None):
    return build_model(
        kind or config.model,
        l2=config.l2,
        rank=config.rank,
        ials_factors=config.ials_factors,
        ials_regularization=config.ials_regularization,
        ials_alpha=config.ials_alpha,
        ials_iterations=config.ials_iterations,
        seed=config.seed,
    )


def train(
    interactions: pd.DataFrame,
    catalog: pd.DataFrame,
    config: TrainConfig,
    model_root: Path,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> TrainResult:
    progress = progress or Progress()
    if config.model not in SERVABLE_MODELS:
        raise TrainingDataError(f"model {config.model!r} cannot be served; choose one of {SERVABLE_MODELS}")
    pairs = event_confidences(interactions, config.weighting)
    progress.step(f"weighted {len(interactions)} events into {len(pairs)} user-item pairs")
    metrics: dict[str, Any] = {"k": config.top_k, "pairs": len(pairs), "evaluation": {}, "train_seconds": {}}
    if pairs["user_id"].nunique() >= MIN_USERS_FOR_EVALUATION:
        train_pairs, test_pairs = stratified_user_split(pairs, config.holdout_fraction, config.seed)
        train_matrix = InteractionMatrix.from_confidences(train_pairs)
        for kind in ("popularity", config.model):
            model = Popularity() if kind == "popularity" else _model_from_config(config)
            result = evaluate_model(model, train_matrix, test_pairs, config.top_k)
            metrics["evaluation"][kind] = result.metrics
            progress.step(
                f"hold-out {kind}: ndcg@{config.top_k}={result.metrics[f'ndcg@{config.top_k}']:.4f} "
                f"recall@{config.top_k}={result.metrics[f'recall@{config.top_k}']:.4f}"
            )
    else:
        progress.step(f"fewer than {MIN_USERS_FOR_EVALUATION} users: skipping the hold-out evaluation")

    item_ids, categories = _catalog_items(pairs, catalog)
    matrix = InteractionMatrix.from_confidences(pairs, item_ids=item_ids)
    model = _model_from_config(config)
    started = progress.elapsed
    model.fit(matrix.matrix, progress.step)
    metrics["train_seconds"]["final_fit"] = round(progress.elapsed - started, 3)
    factors: ServingFactors = model.serving_factors()
    counts = np.asarray((matrix.matrix > 0).sum(axis=0)).ravel()
    order = np.argsort(-counts, kind="stable")[: config.popular_items]
    popularity = [(str(matrix.item_ids[index]), float(counts[index])) for index in order if counts[index] > 0]
    progress.step(f"fitted {config.model} on {matrix.n_users} users x {matrix.n_items} items")

    model_dir = export_model(
        ExportInputs(
            factors=factors,
            matrix=matrix,
            item_categories=categories,
            popularity=popularity,
            weighting=config.weighting.to_dict(),
            metrics=metrics,
            config=config.to_dict(),
            quantize=config.quantize,
        ),
        model_root,
        now,
    )
    metrics["scorer_recall_vs_exact"] = scorer_agreement(
        model_dir, factors, matrix, config.top_k, config.seed
    )
    (model_dir / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    progress.step(
        f"exported {model_dir.name}; ONNX top-{config.top_k} agrees with exact scoring on "
        f"{metrics['scorer_recall_vs_exact']:.3f} of items"
    )
    return TrainResult(model_dir=model_dir, metrics=metrics)


def _catalog_items(pairs: pd.DataFrame, catalog: pd.DataFrame) -> tuple[np.ndarray, list[str | None]]:
    """Every item that was interacted with or is in the catalog, in a stable order, with its category."""
    known = set(pairs["item_id"].astype(str))
    category_of: dict[str, str | None] = {}
    if not catalog.empty and "item_id" in catalog.columns:
        ids = catalog["item_id"].astype(str)
        cats = catalog["category"] if "category" in catalog.columns else pd.Series([None] * len(catalog))
        category_of = {
            item: (None if pd.isna(category) else str(category))
            for item, category in zip(ids, cats, strict=True)
        }
        known |= set(ids)
    item_ids = np.array(sorted(known), dtype=object)
    return item_ids, [category_of.get(item) for item in item_ids]


def scorer_agreement(
    model_dir: Path, factors: ServingFactors, matrix: InteractionMatrix, k: int, seed: int, users: int = 200
) -> float:
    """Share of the exact top-k (numpy, fp32) that the exported ONNX graph also puts in its top-k."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(
        str(model_dir / "scorer.onnx"), options, providers=["CPUExecutionProvider"]
    )
    scales = np.load(model_dir / "item_scales.npy")
    rng = np.random.default_rng(seed)
    rows = rng.choice(matrix.n_users, size=min(users, matrix.n_users), replace=False)
    k = min(k, matrix.n_items)
    agreed = 0
    total = 0
    for row in rows:
        history = matrix.matrix[row]
        query = np.asarray(history @ factors.user_side, dtype=np.float32).reshape(1, -1)
        exact = top_k_unseen(query @ factors.item_side.T, history, k)[0]
        bias = np.zeros(matrix.n_items, dtype=np.float32)
        bias[history.indices] = -np.inf
        _, indices = session.run(
            None, {"query": query, "column_scale": scales, "score_bias": bias, "k": np.array([k], np.int64)}
        )
        agreed += len(set(exact.tolist()) & set(indices[0].tolist()))
        total += len(exact)
    return agreed / total if total else 1.0
