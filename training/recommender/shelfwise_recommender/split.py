"""Held-out splits for offline evaluation."""

from __future__ import annotations

import numpy as np
import pandas as pd


def stratified_user_split(
    pairs: pd.DataFrame, test_fraction: float = 0.25, seed: int = 42
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-user random split: each user keeps about (1 - test_fraction) of their items for training.

    This is the Microsoft Recommenders `python_stratified_split` protocol: every user appears on both sides
    (users with a single item stay in training only), so the test measures ranking, not cold start.
    """
    rng = np.random.default_rng(seed)
    shuffled = pairs.assign(_draw=rng.random(len(pairs))).sort_values(["user_id", "_draw"], kind="stable")
    rank = shuffled.groupby("user_id", sort=False).cumcount()
    size = shuffled.groupby("user_id", sort=False)["item_id"].transform("size")
    train_count = np.maximum(1, np.round(size * (1.0 - test_fraction))).astype(int)
    in_train = rank < train_count
    columns = list(pairs.columns)
    return shuffled.loc[in_train, columns].reset_index(drop=True), shuffled.loc[
        ~in_train, columns
    ].reset_index(drop=True)
