"""Retrieval models. Each one fits on a weighted user-item CSR matrix and scores users against every item,
through the interface of `interface.RecommenderModel` (the servable ones are `interface.FactorModel`s).

The job serves `vae.EaseVaeBlend` by default (`ease_vae`: `EaseLowRank` blended with a Mult-VAE), and
`EaseLowRank` alone for catalogs above `TrainConfig.vae_max_items`; `factory.build_model` picks by name.

- `Popularity` — items by how many users interacted with them; the fallback and the baseline.
- `Ease` — closed-form EASE (Steck 2019): B = I - P·diag(1/diag P), P = (XᵀX + λI)⁻¹, zero diagonal. Needs a
  dense items-by-items inverse, so it is practical up to a few tens of thousands of items.
- `EaseLowRank` — EASE rewritten through the eigendecomposition XᵀX = V·diag(σ²)·Vᵀ. With
  P = (XᵀX + λI)⁻¹ and D = diag(P), the off-diagonal part of EASE's B is exactly V·diag(σ²/(σ²+λ))·Vᵀ·D⁻¹/λ,
  and directions with σ² ≪ λ contribute almost nothing, so keeping the top r gives P·Qᵀ with
  user_side = V_r·diag(σ²/(σ²+λ)) and item_side = D⁻¹·V_r (the diagonal only touches items the user already
  has, which are never recommended). It needs no items-by-items inverse: above a few thousand items the top
  singular vectors come from a sparse truncated SVD of X, so it scales to catalogs EASE cannot invert.
  A user's embedding is the weighted sum of the user_side rows of their items: unknown users fold in from
  recent items with no solve, and serving is one MatMul against item_side plus a TopK.
- `EaseSvd` — EASE followed by a rank-r truncated SVD of B ≈ (U√S)(V√S)ᵀ; same serving shape, measured as the
  alternative factorisation (it spends rank on B's zero diagonal and ranks worse than `EaseLowRank`).
- `Ials` — implicit ALS (Hu, Koren, Volinsky 2008) with confidence 1 + alpha·c and L2 regularisation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import linalg, sparse
from scipy.sparse import linalg as sparse_linalg

from .interface import (
    FactorModel,
    ProgressCallback,
    RecommenderModel,
    ServingFactors,
    cosine_neighbours,
    no_progress,
    top_n,
)


class Popularity(RecommenderModel):
    name = "popularity"

    def fit(self, interactions: sparse.csr_matrix, progress: ProgressCallback = no_progress) -> Popularity:
        self.counts = np.asarray((interactions > 0).sum(axis=0)).ravel().astype(np.float64)
        progress(f"popularity: counted {int(self.counts.sum())} user-item pairs")
        return self

    def score(self, interactions: sparse.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.counts, (interactions.shape[0], len(self.counts))).copy()

    def similar_items(self, itemid: int, N: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Popularity knows nothing about items but their counts: the most popular other items."""
        counts = self.counts.copy()
        counts[itemid] = -np.inf
        ids = top_n(counts[None, :], N)[0]
        return ids, counts[ids]

    def settings(self) -> dict[str, Any]:
        return {}

    def state(self) -> dict[str, np.ndarray]:
        return {"counts": self.counts}

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.counts = arrays["counts"]


class Ease(RecommenderModel):
    name = "ease"

    def __init__(self, l2: float = 300.0) -> None:
        self.l2 = l2

    def fit(self, interactions: sparse.csr_matrix, progress: ProgressCallback = no_progress) -> Ease:
        gram = (interactions.T @ interactions).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += self.l2
        progress(f"ease: inverting the {gram.shape[0]}x{gram.shape[0]} item Gram matrix (l2={self.l2:g})")
        inverse = linalg.inv(gram, overwrite_a=True, check_finite=False)
        weights = -inverse / np.diag(inverse)
        weights[np.diag_indices_from(weights)] = 0.0
        self.weights = weights.astype(np.float32)
        return self

    def score(self, interactions: sparse.csr_matrix) -> np.ndarray:
        return np.asarray(interactions @ self.weights)

    def similar_items(self, itemid: int, N: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Cosine of the items' rows of B: what each item makes the model recommend."""
        return cosine_neighbours(self.weights, itemid, N)

    def settings(self) -> dict[str, Any]:
        return {"l2": self.l2}

    def state(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights}

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.weights = arrays["weights"]


class EaseSvd(FactorModel):
    name = "ease_svd"

    def __init__(self, l2: float = 500.0, rank: int = 256, seed: int = 42) -> None:
        self.l2 = l2
        self.rank = rank
        self.seed = seed

    def fit(self, interactions: sparse.csr_matrix, progress: ProgressCallback = no_progress) -> EaseSvd:
        ease = Ease(self.l2).fit(interactions, progress)
        rank = min(self.rank, interactions.shape[1])
        progress(f"ease_svd: rank-{rank} truncated SVD of the item-item weights")
        left, singular, right_t = randomized_svd(ease.weights, rank, seed=self.seed)
        root = np.sqrt(singular).astype(np.float32)
        self.factors = ServingFactors(
            user_side=np.ascontiguousarray(left * root, dtype=np.float32),
            item_side=np.ascontiguousarray(right_t.T * root, dtype=np.float32),
        )
        return self

    def serving_factors(self) -> ServingFactors:
        return self.factors

    def settings(self) -> dict[str, Any]:
        return {"l2": self.l2, "rank": self.rank, "seed": self.seed}

    def state(self) -> dict[str, np.ndarray]:
        return self.factors.to_arrays()

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.factors = ServingFactors.from_arrays(arrays)


class EaseLowRank(FactorModel):
    name = "ease_lowrank"
    # Above this many items the dense eigendecomposition of XᵀX (cubic in items) gives way to a sparse
    # truncated SVD of X.
    dense_limit = 6000

    def __init__(
        self, l2: float = 500.0, rank: int = 256, seed: int = 42, diagonal_penalty: float = 0.0
    ) -> None:
        self.l2 = l2
        self.rank = rank
        self.seed = seed
        # EDLAE (Steck 2020): an item's penalty grows with its own popularity, Λ = λ + p·diag(XᵀX), which is
        # what dropout-trained autoencoders optimise in closed form; 0 is plain EASE.
        self.diagonal_penalty = diagonal_penalty

    def fit(self, interactions: sparse.csr_matrix, progress: ProgressCallback = no_progress) -> EaseLowRank:
        n_items = interactions.shape[1]
        rank = min(self.rank, n_items - 1) if n_items > 1 else 1
        item_mass = np.asarray(interactions.multiply(interactions).sum(axis=0)).ravel().astype(np.float64)
        # With Λ = diag(λ_i) and s = Λ^-1/2: (XᵀX + Λ)⁻¹ = S·(X̃ᵀX̃ + I)⁻¹·S for the column-scaled X̃ = X·S,
        # so the plain-λ derivation carries over to the scaled matrix.
        penalty = self.l2 + self.diagonal_penalty * item_mass
        column_scale = 1.0 / np.sqrt(penalty)
        scaled = interactions.astype(np.float64) @ sparse.diags(column_scale)
        if n_items <= self.dense_limit:
            progress(f"ease_lowrank: eigendecomposition of the {n_items}x{n_items} item Gram matrix")
            gram = (scaled.T @ scaled).toarray()
            # numpy's eigh is LAPACK's divide-and-conquer driver (about twice as fast as scipy's default on a
            # few thousand items, same decomposition), and it releases the GIL, so progress lines keep coming.
            eigenvalues, vectors = np.linalg.eigh(gram)
            keep = np.argsort(-eigenvalues)[:rank]
            squared, basis = np.maximum(eigenvalues[keep], 0.0), vectors[:, keep]
        else:
            progress(f"ease_lowrank: rank-{rank} sparse SVD of the {interactions.shape} interaction matrix")
            start = np.random.default_rng(self.seed).standard_normal(min(interactions.shape))
            _, singular, right_t = sparse_linalg.svds(scaled.tocsr(), k=rank, v0=start)
            squared, basis = singular**2, right_t.T
        shrink = squared / (squared + 1.0)
        # diag((XᵀX + Λ)⁻¹)·λ, from the kept directions; the discarded ones are treated as σ² = 0.
        inverse_diagonal = column_scale**2 * self.l2 * (1.0 - (basis**2) @ shrink)
        # Off its zero diagonal EASE's B is S·V·diag(shrink)·Vᵀ·S·diag(1/diag P): user_side carries the left
        # half, item_side the right. Similar items compare user_side rows (what each item makes the model
        # recommend); user_side = diag(λ·diag P) · item_side · diag(shrink), which the scorer evaluates
        # against item_side.
        root_l2 = np.sqrt(self.l2)
        self.factors = ServingFactors(
            user_side=np.ascontiguousarray(basis * (column_scale * root_l2)[:, None] * shrink, np.float32),
            item_side=np.ascontiguousarray(
                basis * (column_scale * root_l2 / inverse_diagonal)[:, None], dtype=np.float32
            ),
            embedding_row_scale=inverse_diagonal.astype(np.float32),
            embedding_dim_scale=shrink.astype(np.float32),
        )
        progress(
            f"ease_lowrank: kept {rank} directions "
            f"(λ={self.l2:g}, diagonal penalty={self.diagonal_penalty:g})"
        )
        return self

    def serving_factors(self) -> ServingFactors:
        return self.factors

    def settings(self) -> dict[str, Any]:
        return {
            "l2": self.l2,
            "rank": self.rank,
            "seed": self.seed,
            "diagonal_penalty": self.diagonal_penalty,
        }

    def state(self) -> dict[str, np.ndarray]:
        return self.factors.to_arrays()

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.factors = ServingFactors.from_arrays(arrays)


class Ials(FactorModel):
    name = "ials"

    def __init__(
        self,
        factors: int = 128,
        regularization: float = 3.0,
        alpha: float = 2.0,
        iterations: int = 12,
        seed: int = 42,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.seed = seed

    def fit(self, interactions: sparse.csr_matrix, progress: ProgressCallback = no_progress) -> Ials:
        rng = np.random.default_rng(self.seed)
        n_users, n_items = interactions.shape
        scale = 1.0 / np.sqrt(self.factors)
        self.user_factors = rng.normal(0.0, scale, (n_users, self.factors))
        self.item_factors = rng.normal(0.0, scale, (n_items, self.factors))
        by_user = interactions.tocsr()
        by_item = interactions.T.tocsr()
        for iteration in range(1, self.iterations + 1):
            self.user_factors = self._solve(by_user, self.item_factors)
            self.item_factors = self._solve(by_item, self.user_factors)
            progress(f"ials: iteration {iteration}/{self.iterations}")
        return self

    def _solve(self, rows: sparse.csr_matrix, fixed: np.ndarray, batch: int = 256) -> np.ndarray:
        """Exact least-squares update for every row: (FᵀF + Fᵤᵀ(Cᵤ-I)Fᵤ + λI) x = Fᵤᵀ Cᵤ pᵤ.

        Rows are solved a batch at a time with one stacked LAPACK call, since a Python-level solve per row
        costs more in overhead than in arithmetic at these sizes.
        """
        dims = fixed.shape[1]
        gram = fixed.T @ fixed + self.regularization * np.eye(dims)
        solved = np.zeros((rows.shape[0], dims))
        for start in range(0, rows.shape[0], batch):
            block = rows[start : start + batch]
            systems = np.broadcast_to(gram, (block.shape[0], dims, dims)).copy()
            targets = np.zeros((block.shape[0], dims))
            for offset in range(block.shape[0]):
                begin, end = block.indptr[offset], block.indptr[offset + 1]
                if begin == end:
                    continue
                selected = fixed[block.indices[begin:end]]
                confidence = self.alpha * block.data[begin:end]
                systems[offset] += (selected.T * confidence) @ selected
                targets[offset] = selected.T @ (1.0 + confidence)
            solved[start : start + batch] = np.linalg.solve(systems, targets[..., None])[..., 0]
        return solved

    def user_scores(self, userid: np.ndarray, user_items: sparse.csr_matrix) -> np.ndarray:
        """A user iALS was fitted on has a learned vector (the users are its first rows, see
        data.training_rows); anyone else is folded in from their history as serving does."""
        userid = np.asarray(userid)
        if len(userid) and np.issubdtype(userid.dtype, np.integer) and userid.max() < len(self.user_factors):
            return self.user_factors[userid] @ self.item_factors.T
        return self.score(user_items)

    def serving_factors(self) -> ServingFactors:
        """Linear fold-in: a user's vector ≈ (YᵀY + λI)⁻¹ Σ_i w_i y_i, i.e. user_side = Y (YᵀY + λI)⁻¹."""
        gram = self.item_factors.T @ self.item_factors + self.regularization * np.eye(self.factors)
        user_side = self.item_factors @ linalg.inv(gram)
        return ServingFactors(
            user_side=np.ascontiguousarray(user_side, dtype=np.float32),
            item_side=np.ascontiguousarray(self.item_factors, dtype=np.float32),
        )

    def settings(self) -> dict[str, Any]:
        return {
            "factors": self.factors,
            "regularization": self.regularization,
            "alpha": self.alpha,
            "iterations": self.iterations,
            "seed": self.seed,
        }

    def state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.user_factors = arrays["user_factors"]
        self.item_factors = arrays["item_factors"]


def randomized_svd(
    matrix: np.ndarray, rank: int, oversample: int = 16, power_iterations: int = 4, seed: int = 42
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Halko-Martinsson-Tropp randomized SVD; exact LAPACK SVD when the matrix is small anyway."""
    n_rows, n_cols = matrix.shape
    if min(n_rows, n_cols) <= 2 * (rank + oversample):
        left, singular, right_t = linalg.svd(matrix, full_matrices=False, check_finite=False)
        return left[:, :rank], singular[:rank], right_t[:rank]
    rng = np.random.default_rng(seed)
    sketch = matrix @ rng.standard_normal((n_cols, rank + oversample)).astype(matrix.dtype)
    for _ in range(power_iterations):
        sketch, _ = linalg.qr(sketch, mode="economic", check_finite=False)
        sketch, _ = linalg.qr(matrix.T @ sketch, mode="economic", check_finite=False)
        sketch = matrix @ sketch
    basis, _ = linalg.qr(sketch, mode="economic", check_finite=False)
    small_left, singular, right_t = linalg.svd(basis.T @ matrix, full_matrices=False, check_finite=False)
    return (basis @ small_left)[:, :rank], singular[:rank], right_t[:rank]
