"""Offline evaluation: fit on the training side of a split, rank unseen items, score against the test side."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from .data import InteractionMatrix
from .interface import ProgressCallback, RecommenderModel, no_progress, top_n
from .metrics import ranking_report


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
    return top_n(scores, k)


def evaluate_model(
    model: RecommenderModel,
    train: InteractionMatrix,
    test_pairs: pd.DataFrame,
    k: int = 10,
    progress: ProgressCallback = no_progress,
    batch_size: int = 2048,
    fit_rows: sparse.csr_matrix | None = None,
) -> Evaluation:
    """Fit on `fit_rows` (the training users' rows when None), then rank unseen items for every user.

    The users are the first rows of `fit_rows` (see data.training_rows), so row i of `train` is user id i.
    """
    started = time.perf_counter()
    model.fit(train.matrix if fit_rows is None else fit_rows, progress)
    train_seconds = time.perf_counter() - started
    recommendations: dict[object, list[object]] = {}
    for start in range(0, train.n_users, batch_size):
        block = train.matrix[start : start + batch_size]
        best, _ = model.recommend(np.arange(start, start + block.shape[0]), block, N=k)
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
