"""Second-stage ranking: a factorization machine (ONNX) re-orders the retrieval model's candidates.

The training job and the serving library build the feature vector with the same function,
`candidate_features`, so the model sees at serving time exactly what it was trained on. Features of one
(user, candidate item) pair, in order:

  retrieval_score_z     the candidate's retrieval score standardised over the user's candidate list
  log_item_popularity   log of the share of training users who interacted with the item
  category_affinity     share of the user's history weight in the item's category (0 without one)
  brand_affinity        the same for the item's brand
  price_band_gap        |item price band - the user's weighted mean band| / number of bands (0 when unknown)
  log_days_from_item    log(1 + days between the user's moment and the item's mean interaction time)

A user's moment is their newest event in training and the request time when serving.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

FEATURE_NAMES = (
    "retrieval_score_z",
    "log_item_popularity",
    "category_affinity",
    "brand_affinity",
    "price_band_gap",
    "log_days_from_item",
)
PRICE_BANDS = 5
SECONDS_PER_DAY = 86_400.0
# Items nobody interacted with in training have no activity time; treat them as a year away.
UNKNOWN_ITEM_DAYS = 365.0
MIN_POPULARITY_SHARE = 1e-6


@dataclass(frozen=True)
class ItemContext:
    """Per-item arrays (catalog order) the features read; -1 means unknown for the integer codes."""

    popularity_share: np.ndarray  # float32 (n_items,)
    category: np.ndarray  # int32 (n_items,)
    brand: np.ndarray  # int32 (n_items,)
    price_band: np.ndarray  # int8 (n_items,), 0..PRICE_BANDS-1
    mean_time: np.ndarray  # float64 (n_items,) epoch seconds, NaN when unknown

    def save(self, path: Path) -> None:
        np.savez(
            path,
            popularity_share=self.popularity_share,
            category=self.category,
            brand=self.brand,
            price_band=self.price_band,
            mean_time=self.mean_time,
        )

    @classmethod
    def load(cls, path: Path) -> ItemContext:
        with np.load(path) as arrays:
            return cls(**{name: np.asarray(arrays[name]) for name in arrays.files})


def _affinity(
    codes: np.ndarray, history: np.ndarray, weights: np.ndarray, candidates: np.ndarray
) -> np.ndarray:
    candidate_codes = codes[candidates]
    history_codes = codes[history]
    total = float(weights.sum())
    if total <= 0:
        return np.zeros(len(candidates), dtype=np.float64)
    known = history_codes >= 0
    shares: dict[int, float] = {}
    for code, weight in zip(history_codes[known].tolist(), weights[known].tolist(), strict=True):
        shares[code] = shares.get(code, 0.0) + weight / total
    return np.array([shares.get(code, 0.0) if code >= 0 else 0.0 for code in candidate_codes.tolist()])


def candidate_features(
    scores: np.ndarray,
    candidates: np.ndarray,
    history: np.ndarray,
    weights: np.ndarray,
    moment: float,
    items: ItemContext,
) -> np.ndarray:
    """(len(candidates), len(FEATURE_NAMES)) float32 features for one user's candidate list."""
    scores = np.asarray(scores, dtype=np.float64)
    spread = scores.std() if len(scores) > 1 else 0.0
    score_z = (scores - scores.mean()) / (spread + 1e-6)
    popularity = np.log(
        np.maximum(items.popularity_share[candidates].astype(np.float64), MIN_POPULARITY_SHARE)
    )
    bands = items.price_band[history].astype(np.float64)
    priced = bands >= 0
    candidate_bands = items.price_band[candidates].astype(np.float64)
    if priced.any() and weights[priced].sum() > 0:
        user_band = float(np.average(bands[priced], weights=weights[priced]))
        price_gap = np.where(candidate_bands >= 0, np.abs(candidate_bands - user_band) / PRICE_BANDS, 0.0)
    else:
        price_gap = np.zeros(len(candidates))
    item_time = items.mean_time[candidates]
    days = np.where(np.isnan(item_time), UNKNOWN_ITEM_DAYS, np.abs(moment - item_time) / SECONDS_PER_DAY)
    columns = [
        score_z,
        popularity,
        _affinity(items.category, history, weights, candidates),
        _affinity(items.brand, history, weights, candidates),
        price_gap,
        np.log1p(days),
    ]
    return np.stack(columns, axis=1).astype(np.float32)


class Ranker:
    """The exported FM graph plus the item arrays its features need."""

    def __init__(self, session: ort.InferenceSession, items: ItemContext, candidates: int) -> None:
        self._session = session
        self.items = items
        self.candidates = candidates

    @classmethod
    def load(cls, model_dir: Path, spec: dict[str, Any]) -> Ranker:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(
            str(Path(model_dir) / spec["graph"]), options, providers=["CPUExecutionProvider"]
        )
        return cls(session, ItemContext.load(Path(model_dir) / spec["items"]), int(spec["candidates"]))

    def score(self, features: np.ndarray) -> np.ndarray:
        (scores,) = self._session.run(None, {"features": np.ascontiguousarray(features, dtype=np.float32)})
        return scores

    def rerank(
        self,
        scores: np.ndarray,
        candidates: np.ndarray,
        history: np.ndarray,
        weights: np.ndarray,
        moment: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Candidates and their ranker scores, best first."""
        ranked = self.score(candidate_features(scores, candidates, history, weights, moment, self.items))
        order = np.argsort(-ranked, kind="stable")
        return candidates[order], ranked[order]
