"""The retrieval model of each kind the job knows, built from the training configuration's values."""

from __future__ import annotations

from .interface import RecommenderModel
from .models import Ease, EaseLowRank, EaseSvd, Ials, Popularity
from .vae import EaseVaeBlend, VaeConfig

MODEL_KINDS = ("popularity", "ease", "ease_svd", "ease_lowrank", "ease_vae", "ials")


def build_model(
    kind: str,
    *,
    l2: float,
    rank: int,
    ials_factors: int,
    ials_regularization: float,
    ials_alpha: float,
    ials_iterations: int,
    seed: int,
    diagonal_penalty: float = 0.0,
    vae_weight: float = 1.0,
    vae_steps: int = 2000,
) -> RecommenderModel:
    if kind == "popularity":
        return Popularity()
    if kind == "ease":
        return Ease(l2)
    if kind == "ease_svd":
        return EaseSvd(l2, rank, seed)
    if kind == "ease_lowrank":
        return EaseLowRank(l2, rank, seed, diagonal_penalty)
    if kind == "ials":
        return Ials(ials_factors, ials_regularization, ials_alpha, ials_iterations, seed)
    if kind == "ease_vae":
        vae = VaeConfig(steps=vae_steps, seed=seed)
        return EaseVaeBlend(EaseLowRank(l2, rank, seed, diagonal_penalty), vae, vae_weight)
    raise ValueError(f"unknown model kind {kind!r}; choose one of {', '.join(MODEL_KINDS)}")
