"""Mult-VAE (Liang et al. 2018): a variational autoencoder over interaction rows, multinomial likelihood.

Encoder: L2-normalised row → dropout → tanh(·W1 + b1) → posterior mean and log-variance. Decoder:
tanh(z·W3 + b3) → logits over the catalog (·W4 + b4), trained on -Σ x·log_softmax(logits) + β·KL with β
annealed from 0. It learns non-linear patterns a linear autoencoder like EASE cannot, so blending the two
(`shelfwise.recommend.history_encoder`) scores better than either alone. Training uses PyTorch (CPU); the
result is plain numpy arrays, so serving needs neither PyTorch nor anything beyond numpy.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Self

import numpy as np
from scipy import sparse
from shelfwise.recommend.history_encoder import HistoryEncoder, item_covariance

from .interface import FactorModel, ProgressCallback, ServingFactors, no_progress
from .models import EaseLowRank
from .threads import limit_torch_threads


@dataclass(frozen=True)
class VaeConfig:
    hidden: int = 300
    latent: int = 100
    # Mini-batch steps rather than epochs keep the fit time independent of how many rows the history windows
    # add; small data sets stop after `max_epochs` passes (at least `min_steps`): more would only overfit.
    steps: int = 2000
    max_epochs: int = 15
    min_steps: int = 100
    # A step costs in proportion to the catalog (the decoder's softmax spans every item), so the steps are
    # also capped at this many item-steps: 2,000 steps up to 2,000 items (MovieLens-100k's 1,682 keep all
    # of theirs), fewer above, never fewer than `budget_min_steps`. The demo shop's 3,000 items take 1,350
    # steps, which keeps its job within a minute on two cores.
    item_step_budget: int = 4_000_000
    budget_min_steps: int = 1000
    batch_size: int = 128
    dropout: float = 0.5
    kl_weight: float = 0.2
    learning_rate: float = 1e-3
    # PyTorch's thread pool; None: the job's CPUs nobody else keeps busy (threads.torch_threads).
    threads: int | None = None
    seed: int = 42


@dataclass(frozen=True)
class VaeWeights:
    """The arrays serving needs: the encoder up to the posterior mean, and the decoder."""

    input_weights: np.ndarray  # (n_items, hidden)
    input_bias: np.ndarray
    latent_weights: np.ndarray  # (hidden, latent)
    latent_bias: np.ndarray
    output_weights: np.ndarray  # (latent, hidden)
    output_bias: np.ndarray
    item_weights: np.ndarray  # (n_items, hidden): the decoder's last layer, one row per item
    item_bias: np.ndarray  # (n_items,)


def fit_vae(
    interactions: sparse.csr_matrix, config: VaeConfig = VaeConfig(), progress: ProgressCallback = no_progress
) -> VaeWeights:
    import torch  # the training image has it; serving and the rest of the job do not need it

    torch.manual_seed(config.seed)
    threads = limit_torch_threads(torch, config.threads)
    rows = _scaled_rows(interactions)
    n_rows, n_items = rows.shape
    generator = np.random.default_rng(config.seed)
    input_layer = torch.nn.Parameter(torch.empty(n_items, config.hidden))
    torch.nn.init.xavier_uniform_(input_layer)
    input_bias = torch.nn.Parameter(torch.zeros(config.hidden))
    posterior = torch.nn.Linear(config.hidden, 2 * config.latent)
    decoder = torch.nn.Sequential(
        torch.nn.Linear(config.latent, config.hidden),
        torch.nn.Tanh(),
        torch.nn.Linear(config.hidden, n_items),
    )
    parameters = [input_layer, input_bias, *posterior.parameters(), *decoder.parameters()]
    optimiser = torch.optim.Adam(parameters, lr=config.learning_rate)
    keep = 1.0 - config.dropout
    steps = vae_steps(config, n_rows, n_items)
    progress(f"mult-vae: {steps} steps of {config.batch_size} rows on {threads} thread(s)")
    report_every = max(steps // 5, 1)
    # A line at least this often as well, so a slow machine still shows the fit moving.
    report_seconds = 15.0
    last_report = time.perf_counter()
    for step in range(steps):
        batch = rows[generator.choice(n_rows, size=min(config.batch_size, n_rows), replace=False)].tocoo()
        row_index = torch.from_numpy(batch.row.astype(np.int64))
        col_index = torch.from_numpy(batch.col.astype(np.int64))
        values = torch.from_numpy(batch.data)
        # Rows are sparse, so the input layer is a sparse-dense product over the nonzeros only.
        norms = torch.zeros(batch.shape[0]).index_add_(0, row_index, values**2).sqrt().clamp_min(1e-12)
        kept = (torch.rand(len(values)) < keep).float() / keep
        inputs = torch.sparse_coo_tensor(
            torch.stack([row_index, col_index]),
            values / norms[row_index] * kept,
            batch.shape,
            check_invariants=False,  # the indices come from a valid scipy COO matrix
        )
        mean, log_variance = posterior(torch.tanh(torch.sparse.mm(inputs, input_layer) + input_bias)).chunk(
            2, 1
        )
        latent = mean + torch.randn_like(mean) * torch.exp(0.5 * log_variance)
        log_probabilities = torch.log_softmax(decoder(latent), dim=1)
        log_likelihood = (log_probabilities[row_index, col_index] * values).sum() / batch.shape[0]
        divergence = (-0.5 * (1 + log_variance - mean**2 - log_variance.exp()).sum(dim=1)).mean()
        # KL annealing (the paper's β schedule): reach the full weight at 80% of training.
        anneal = min(1.0, step / (0.8 * steps))
        loss = -log_likelihood + config.kl_weight * anneal * divergence
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if (step + 1) % report_every == 0 or time.perf_counter() - last_report >= report_seconds:
            progress(f"mult-vae: step {step + 1}/{steps}, loss {loss.item():.3f}")
            last_report = time.perf_counter()
    return VaeWeights(
        input_weights=_array(input_layer),
        input_bias=_array(input_bias),
        latent_weights=_array(posterior.weight[: config.latent].T),
        latent_bias=_array(posterior.bias[: config.latent]),
        output_weights=_array(decoder[0].weight.T),
        output_bias=_array(decoder[0].bias),
        item_weights=_array(decoder[2].weight),
        item_bias=_array(decoder[2].bias),
    )


def vae_steps(config: VaeConfig, n_rows: int, n_items: int) -> int:
    """Mini-batch steps for `n_rows` rows over `n_items` items (see VaeConfig)."""
    by_epochs = max(config.min_steps, -(-config.max_epochs * n_rows // config.batch_size))
    by_budget = max(config.budget_min_steps, config.item_step_budget // max(n_items, 1))
    return min(config.steps, by_epochs, by_budget)


def _scaled_rows(interactions: sparse.csr_matrix) -> sparse.csr_matrix:
    """Rows scaled to a maximum of 1: a window row weighs like a user row, and event weights still count."""
    rows = sparse.csr_matrix(interactions, dtype=np.float32, copy=True)
    peaks = rows.max(axis=1).toarray().ravel()
    return sparse.diags(np.where(peaks > 0, 1.0 / np.maximum(peaks, 1e-12), 0.0).astype(np.float32)) @ rows


def _array(tensor: object) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().numpy(), dtype=np.float32)  # type: ignore[attr-defined]


class EaseVaeBlend(FactorModel):
    """Low-rank EASE and a Mult-VAE fitted on the same rows, served as one blended query (see
    `shelfwise.recommend.history_encoder`): the EASE part keeps explaining recommendations ("because you
    interacted with …") and answering similar-item queries; the VAE adds what a linear model misses."""

    name = "ease_vae"

    def __init__(self, linear: EaseLowRank, vae: VaeConfig = VaeConfig(), weight: float = 1.0) -> None:
        self.linear = linear
        self.vae = vae
        self.weight = weight

    def fit(self, interactions: sparse.csr_matrix, progress: ProgressCallback = no_progress) -> EaseVaeBlend:
        linear = self.linear.fit(interactions, progress).serving_factors()
        vae = fit_vae(interactions, self.vae, progress)
        decoder_items = np.hstack([vae.item_weights, vae.item_bias[:, None]])
        # Rescaling a block of item vectors rescales its spread by the same factor, so the blend is unchanged;
        # matching the blocks' magnitudes keeps the int8 serving matrix's per-item scale fair to both.
        decoder_items *= _rms(linear.item_side) / max(_rms(decoder_items), 1e-12)
        encoder = HistoryEncoder(
            input_weights=vae.input_weights,
            input_bias=vae.input_bias,
            latent_weights=vae.latent_weights,
            latent_bias=vae.latent_bias,
            output_weights=vae.output_weights,
            output_bias=vae.output_bias,
            linear_covariance=item_covariance(linear.item_side),
            encoder_covariance=item_covariance(decoder_items),
            weight=self.weight,
        )
        linear_dims = linear.item_side.shape[1]
        dim_scale = (
            np.ones(linear_dims, np.float32)
            if linear.embedding_dim_scale is None
            else linear.embedding_dim_scale
        )
        self.factors = ServingFactors(
            user_side=linear.user_side,
            item_side=np.ascontiguousarray(np.hstack([linear.item_side, decoder_items]), dtype=np.float32),
            embedding_row_scale=linear.embedding_row_scale,
            # Item-to-item similarity stays EASE's: the decoder's dimensions get no weight in the embedding.
            embedding_dim_scale=np.concatenate([dim_scale, np.zeros(encoder.dims, np.float32)]),
            encoder=encoder,
        )
        progress(f"ease_vae: blended low-rank EASE with a Mult-VAE (weight {self.weight:g})")
        return self

    def serving_factors(self) -> ServingFactors:
        return self.factors

    def settings(self) -> dict[str, Any]:
        return {"linear": self.linear.settings(), "vae": asdict(self.vae), "weight": self.weight}

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> Self:
        return cls(EaseLowRank(**settings["linear"]), VaeConfig(**settings["vae"]), settings["weight"])

    def state(self) -> dict[str, np.ndarray]:
        return self.factors.to_arrays()

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.factors = ServingFactors.from_arrays(arrays)


def _rms(matrix: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(matrix, dtype=np.float64))))
