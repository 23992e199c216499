"""The one interface every retrieval model meets, in the style of `implicit`'s `RecommenderBase`.

`RecommenderModel`: `fit(user_items)`, `score(user_items)`, `recommend(userid, user_items, N,
filter_already_liked_items=...)`, `similar_items(itemid, N)`, `save(path)` / `RecommenderModel.load(path)`.
`user_items` is a CSR matrix of weighted histories (rows: users or history windows, columns: items), and
`recommend` takes the rows of the users asked about, as implicit does since 0.5. The pipeline, the
evaluation and the ranking stage use nothing else.

`FactorModel` adds `serving_factors()`: a model serving can run, whose score for a history is a query vector
built from it times one item matrix (`ServingFactors`). Every model the job can ship is one; `Popularity`
(the baseline) and dense `Ease` (a measured alternative) are not.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
from scipy import sparse
from shelfwise.recommend.history_encoder import HistoryEncoder

ProgressCallback = Callable[[str], None]


def no_progress(_: str) -> None:
    """The progress callback of a fit nobody watches."""
    return None


@dataclass
class ServingFactors:
    """score(user) = (Σ_i w_i · user_side[i]) · item_sideᵀ.

    Item embeddings for cosine similarity are
    E = diag(embedding_row_scale) · item_side · diag(embedding_dim_scale),
    expressed through item_side so that one serving matrix answers both "for you" and "similar items".
    """

    user_side: np.ndarray  # (n_items, d) float32
    item_side: np.ndarray  # (n_items, d + encoder dims) float32
    embedding_row_scale: np.ndarray | None = None  # (n_items,), ones when None
    embedding_dim_scale: np.ndarray | None = None  # (d + encoder dims,), ones when None
    # A second, non-linear model blended into the query (see shelfwise.recommend.history_encoder).
    encoder: HistoryEncoder | None = None

    def queries(self, rows: sparse.csr_matrix) -> np.ndarray:
        """The query vector serving builds for each history row."""
        linear = np.asarray(rows @ self.user_side)
        if self.encoder is None:
            return linear
        # Normalised and projected while sparse: a dense batch of histories would be rows x catalog.
        norms = np.sqrt(np.asarray(rows.multiply(rows).sum(axis=1)).ravel())
        normalised = sparse.diags(np.where(norms > 0, 1.0 / np.maximum(norms, 1e-12), 0.0)) @ rows
        projected = np.asarray(normalised @ self.encoder.input_weights)
        return self.encoder.blend(linear, self.encoder.decode(projected))

    def embeddings(self) -> np.ndarray:
        """The item embeddings "similar items" compares by cosine (see the class docstring)."""
        embedding = self.item_side
        if self.embedding_row_scale is not None:
            embedding = embedding * self.embedding_row_scale[:, None]
        if self.embedding_dim_scale is not None:
            embedding = embedding * self.embedding_dim_scale
        return embedding

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {"user_side": self.user_side, "item_side": self.item_side}
        if self.embedding_row_scale is not None:
            arrays["embedding_row_scale"] = self.embedding_row_scale
        if self.embedding_dim_scale is not None:
            arrays["embedding_dim_scale"] = self.embedding_dim_scale
        if self.encoder is not None:
            for field in fields(self.encoder):
                arrays[f"encoder.{field.name}"] = np.asarray(getattr(self.encoder, field.name))
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ServingFactors:
        encoder = None
        if "encoder.weight" in arrays:
            values = {field.name: arrays[f"encoder.{field.name}"] for field in fields(HistoryEncoder)}
            encoder = HistoryEncoder(**{**values, "weight": float(values["weight"])})
        return cls(
            user_side=arrays["user_side"],
            item_side=arrays["item_side"],
            embedding_row_scale=arrays.get("embedding_row_scale"),
            embedding_dim_scale=arrays.get("embedding_dim_scale"),
            encoder=encoder,
        )


class RecommenderModel(ABC):
    """A retrieval model: fitted on weighted histories, it scores every item for a history."""

    name: ClassVar[str]
    # Every concrete model by `name`, so `load` rebuilds whichever model a file holds.
    _kinds: ClassVar[dict[str, type[RecommenderModel]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            RecommenderModel._kinds[cls.name] = cls

    @abstractmethod
    def fit(self, user_items: sparse.csr_matrix, progress: ProgressCallback = no_progress) -> Self:
        """Learn from the rows of `user_items` (users, and history windows when the job adds them)."""

    @abstractmethod
    def score(self, user_items: sparse.csr_matrix) -> np.ndarray:
        """(rows, n_items) scores of every item for each history row; higher is better."""

    @abstractmethod
    def similar_items(self, itemid: int, N: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The N items most like `itemid` (never itself) and their similarity, best first."""

    def user_scores(self, userid: np.ndarray, user_items: sparse.csr_matrix) -> np.ndarray:
        """Scores for the users `userid` whose histories are the rows of `user_items`.

        Models that learn from histories alone ignore the ids; a model that keeps a vector per fitted user
        (iALS) uses it for the users it was fitted on.
        """
        return self.score(user_items)

    def recommend(
        self,
        userid: int | np.ndarray,
        user_items: sparse.csr_matrix,
        N: int = 10,
        filter_already_liked_items: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The N best items (indices, scores) for each user; `user_items` holds their rows, in `userid` order.

        One user id gives 1-d arrays, an array of ids gives one row per user (implicit's convention). Items
        the user already has are left out unless `filter_already_liked_items` is False.
        """
        single = np.ndim(userid) == 0
        users = np.atleast_1d(np.asarray(userid))
        rows = sparse.csr_matrix(user_items)
        if rows.shape[0] != len(users):
            raise ValueError(f"user_items has {rows.shape[0]} rows for {len(users)} user ids")
        scores = np.array(self.user_scores(users, rows), dtype=np.float64, copy=True)
        if filter_already_liked_items:
            liked_rows, liked_items = rows.nonzero()
            scores[liked_rows, liked_items] = -np.inf
        ids = top_n(scores, N)
        best = np.take_along_axis(scores, ids, axis=1)
        return (ids[0], best[0]) if single else (ids, best)

    def save(self, path: Path | str) -> None:
        """Write the fitted model to one `.npz` file (its kind, its settings as JSON, its arrays)."""
        np.savez(
            path,
            allow_pickle=False,
            **{"model.kind": np.array(self.name), "model.settings": np.array(json.dumps(self.settings()))},
            **self.state(),
        )

    @classmethod
    def load(cls, path: Path | str) -> RecommenderModel:
        """The model `save` wrote; `EaseLowRank.load(path)` also checks that it is one."""
        with np.load(path, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}
        kind = str(arrays.pop("model.kind"))
        settings = json.loads(str(arrays.pop("model.settings")))
        model_class = RecommenderModel._kinds.get(kind)
        if model_class is None or not issubclass(model_class, cls):
            raise ValueError(f"{path} holds a {kind!r} model, not a {cls.__name__}")
        model = model_class.from_settings(settings)
        model.restore(arrays)
        return model

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """The constructor's arguments, as JSON values."""

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> Self:
        return cls(**settings)

    @abstractmethod
    def state(self) -> dict[str, np.ndarray]:
        """The fitted arrays `restore` takes back."""

    @abstractmethod
    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        """Take back what `state` returned, as if `fit` had just run."""


class FactorModel(RecommenderModel):
    """A servable model: each score is a query vector from the history times one item matrix."""

    @abstractmethod
    def serving_factors(self) -> ServingFactors:
        """The matrices the ONNX scorer and the serving library run."""

    def score(self, user_items: sparse.csr_matrix) -> np.ndarray:
        factors = self.serving_factors()
        return factors.queries(user_items) @ factors.item_side.T

    def similar_items(self, itemid: int, N: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Cosine of the items' embeddings, what serving's "similar items" ranks by."""
        return cosine_neighbours(self.serving_factors().embeddings(), itemid, N)


def top_n(scores: np.ndarray, n: int) -> np.ndarray:
    """Column indices of the n best scores of each row, best first (ties keep column order)."""
    n = min(n, scores.shape[1])
    candidates = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    order = np.argsort(-np.take_along_axis(scores, candidates, axis=1), axis=1, kind="stable")
    return np.take_along_axis(candidates, order, axis=1)


def cosine_neighbours(vectors: np.ndarray, itemid: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The n rows of `vectors` with the highest cosine to row `itemid`, leaving that row out."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1)
    similarity = (vectors @ vectors[itemid]) / np.maximum(norms * norms[itemid], 1e-12)
    similarity[itemid] = -np.inf
    ids = top_n(similarity[None, :], n)[0]
    return ids, similarity[ids]
