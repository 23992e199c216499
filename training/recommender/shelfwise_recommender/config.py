"""Training configuration, with the defaults the job uses when no flag overrides them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

ModelKind = Literal["ease_vae", "ease_lowrank", "ease_svd", "ease", "ials", "popularity"]

DEFAULT_EVENT_WEIGHTS: dict[str, float] = {"view": 0.25, "cart": 0.5, "purchase": 1.0, "rating": 1.0}


@dataclass(frozen=True)
class WeightingConfig:
    """How raw events become one confidence in [0, 1] per (user, item).

    Each event counts `event_weights[event_type] * 0.5 ** (age_days / half_life_days)`, with age measured from
    the newest event in the data (so a rerun on the same data is reproducible), and a pair keeps its strongest
    event: a purchase outweighs any number of views, and a recent view can outweigh an old purchase.
    """

    event_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS))
    half_life_days: float | None = 120.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrainConfig:
    # ease_vae: low-rank EASE blended with a Mult-VAE (falls back to ease_lowrank above vae_max_items).
    model: ModelKind = "ease_vae"
    weighting: WeightingConfig = field(default_factory=WeightingConfig)
    # EASE's L2 penalty; for binary data on catalogs of a few thousand items a few hundred works well.
    l2: float = 500.0
    # EDLAE's popularity-proportional extra penalty on each item (0 = plain EASE); see models.EaseLowRank.
    diagonal_penalty: float = 0.0
    # Rank of the factor model served by the ONNX scorer (the embedding size).
    rank: int = 512
    # Upper bound on the int8 serving matrix (items x rank bytes); large catalogs get a lower rank.
    serving_matrix_bytes: int = 64_000_000
    # Co-occurrence within each user's history: windows of this many consecutive items (by time) are fitted
    # alongside the users, adding `sequence_weight` times the users' own mass; 0 turns it off.
    sequence_window: int = 10
    sequence_weight: float = 1.0
    # The Mult-VAE's weight in the blend, its training steps, and the largest catalog it is used for: its two
    # items x 300 layers grow with the catalog, and its 301 dimensions take serving budget from EASE's rank.
    vae_weight: float = 1.0
    vae_steps: int = 2000
    vae_max_items: int = 50_000
    # iALS hyper-parameters (only used when model == "ials").
    ials_factors: int = 64
    ials_regularization: float = 10.0
    ials_alpha: float = 5.0
    ials_iterations: int = 10
    # Serving matrix precision: int8 reads 4x fewer bytes per request; fp32 is exact.
    quantize: Literal["int8", "none"] = "int8"
    top_k: int = 10
    holdout_fraction: float = 0.25
    seed: int = 42
    # Items kept in the popularity fallback list shipped with the model.
    popular_items: int = 500
    # Ranking stage (FM re-ranking the retrieval candidates): "auto" trains and measures it and ships it only
    # when the hold-out improves by ranker_min_gain (relative nDCG@k) without losing recall; "off" skips it.
    ranker: Literal["auto", "off"] = "auto"
    ranker_candidates: int = 100
    ranker_factors: int = 2
    ranker_min_gain: float = 0.01
    # How many times its own weight an event newer than the model counts in a known user's profile at serving
    # time (recency.py): None chooses it from `recency_boosts` on a time-ordered carve of the training data
    # (the oldest pairs fitted, the next `recency_new_fraction` arriving after, the newest
    # `recency_holdout_fraction` held out); a number fixes it and skips the choice.
    recency_boost: float | None = None
    recency_boosts: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0)
    recency_new_fraction: float = 0.15
    recency_holdout_fraction: float = 0.25

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
