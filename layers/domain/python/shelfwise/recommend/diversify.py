"""Optional re-ranking of a user's candidates for variety, off unless a deployment turns it on.

Two greedy re-rankers over the model's top `pool` candidates, both trading relevance for category spread:

- `calibrated` (Steck, "Calibrated Recommendations", RecSys 2018): pick items one at a time maximising
  (1 - λ) · Σ relevance - λ · KL(p || q̃), where p is the category distribution of the user's history
  (weighted by the history's weights), q the distribution of the list so far and q̃ = (1 - a) q + a p with
  a = 0.01 so the divergence stays finite. A shopper who buys 70% shoes and 30% bags gets about that mix
  instead of ten pairs of shoes.
- `mmr` (maximal marginal relevance, Carbonell & Goldstein 1998, over categories): pick the item maximising
  (1 - λ) · relevance - λ · max similarity to an item already picked, similarity being the Jaccard overlap of
  the two items' category labels (1 for the same single category).

Relevance is the model's score min-max scaled over the candidates, because raw scores live on different
scales for different models and versions while λ should mean the same thing everywhere. An item without a
category counts as unlike every other item and contributes nothing to a distribution. Under a category
filter every candidate shares one category, so both reduce to the model's own order.

Configured per deployment with `SHELFWISE_RECOMMEND_RERANK`: `off` (default), `calibrated:<λ>` or
`mmr:<λ>`, λ in [0, 1]; read once per process.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

RERANK_ENV = "SHELFWISE_RECOMMEND_RERANK"
# Candidates the re-ranker chooses from; more gives it room to diversify at the cost of relevance.
DEFAULT_POOL = 50
CALIBRATION_ALPHA = 0.01

Method = Literal["off", "calibrated", "mmr"]


@dataclass(frozen=True)
class RerankConfig:
    method: Method = "off"
    weight: float = 0.0
    pool: int = DEFAULT_POOL

    @property
    def enabled(self) -> bool:
        return self.method != "off" and self.weight > 0

    @property
    def setting(self) -> str:
        """The deployment setting's text for this configuration (what `parse` reads back)."""
        return f"{self.method}:{self.weight:g}" if self.enabled else "off"

    @classmethod
    def parse(cls, raw: str | None) -> RerankConfig:
        """`off`, `calibrated:<λ>` or `mmr:<λ>`; anything else is a deployment error naming the variable."""
        text = (raw or "").strip().lower()
        if text in ("", "off", "none"):
            return cls()
        method, _, weight_text = text.partition(":")
        try:
            weight = float(weight_text)
        except ValueError:
            weight = float("nan")
        if method not in ("calibrated", "mmr") or not 0.0 <= weight <= 1.0:
            raise ValueError(
                f"{RERANK_ENV} must be 'off', 'calibrated:<weight>' or 'mmr:<weight>' with a weight in "
                f"[0, 1], got {raw!r}"
            )
        return cls(method=method, weight=weight)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RerankConfig:
        return cls.parse((os.environ if environ is None else environ).get(RERANK_ENV))


@functools.cache
def configured() -> RerankConfig:
    """The deployment's setting, read from the environment once per process."""
    return RerankConfig.from_env()


def relevance(scores: np.ndarray) -> np.ndarray:
    """Scores min-max scaled to [0, 1] (all ones when they are all equal)."""
    scores = np.asarray(scores, dtype=np.float64)
    low, high = float(scores.min()), float(scores.max())
    if not np.isfinite(low) or not np.isfinite(high) or high - low <= 0:
        return np.ones(len(scores))
    return (scores - low) / (high - low)


def label_distribution(labels: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Σ weight · p(g|item) normalised to sum to 1, p(g|item) spreading an item evenly over its labels."""
    labels = np.asarray(labels, dtype=np.float64)
    if labels.ndim != 2 or labels.shape[0] == 0:
        return np.zeros(labels.shape[-1] if labels.ndim == 2 else 0)
    per_item = labels / np.maximum(labels.sum(axis=1, keepdims=True), 1.0)
    weighted = per_item if weights is None else per_item * np.asarray(weights, np.float64)[:, None]
    total = weighted.sum()
    return weighted.sum(axis=0) / total if total > 0 else np.zeros(labels.shape[1])


def kl_divergence(target: np.ndarray, mix: np.ndarray, alpha: float = CALIBRATION_ALPHA) -> np.ndarray:
    """KL(target || (1 - alpha) · mix + alpha · target) for one mix or a row per candidate mix."""
    blended = (1.0 - alpha) * mix + alpha * target
    present = target > 0
    return (target[present] * np.log(target[present] / blended[..., present])).sum(axis=-1)


def calibrated(
    scores: np.ndarray, labels: np.ndarray, target: np.ndarray, k: int, weight: float
) -> np.ndarray:
    """Positions of the k candidates chosen greedily for relevance and closeness to `target` (Steck 2018)."""
    rel = relevance(scores)
    per_item = np.asarray(labels, np.float64)
    per_item = per_item / np.maximum(per_item.sum(axis=1, keepdims=True), 1.0)
    target = np.asarray(target, dtype=np.float64)
    chosen: list[int] = []
    available = np.ones(len(rel), dtype=bool)
    mass = np.zeros(per_item.shape[1])
    gained = 0.0
    for _ in range(min(k, len(rel))):
        if target.sum() > 0:
            mixes = mass + per_item
            totals = mixes.sum(axis=1, keepdims=True)
            mixes = np.divide(mixes, totals, out=np.zeros_like(mixes), where=totals > 0)
            divergence = kl_divergence(target, mixes)
        else:
            divergence = np.zeros(len(rel))
        value = (1.0 - weight) * (gained + rel) - weight * divergence
        value[~available] = -np.inf
        best = int(np.argmax(value))
        chosen.append(best)
        available[best] = False
        mass += per_item[best]
        gained += rel[best]
    return np.array(chosen, dtype=np.int64)


def jaccard_similarity(labels: np.ndarray) -> np.ndarray:
    """Pairwise Jaccard overlap of the rows' label sets (0 for an item without labels)."""
    binary = (np.asarray(labels) > 0).astype(np.float64)
    shared = binary @ binary.T
    sizes = binary.sum(axis=1)
    union = sizes[:, None] + sizes[None, :] - shared
    return np.divide(shared, union, out=np.zeros_like(shared), where=union > 0)


def mmr(scores: np.ndarray, labels: np.ndarray, k: int, weight: float) -> np.ndarray:
    """Positions of the k candidates chosen greedily by maximal marginal relevance over category labels."""
    rel = relevance(scores)
    similarity = jaccard_similarity(labels)
    chosen: list[int] = []
    available = np.ones(len(rel), dtype=bool)
    closest = np.zeros(len(rel))
    for _ in range(min(k, len(rel))):
        value = (1.0 - weight) * rel - weight * closest
        value[~available] = -np.inf
        best = int(np.argmax(value))
        chosen.append(best)
        available[best] = False
        closest = np.maximum(closest, similarity[best])
    return np.array(chosen, dtype=np.int64)


def rerank(
    config: RerankConfig,
    scores: np.ndarray,
    labels: np.ndarray,
    history_labels: np.ndarray,
    history_weights: np.ndarray,
    k: int,
) -> np.ndarray:
    """Positions of the k candidates to show, best first (the model's order when re-ranking is off).

    `scores` are the candidates' model scores best first, `labels` their (n, categories) indicator rows,
    `history_labels` / `history_weights` the user's history items' rows and weights (calibration's target).
    """
    if not config.enabled or len(scores) == 0:
        return np.arange(min(k, len(scores)), dtype=np.int64)
    if config.method == "mmr":
        return mmr(scores, labels, k, config.weight)
    target = label_distribution(history_labels, history_weights)
    return calibrated(scores, labels, target, k, config.weight)


def one_hot(codes: np.ndarray, n_labels: int) -> np.ndarray:
    """(len(codes), n_labels) indicator rows for single-category items; -1 (no category) is an empty row."""
    codes = np.asarray(codes, dtype=np.int64)
    return (codes[:, None] == np.arange(n_labels)[None, :]).astype(np.float64)
