"""Offline evaluation: fit on the training side of a split, rank unseen items, score against the test side."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from .data import InteractionMatrix
from .metrics import ranking_report
from .models import Ease, EaseLowRank, EaseSvd, Ials, Popularity, ProgressCallback, _quiet


@dataclass
class Evaluation:
    model: str
    metrics: dict[str, float]
    train_seconds: float
    # Each user's top-k item ids, kept for the exposure and diversity measurements.
    recommendations: dict[object, list[object]] = field(default_factory=dict)


def top_k_unseen(scores: np.ndarray, seen: sparse.csr_matrix, k: int) -> np.ndarray:
    """Column indices of the k best-scoring items per row, skipping items the row already interacted with."""
    scores = np.array(scores, dtype=np.float64, copy=True)
    rows, cols = seen.nonzero()
    scores[rows, cols] = -np.inf
    k = min(k, scores.shape[1])
    candidates = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, candidates, axis=1), axis=1, kind="stable")
    return np.take_along_axis(candidates, order, axis=1)


def evaluate_model(
    model: Popularity | Ease | EaseSvd | EaseLowRank | Ials,
    train: InteractionMatrix,
    test_pairs: pd.DataFrame,
    k: int = 10,
    progress: ProgressCallback = _quiet,
    batch_size: int = 2048,
    fit_rows: sparse.csr_matrix | None = None,
) -> Evaluation:
    """Fit on `fit_rows` (the training users' rows when None), then rank unseen items for every user."""
    started = time.perf_counter()
    model.fit(train.matrix if fit_rows is None else fit_rows, progress)
    train_seconds = time.perf_counter() - started
    recommendations: dict[object, list[object]] = {}
    for start in range(0, train.n_users, batch_size):
        block = train.matrix[start : start + batch_size]
        if isinstance(model, Ials):
            # iALS learns a vector per fitted row; the users come first (see data.training_rows).
            scores = model.user_factors[start : start + block.shape[0]] @ model.item_factors.T
        else:
            scores = model.score(block)
        best = top_k_unseen(scores, block, k)
        for offset, row in enumerate(best):
            recommendations[train.user_ids[start + offset]] = list(train.item_ids[row])
    relevant = test_pairs.groupby("user_id")["item_id"].agg(set).to_dict()
    user_share = np.asarray((train.matrix > 0).sum(axis=0)).ravel() / max(train.n_users, 1)
    metrics = ranking_report(
        recommendations,
        relevant,
        k,
        item_popularity=dict(zip(train.item_ids, user_share, strict=True)),
        n_catalog_items=train.n_items,
    )
    return Evaluation(
        model=model.name, metrics=metrics, train_seconds=train_seconds, recommendations=recommendations
    )
