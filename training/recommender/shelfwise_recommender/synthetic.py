"""Synthetic shop data with planted structure, for tests and smoke runs of the job (no real data needed).

Items belong to `n_groups` categories; each user mostly shops in one category, with a popularity skew inside
it, so a model that learns co-occurrence should beat global popularity on held-out items.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

EVENT_TYPES = np.array(["view", "cart", "purchase"])


def planted_shop(
    n_users: int = 300, n_items: int = 120, n_groups: int = 4, per_user: int = 12, seed: int = 7
) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    group_of_item = np.arange(n_items) % n_groups
    appeal = rng.pareto(1.5, n_items) + 1.0
    rows = []
    start = pd.Timestamp("2025-01-01", tz="UTC").value // 10**9
    for user in range(n_users):
        home = user % n_groups
        # 90% of a user's items come from their home category.
        weights = appeal * np.where(group_of_item == home, 9.0 * n_groups, 1.0)
        chosen = rng.choice(n_items, size=per_user, replace=False, p=weights / weights.sum())
        for item in chosen:
            rows.append(
                {
                    "user_id": f"u{user}",
                    "item_id": f"i{item}",
                    "event_type": str(rng.choice(EVENT_TYPES, p=[0.6, 0.25, 0.15])),
                    "value": 1.0,
                    "timestamp": pd.Timestamp(start + int(rng.integers(0, 90 * 86_400)), unit="s", tz="UTC"),
                }
            )
    interactions = pd.DataFrame(rows)
    catalog = pd.DataFrame(
        {
            "item_id": [f"i{item}" for item in range(n_items)],
            "title": [f"Item {item}" for item in range(n_items)],
            "category": [f"cat{group}" for group in group_of_item],
            "brand": "acme",
            "price": 10.0,
        }
    )
    return interactions, catalog
