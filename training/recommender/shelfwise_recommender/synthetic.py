"""Synthetic shop data with planted structure, for tests and smoke runs of the job (no real data needed).

Items belong to `n_groups` categories; each user mostly shops in one category, with a popularity skew inside
it, so a model that learns co-occurrence should beat global popularity on held-out items. With `drift`, each
user's newest `drift` share of items comes from the next category instead (tastes that move over time), the
case where a user's latest events say more about their next ones than their whole history does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

EVENT_TYPES = np.array(["view", "cart", "purchase"])


def planted_shop(
    n_users: int = 300,
    n_items: int = 120,
    n_groups: int = 4,
    per_user: int = 12,
    seed: int = 7,
    drift: float = 0.0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    group_of_item = np.arange(n_items) % n_groups
    appeal = rng.pareto(1.5, n_items) + 1.0
    rows = []
    start = pd.Timestamp("2025-01-01", tz="UTC").value // 10**9
    drifted = round(drift * per_user)
    for user in range(n_users):
        home = user % n_groups
        # 90% of a user's items come from their home category (the newest `drifted` from the next one).
        weights = appeal * np.where(group_of_item == home, 9.0 * n_groups, 1.0)
        later = appeal * np.where(group_of_item == (home + 1) % n_groups, 9.0 * n_groups, 1.0)
        chosen = rng.choice(n_items, size=per_user, replace=False, p=weights / weights.sum())
        if drifted:
            late = rng.choice(n_items, size=per_user, replace=False, p=later / later.sum())
            late = [item for item in late if item not in chosen[: per_user - drifted]][:drifted]
            chosen = np.concatenate([chosen[: per_user - drifted], late])
        moments = np.sort(rng.integers(0, 90 * 86_400, size=len(chosen))) if drifted else None
        for position, item in enumerate(chosen):
            # The draws stay in this order so a shop without drift is the same shop as before.
            event_type = str(rng.choice(EVENT_TYPES, p=[0.6, 0.25, 0.15]))
            offset = int(rng.integers(0, 90 * 86_400)) if moments is None else int(moments[position])
            rows.append(
                {
                    "user_id": f"u{user}",
                    "item_id": f"i{item}",
                    "event_type": event_type,
                    "value": 1.0,
                    "timestamp": pd.Timestamp(start + offset, unit="s", tz="UTC"),
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
