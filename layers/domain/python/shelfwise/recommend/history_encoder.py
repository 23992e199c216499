"""A second retrieval model's query: a Mult-VAE encoder over the user's history, blended with the linear one.

The linear model (low-rank EASE) scores item j as q·v_j with q the sum of the history's user-side rows. The
variational autoencoder (Liang et al. 2018) reads the same history through two small dense layers and
scores item j as h·w_j + b_j. The two are blended per user as standardised scores,

    score_j = (q·v_j) / s_q + weight · (h·w_j + b_j) / s_h,

where s is the spread of that model's scores over the whole catalog, which is exact and cheap because the
spread of a linear score is sqrt(qᵀ·Cov(v)·q). So the blend is still a single query vector,
[q / s_q, weight·h / s_h, weight / s_h], against one item matrix [v, w, b]: the ONNX scorer, its int8
matrix and the exact re-ranking serve it unchanged. The training job and serving both call `blend`, so
the two cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

ARRAYS = (
    "input_weights",
    "input_bias",
    "latent_weights",
    "latent_bias",
    "output_weights",
    "output_bias",
    "linear_covariance",
    "encoder_covariance",
)


@dataclass(frozen=True)
class HistoryEncoder:
    input_weights: np.ndarray  # (n_items, hidden)
    input_bias: np.ndarray  # (hidden,)
    latent_weights: np.ndarray  # (hidden, latent): the posterior mean
    latent_bias: np.ndarray  # (latent,)
    output_weights: np.ndarray  # (latent, hidden): the decoder's hidden layer
    output_bias: np.ndarray  # (hidden,)
    linear_covariance: np.ndarray  # (linear_dims, linear_dims) of the linear model's item vectors
    encoder_covariance: np.ndarray  # (hidden + 1, hidden + 1) of [decoder item weights, item bias]
    weight: float

    @property
    def dims(self) -> int:
        """Extra query dimensions the encoder adds after the linear ones."""
        return self.encoder_covariance.shape[0]

    def hidden(self, histories: np.ndarray) -> np.ndarray:
        """(n, hidden + 1) decoder inputs [h, 1] for dense (n, n_items) history weights."""
        norms = np.linalg.norm(histories, axis=1, keepdims=True)
        normalised = histories / np.where(norms > 0, norms, 1.0)
        return self.decode(normalised @ self.input_weights)

    def hidden_sparse(self, indices: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """(hidden + 1,) decoder input for one history given as item indices and weights."""
        norm = float(np.linalg.norm(weights))
        summed = (weights / (norm if norm > 0 else 1.0)) @ self.input_weights[indices]
        return self.decode(summed.reshape(1, -1))[0]

    def decode(self, projected: np.ndarray) -> np.ndarray:
        """(n, hidden + 1) decoder inputs from L2-normalised histories already multiplied by input_weights."""
        encoded = np.tanh(projected + self.input_bias)
        latent = encoded @ self.latent_weights + self.latent_bias
        hidden = np.tanh(latent @ self.output_weights + self.output_bias)
        return np.hstack([hidden, np.ones((len(hidden), 1), dtype=hidden.dtype)])

    def blend(self, linear: np.ndarray, hidden: np.ndarray) -> np.ndarray:
        """Query rows [q/s_q, weight·[h, 1]/s_h] for (n, linear_dims) and (n, hidden + 1) inputs."""
        linear = np.atleast_2d(linear).astype(np.float64)
        hidden = np.atleast_2d(hidden).astype(np.float64)
        return np.hstack(
            [
                linear / _spread(linear, self.linear_covariance),
                self.weight * hidden / _spread(hidden, self.encoder_covariance),
            ]
        ).astype(np.float32)

    def save(self, path: Path) -> None:
        np.savez(path, weight=np.array(self.weight), **{name: getattr(self, name) for name in ARRAYS})

    @classmethod
    def load(cls, path: Path) -> HistoryEncoder:
        with np.load(path) as arrays:
            return cls(
                **{name: np.asarray(arrays[name], dtype=np.float32) for name in ARRAYS},
                weight=float(arrays["weight"]),
            )


def _spread(queries: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """Standard deviation over the catalog of each query's scores; 1 where a query scores everything alike."""
    variance = np.einsum("nd,de,ne->n", queries, covariance.astype(np.float64), queries)
    spread = np.sqrt(np.maximum(variance, 0.0))
    return np.where(spread > 1e-12, spread, 1.0)[:, None]


def item_covariance(item_vectors: np.ndarray) -> np.ndarray:
    """Covariance over items (population) of their score vectors, so that std_j(q·v_j) = sqrt(qᵀ·C·q)."""
    centred = item_vectors.astype(np.float64) - item_vectors.mean(axis=0, dtype=np.float64)
    return (centred.T @ centred / max(len(item_vectors), 1)).astype(np.float32)
