"""The deployment's hyperparameters for the job: SageMaker's `/opt/ml/input/config/hyperparameters.json`.

SageMaker writes the training job's `HyperParameters` there as a JSON object of strings (locally the same file
comes from `<state dir>/hyperparameters/recommender.json`; see docs/configuration.md). They replace the
job's defaults; command-line flags still win over them. An unknown name or a bad value fails the job with the
reason, rather than training silently with defaults the operator meant to change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from shelfwise.job_hyperparameters import read_job_hyperparameters


class Hyperparameters(BaseModel):
    """What a deployment may set; each maps to the train.py flag of the same name (`_` for `-`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Recency half-life of an event's weight in days; 0 turns decay off (data whose age says nothing).
    half_life_days: float | None = Field(default=None, ge=0)
    weight_view: float | None = Field(default=None, ge=0)
    weight_cart: float | None = Field(default=None, ge=0)
    weight_purchase: float | None = Field(default=None, ge=0)
    weight_rating: float | None = Field(default=None, ge=0)
    # The retrieval model (train.py --model): ease_vae by default; ease_lowrank fits in seconds, not minutes.
    model: Literal["ease_vae", "ease_lowrank", "ease_svd", "ials"] | None = None
    l2: float | None = Field(default=None, gt=0)
    rank: int | None = Field(default=None, ge=1)
    ranker: Literal["auto", "off"] | None = None
    # How many times its weight an event newer than the model counts at serving time; unset, the job chooses
    # it on a time-ordered carve of the training data (recency.py). 1 weighs new events like any other.
    recency_boost: float | None = Field(default=None, ge=1)
    seed: int | None = None

    def as_defaults(self) -> dict[str, Any]:
        """The values that were set, keyed by argparse destination."""
        return self.model_dump(exclude_none=True)


def read_hyperparameters(path: Path | None = None) -> Hyperparameters:
    """The file's hyperparameters (none when there is no file); ValueError naming the problem otherwise."""
    return read_job_hyperparameters(Hyperparameters, path)
