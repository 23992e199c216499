"""How strongly events newer than the model weigh against the long-term profile, chosen on validation data.

Serving scores a known user from their training history plus the events that arrived after the model's
snapshot (`shelfwise.recommend.weighting.EventWeighting.profile`). Those new events say what the user is into
now, and on a time-ordered split they predict the next interactions better than the old history does, so
they count `boost` times their own weight. The boost is chosen here, from the training data alone: each
user's pairs are put in time order and carved like the deployment sees them, the oldest
(1 - new - holdout) share as the history the model is fitted on, the next `new` share as events that arrive
after it, the newest `holdout` share held out; the retrieval model is refitted on the histories (the EASE
half alone for the EASE + Mult-VAE blend: a second VAE fit would cost as much as the rest of the job) and
each candidate boost is scored by nDCG@k on the held-out pairs. The best one, with the whole table, goes into
the manifest's weighting (`recency_boost`) and the version's metrics; serving applies it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .data import InteractionMatrix
from .evaluate import top_k_unseen
from .interface import FactorModel
from .metrics import ranking_report

# A larger boost must beat the best smaller one by this much relative nDCG to be chosen: on a noisy validation
# split a larger boost that is barely better is not worth leaning harder on a handful of events.
MIN_RELATIVE_GAIN = 0.002
MIN_USERS = 20
BATCH = 1024


@dataclass(frozen=True)
class RecencyCarve:
    """Each user's pairs in time order: the fitted history, the events that arrive after, the held out."""

    history: pd.DataFrame
    new: pd.DataFrame
    holdout: pd.DataFrame


def time_ordered_carve(pairs: pd.DataFrame, new_fraction: float, holdout_fraction: float) -> RecencyCarve:
    """Per user by the pair's newest event (ties by item id): oldest, next `new_fraction`, newest
    `holdout_fraction` of their pairs, each share rounded to whole pairs."""
    ordered = pairs.sort_values(["user_id", "timestamp", "item_id"], kind="stable")
    rank = ordered.groupby("user_id", sort=False).cumcount().to_numpy()
    count = ordered.groupby("user_id", sort=False)["item_id"].transform("size").to_numpy()
    history_end = np.round((1.0 - new_fraction - holdout_fraction) * count)
    new_end = np.round((1.0 - holdout_fraction) * count)
    return RecencyCarve(
        history=ordered[rank < history_end].reset_index(drop=True),
        new=ordered[(rank >= history_end) & (rank < new_end)].reset_index(drop=True),
        holdout=ordered[rank >= new_end].reset_index(drop=True),
    )


def boosted_profiles(history: pd.DataFrame, new: pd.DataFrame, boost: float) -> pd.DataFrame:
    """(user_id, item_id, confidence): the history plus the new pairs at `boost` times their weight, each
    item keeping its strongest weight, as serving builds a known user's profile."""
    columns = ["user_id", "item_id", "confidence"]
    boosted = new[columns].assign(confidence=new["confidence"] * boost)
    combined = pd.concat([history[columns], boosted], ignore_index=True)
    return combined.groupby(["user_id", "item_id"], sort=False, as_index=False)["confidence"].max()


def choose_recency_boost(
    pairs: pd.DataFrame,
    fit: Callable[[pd.DataFrame, InteractionMatrix], FactorModel],
    boosts: Sequence[float],
    new_fraction: float,
    holdout_fraction: float,
    k: int,
) -> dict[str, Any]:
    """The validation-chosen boost and its table: {"boost", "validation": {boost: nDCG@k}, ...}.

    Falls back to boost 1 (new events weigh as the job weighs any event) with the reason when the carve leaves
    too few users with both new and held-out pairs to measure anything.
    """
    carve = time_ordered_carve(pairs, new_fraction, holdout_fraction)
    users = sorted(set(carve.new["user_id"]) & set(carve.holdout["user_id"]) & set(carve.history["user_id"]))
    if len(users) < MIN_USERS:
        return {
            "boost": 1.0,
            "skipped": f"only {len(users)} users have history, new and held-out pairs in time order; "
            f"at least {MIN_USERS} are needed to choose a boost",
        }
    matrix = InteractionMatrix.from_confidences(carve.history)
    model = fit(carve.history, matrix)
    factors = model.serving_factors()
    user_index = np.array(users, dtype=object)
    seen = InteractionMatrix.from_confidences(
        pd.concat([carve.history, carve.new]), item_ids=matrix.item_ids, user_ids=user_index
    ).matrix
    relevant = carve.holdout[carve.holdout["user_id"].isin(users)].groupby("user_id")["item_id"].agg(set)
    table: dict[str, float] = {}
    for boost in boosts:
        profiles = InteractionMatrix.from_confidences(
            boosted_profiles(carve.history, carve.new, boost), item_ids=matrix.item_ids, user_ids=user_index
        ).matrix
        lists: dict[object, list[object]] = {}
        for start in range(0, len(users), BATCH):
            block = profiles[start : start + BATCH]
            scores = np.asarray(factors.queries(block), dtype=np.float32) @ factors.item_side.T
            best = top_k_unseen(scores, seen[start : start + BATCH], k)
            for offset, row in enumerate(best):
                lists[users[start + offset]] = list(matrix.item_ids[row])
        report = ranking_report(lists, relevant.to_dict(), k)
        table[f"{boost:g}"] = round(float(report[f"ndcg@{k}"]), 6)
    chosen = pick_boost(boosts, [table[f"{boost:g}"] for boost in boosts])
    return {
        "boost": chosen,
        "validation": table,
        "metric": f"ndcg@{k}",
        "protocol": f"per user in time order: oldest {1 - new_fraction - holdout_fraction:.0%} of the "
        f"training pairs fitted, next {new_fraction:.0%} as new events, "
        f"newest {holdout_fraction:.0%} held out",
        "model": model.name,
        "users_evaluated": len(users),
    }


def pick_boost(boosts: Sequence[float], scores: Sequence[float]) -> float:
    """Going up from the smallest boost, a larger one replaces the best so far only when it scores more than
    MIN_RELATIVE_GAIN (relative) above it; so the smallest boost when nothing clearly beats it."""
    order = sorted(range(len(boosts)), key=lambda index: boosts[index])
    best = order[0]
    for index in order[1:]:
        if scores[index] > scores[best] * (1.0 + MIN_RELATIVE_GAIN):
            best = index
    return float(boosts[best])
