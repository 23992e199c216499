"""Ranking items for a user or next to an item with the exported ONNX scorer.

One request is: build a query vector (sum of the user's items' factors, or an item's normalised embedding),
run the scorer graph over the whole catalog with a score bias that masks filtered items, then re-rank the
few candidates it returns with exact fp32 scores. The candidate margin absorbs int8 rounding, so results
match exact scoring while the full-catalog pass reads a quarter of the bytes.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from shelfwise.recommend import diversify
from shelfwise.recommend.artifacts import artifact_path, read_array, read_json, read_manifest
from shelfwise.recommend.history_encoder import HistoryEncoder
from shelfwise.recommend.ranker import Ranker
from shelfwise.recommend.weighting import EventWeighting

# Candidates fetched beyond k for exact re-ranking; int8 rounding rarely moves an item further than this.
CANDIDATE_MARGIN = 32
CATEGORY_CACHE_SIZE = 32
POPULAR_REASON = "popular with shoppers (no history for this user yet)"
NO_SIGNAL_REASON = "more from the catalog"
# Reasons naming one item; `Recommendation.reason_item` holds its id, so callers can name it otherwise.
INTERACTED_REASON = "because you interacted with {}"
SIMILAR_REASON = "similar to {}"
NO_DATA_REASON = "popular ({} has no data yet)"


class UnknownItemError(KeyError):
    """The item id is not in the model's catalog."""

    def __init__(self, item_id: str) -> None:
        super().__init__(item_id)
        self.item_id = item_id

    def __str__(self) -> str:
        return f"item {self.item_id!r} is not in the recommender's catalog"


@dataclass(frozen=True)
class Recommendation:
    item_id: str
    score: float
    reason: str
    # The item the reason names (one of the templates above), None when it names none.
    reason_item: str | None = None


class Recommender:
    def __init__(
        self,
        model_dir: Path,
        manifest: dict[str, Any],
        session: ort.InferenceSession,
        use_ranker: bool = True,
        rerank: diversify.RerankConfig | None = None,
    ) -> None:
        self.model_dir = Path(model_dir)
        self.manifest = manifest
        self.version: str = manifest["version"]
        self.weighting = EventWeighting.from_manifest(manifest["weighting"])
        self._session = session
        items = read_json(model_dir, manifest, "items")
        self._item_ids = np.array(items["item_ids"], dtype=object)
        self._item_index = {item_id: index for index, item_id in enumerate(items["item_ids"])}
        self._category_codes = {name: code for code, name in enumerate(items["categories"])}
        self._category_names = list(items["categories"])
        self._item_category = np.asarray(items["item_category"], dtype=np.int32)
        self._user_side = read_array(model_dir, manifest, "user_factors")
        self._item_side = read_array(model_dir, manifest, "item_factors")
        # A blended model's queries have the encoder's dimensions after the linear ones (history_encoder.py).
        encoder_file = manifest["artifacts"].get("history_encoder")
        self._encoder = HistoryEncoder.load(self.model_dir / encoder_file) if encoder_file else None
        self._linear_dims = self._user_side.shape[1]
        self._n_items = len(self._item_ids)
        self._scales = np.ascontiguousarray(read_array(model_dir, manifest, "item_scales"), dtype=np.float32)
        # Embedding E = diag(row_scale)·item_side·diag(dim_scale), so
        # cos(E_i, E_j) = (E_i·dim_scale)·item_side_j ·
        # row_scale_j / |E_j| / |E_i|, so similar() reuses the scorer with its own query and column scale.
        self._row_scale = np.asarray(read_array(model_dir, manifest, "embedding_row_scale"), dtype=np.float32)
        self._dim_scale = np.asarray(read_array(model_dir, manifest, "embedding_dim_scale"), dtype=np.float32)
        scaled = np.asarray(self._item_side) * self._dim_scale
        norms = np.abs(self._row_scale) * np.sqrt(np.einsum("ij,ij->i", scaled, scaled))
        self._norms = norms.astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            self._cosine_columns = np.where(norms > 0, self._row_scale / norms, 0.0).astype(np.float32)
        self._cosine_scales = (self._scales * self._cosine_columns).astype(np.float32)
        popular = read_json(model_dir, manifest, "popularity")["items"]
        self._popular = [(entry["item_id"], float(entry["count"])) for entry in popular]
        self._zero_bias = np.zeros(self._n_items, dtype=np.float32)
        self._category_bias: OrderedDict[tuple[int, bool], np.ndarray] = OrderedDict()
        # Items not to offer at all (out of stock): a catalog-wide mask built once per distinct id set, and
        # the bias vectors built from it, so a long list costs nothing per request.
        self._unavailable_ids: frozenset[str] = frozenset()
        self._unavailable_mask: np.ndarray | None = None
        self._available_bias: np.ndarray | None = None
        self._users: dict[str, int] | None = None
        # Optional second stage, shipped only when it beat retrieval alone on the training job's hold-out.
        ranker_spec = manifest.get("ranker")
        self._ranker = Ranker.load(self.model_dir, ranker_spec) if ranker_spec and use_ranker else None
        # Optional re-ranking for category variety (diversify.py); the deployment's setting unless given.
        self.rerank = diversify.configured() if rerank is None else rerank
        # The bias buffers are reused and patched per request, so requests on one instance take turns.
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        use_ranker: bool = True,
        rerank: diversify.RerankConfig | None = None,
    ) -> Recommender:
        """Open a version directory; `use_ranker=False` serves retrieval only even if a ranker ships;
        `rerank` overrides the deployment's `SHELFWISE_RECOMMEND_RERANK` setting."""
        model_dir = Path(model_dir)
        manifest = read_manifest(model_dir)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        session = ort.InferenceSession(
            str(artifact_path(model_dir, manifest, "scorer")), options, providers=["CPUExecutionProvider"]
        )
        return cls(model_dir, manifest, session, use_ranker, rerank)

    @property
    def n_items(self) -> int:
        return self._n_items

    @property
    def categories(self) -> list[str]:
        return list(self._category_names)

    @property
    def has_ranker(self) -> bool:
        return self._ranker is not None

    def knows_item(self, item_id: str) -> bool:
        return item_id in self._item_index

    def training_items(self, user_id: str) -> list[str]:
        """The items in `user_id`'s training history (none for a user the model was not trained on)."""
        indices, _ = self._history(user_id)
        return [str(self._item_ids[index]) for index in indices]

    def training_history(self, user_id: str) -> list[tuple[str, float]]:
        """`user_id`'s training history as (item_id, weight) pairs, weighted as the job weighted them."""
        indices, weights = self._history(user_id)
        return [
            (str(self._item_ids[index]), float(weight))
            for index, weight in zip(indices, weights, strict=True)
        ]

    def recommend(
        self,
        user: str | Sequence[tuple[str, float]],
        k: int = 10,
        category: str | None = None,
        exclude: Collection[str] = (),
        exclude_seen: bool = True,
        now: float | None = None,
        unavailable: frozenset[str] = frozenset(),
    ) -> list[Recommendation]:
        """Top-k items for a known user id or for an explicit history of (item_id, weight) pairs.

        Never returns an excluded item, an item outside `category`, or (with exclude_seen) an item in the
        history; returns k items whenever that many remain after filtering. With a ranking stage, the
        retrieval model's top candidates are re-ordered by it and `score` is the ranker's; `now` (epoch
        seconds, default the current time) is the moment its recency feature measures from. `unavailable`
        ids (out of stock) are never returned either; pass the same frozenset object between updates.
        With re-ranking on (`self.rerank`), the k come from the top `pool` candidates chosen for category
        variety; each keeps its model score, so scores need not descend.
        """
        if k <= 0:
            return []
        self._set_unavailable(unavailable)
        filtered = bool(unavailable)
        indices, weights = self._history(user)
        blocked = {self._item_index[item] for item in exclude if item in self._item_index}
        if exclude_seen:
            blocked.update(indices.tolist())
        query = self._query_from_history(indices, weights)
        if query is None:
            return self._popular_fallback(k, category, blocked, filtered=filtered)
        wanted = max(k, self.rerank.pool) if self.rerank.enabled else k
        if self._ranker is None:
            ranked = self._rank(query, self._scales, None, wanted, category, blocked, filtered)
            retrieval_scores = [score for _, score in ranked]
        else:
            ranked, retrieval_scores = self._rerank(
                query, wanted, category, blocked, indices, weights, now, filtered
            )
        if not ranked:
            return []
        if self.rerank.enabled:
            ranked, retrieval_scores = self._diversify(ranked, retrieval_scores, indices, weights, k)
        result_indices = np.array([index for index, _ in ranked])
        contributions = (np.asarray(self._user_side[indices]) * weights[:, None]) @ np.asarray(
            self._item_side[result_indices, : self._linear_dims]
        ).T
        strongest = indices[np.argmax(contributions, axis=0)]
        results = []
        for (index, score), signal, source in zip(ranked, retrieval_scores, strongest, strict=True):
            item_id = str(self._item_ids[index])
            if signal > 0:
                source_id = str(self._item_ids[source])
                results.append(Recommendation(item_id, score, INTERACTED_REASON.format(source_id), source_id))
            else:
                results.append(Recommendation(item_id, score, NO_SIGNAL_REASON))
        return results

    def _diversify(
        self,
        ranked: list[tuple[int, float]],
        retrieval_scores: list[float],
        history: np.ndarray,
        weights: np.ndarray,
        k: int,
    ) -> tuple[list[tuple[int, float]], list[float]]:
        """The k of `ranked` (best first) the configured re-ranker picks, with their retrieval scores."""
        n_labels = len(self._category_names)
        candidates = np.array([index for index, _ in ranked], dtype=np.int64)
        positions = diversify.rerank(
            self.rerank,
            np.array([score for _, score in ranked], dtype=np.float64),
            diversify.one_hot(self._item_category[candidates], n_labels),
            diversify.one_hot(self._item_category[history], n_labels),
            weights.astype(np.float64),
            k,
        )
        return [ranked[p] for p in positions], [retrieval_scores[p] for p in positions]

    def _rerank(
        self,
        query: np.ndarray,
        k: int,
        category: str | None,
        blocked: set[int],
        history: np.ndarray,
        weights: np.ndarray,
        now: float | None,
        filtered: bool,
    ) -> tuple[list[tuple[int, float]], list[float]]:
        """The ranker's top k of the retrieval candidates, with their retrieval scores for the reasons."""
        assert self._ranker is not None
        pool = self._rank(
            query, self._scales, None, max(k, self._ranker.candidates), category, blocked, filtered
        )
        if not pool:
            return [], []
        candidates = np.array([index for index, _ in pool], dtype=np.int64)
        retrieval = np.array([score for _, score in pool], dtype=np.float64)
        moment = time.time() if now is None else float(now)
        history_weights = weights.astype(np.float64)
        order, scores = self._ranker.rerank(retrieval, candidates, history, history_weights, moment)
        by_index = dict(zip(candidates.tolist(), retrieval.tolist(), strict=True))
        top = [(int(index), float(score)) for index, score in zip(order[:k], scores[:k], strict=True)]
        return top, [by_index[index] for index, _ in top]

    def similar(
        self,
        item_id: str,
        k: int = 10,
        category: str | None = None,
        exclude: Collection[str] = (),
        unavailable: frozenset[str] = frozenset(),
    ) -> list[Recommendation]:
        """Items whose embeddings are closest (cosine) to item_id's; UnknownItemError for unknown ids."""
        if item_id not in self._item_index:
            raise UnknownItemError(item_id)
        if k <= 0:
            return []
        self._set_unavailable(unavailable)
        filtered = bool(unavailable)
        anchor = self._item_index[item_id]
        blocked = {self._item_index[item] for item in exclude if item in self._item_index}
        blocked.add(anchor)
        if self._norms[anchor] == 0:
            reason = NO_DATA_REASON.format(item_id)
            return self._popular_fallback(
                k, category, blocked, reason=reason, reason_item=item_id, filtered=filtered
            )
        embedding = self._row_scale[anchor] * np.asarray(self._item_side[anchor]) * self._dim_scale
        query = (embedding * self._dim_scale / self._norms[anchor]).astype(np.float32)
        ranked = self._rank(query, self._cosine_scales, self._cosine_columns, k, category, blocked, filtered)
        return [
            Recommendation(str(self._item_ids[index]), score, SIMILAR_REASON.format(item_id), item_id)
            for index, score in ranked
        ]

    def popular(
        self,
        k: int = 10,
        category: str | None = None,
        exclude: Collection[str] = (),
        unavailable: frozenset[str] = frozenset(),
    ) -> list[Recommendation]:
        self._set_unavailable(unavailable)
        blocked = {self._item_index[item] for item in exclude if item in self._item_index}
        return self._popular_fallback(k, category, blocked, filtered=bool(unavailable))

    def _set_unavailable(self, unavailable: frozenset[str]) -> None:
        """Rebuild the unavailable mask when the id set changed (an identity check in the common case)."""
        # An empty set asks for no filtering (callers then pass filtered=False), so the mask is kept for the
        # next filtered request instead of being rebuilt back and forth.
        if not unavailable or unavailable is self._unavailable_ids or unavailable == self._unavailable_ids:
            return
        with self._lock:
            mask = np.zeros(self._n_items, dtype=bool)
            mask[[self._item_index[item] for item in unavailable if item in self._item_index]] = True
            self._unavailable_mask = mask
            self._available_bias = np.where(mask, -np.inf, 0.0).astype(np.float32)
            for key in [key for key in self._category_bias if key[1]]:
                del self._category_bias[key]
            self._unavailable_ids = unavailable

    def _history(self, user: str | Sequence[tuple[str, float]]) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(user, str):
            row = self._user_row(user)
            if row is None:
                return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
            indptr = read_array(self.model_dir, self.manifest, "user_indptr")
            start, end = int(indptr[row]), int(indptr[row + 1])
            items = np.asarray(
                read_array(self.model_dir, self.manifest, "user_items")[start:end], dtype=np.int64
            )
            weights = np.asarray(read_array(self.model_dir, self.manifest, "user_weights")[start:end])
            return items, weights.astype(np.float32)
        strongest: dict[int, float] = {}
        for item_id, weight in user:
            index = self._item_index.get(item_id)
            if index is not None and weight > 0:
                strongest[index] = max(float(weight), strongest.get(index, 0.0))
        return np.fromiter(strongest, dtype=np.int64, count=len(strongest)), np.fromiter(
            strongest.values(), dtype=np.float32, count=len(strongest)
        )

    def _user_row(self, user_id: str) -> int | None:
        if self._users is None:
            user_ids = read_json(self.model_dir, self.manifest, "users")["user_ids"]
            self._users = {value: row for row, value in enumerate(user_ids)}
        return self._users.get(user_id)

    def _query_from_history(self, indices: np.ndarray, weights: np.ndarray) -> np.ndarray | None:
        if len(indices) == 0:
            return None
        query = (weights @ np.asarray(self._user_side[indices])).astype(np.float32)
        if not np.any(query):
            return None
        if self._encoder is not None:
            query = self._encoder.blend(query, self._encoder.hidden_sparse(indices, weights))[0]
        return query

    def _rank(
        self,
        query: np.ndarray,
        column_scale: np.ndarray,
        exact_column_scale: np.ndarray | None,
        k: int,
        category: str | None,
        blocked: set[int],
        filtered: bool = False,
    ) -> list[tuple[int, float]]:
        """Best k (index, score) pairs not in `blocked`, inside `category` and (when `filtered`) available,
        with exact fp32 scores."""
        candidates = min(self._n_items, k + CANDIDATE_MARGIN)
        blocked_indices = np.fromiter(blocked, dtype=np.int64, count=len(blocked))
        with self._lock:
            bias = self._bias_for(category, filtered)
            if bias is None:
                return []
            saved = bias[blocked_indices].copy()
            bias[blocked_indices] = -np.inf
            try:
                scores, indices = self._session.run(
                    None,
                    {
                        "query": query.reshape(1, -1),
                        "column_scale": column_scale,
                        "score_bias": bias,
                        "k": np.array([candidates], dtype=np.int64),
                    },
                )
            finally:
                bias[blocked_indices] = saved
        indices = indices[0][np.isfinite(scores[0])]
        if len(indices) == 0:
            return []
        exact = np.asarray(self._item_side[indices]) @ query
        if exact_column_scale is not None:
            exact = exact * exact_column_scale[indices]
        order = np.argsort(-exact, kind="stable")[:k]
        return [(int(indices[position]), float(exact[position])) for position in order]

    def _bias_for(self, category: str | None, filtered: bool) -> np.ndarray | None:
        """0 for eligible items, -inf for items outside the category (or unavailable, when `filtered`); None
        when the category is unknown."""
        filtered = filtered and self._unavailable_mask is not None
        if category is None:
            return self._available_bias if filtered else self._zero_bias
        code = self._category_codes.get(category)
        if code is None:
            return None
        bias = self._category_bias.get((code, filtered))
        if bias is None:
            eligible = self._item_category == code
            if filtered:
                eligible &= ~self._unavailable_mask
            bias = np.where(eligible, 0.0, -np.inf).astype(np.float32)
            self._category_bias[(code, filtered)] = bias
            if len(self._category_bias) > CATEGORY_CACHE_SIZE:
                self._category_bias.popitem(last=False)
        else:
            self._category_bias.move_to_end((code, filtered))
        return bias

    def _popular_fallback(
        self,
        k: int,
        category: str | None,
        blocked: set[int],
        reason: str = POPULAR_REASON,
        filtered: bool = False,
        reason_item: str | None = None,
    ) -> list[Recommendation]:
        """Most popular eligible items; past the popularity list, other eligible items in catalog order."""
        results: list[Recommendation] = []
        with self._lock:  # the cached bias vectors are patched in place by _rank
            # 0 for items in the category (and available, when filtered), -inf otherwise.
            bias = self._bias_for(category, filtered)
            if bias is None:
                return results
            taken: set[int] = set()
            for item_id, count in self._popular:
                index = self._item_index.get(item_id)
                if index is None or index in blocked or bias[index] != 0:
                    continue
                results.append(Recommendation(item_id, count, reason, reason_item))
                taken.add(index)
                if len(results) == k:
                    return results
            for index in np.flatnonzero(bias == 0):
                if int(index) in blocked or int(index) in taken:
                    continue
                results.append(Recommendation(str(self._item_ids[index]), 0.0, reason, reason_item))
                if len(results) == k:
                    break
        return results
