"""Ranking metrics with binary relevance, averaged over users who have at least one held-out item.

Definitions follow Microsoft Recommenders' `python_evaluation`: precision@k divides hits by k, recall@k by the
number of relevant items, nDCG@k uses 1/log2(rank+1) gains against the ideal ordering of min(|rel|, k) hits,
and MAP@k (`map_at_k`) divides the summed precision at each hit by min(|rel|, k). `map_full_at_k` divides by
|rel| instead (Recommenders' older `map`, used by many published tables).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def precision_at_k(recommended: Sequence[object], relevant: set[object], k: int) -> float:
    return sum(item in relevant for item in recommended[:k]) / k


def recall_at_k(recommended: Sequence[object], relevant: set[object], k: int) -> float:
    return sum(item in relevant for item in recommended[:k]) / len(relevant)


def ndcg_at_k(recommended: Sequence[object], relevant: set[object], k: int) -> float:
    gains = sum(1.0 / np.log2(rank + 2) for rank, item in enumerate(recommended[:k]) if item in relevant)
    ideal = sum(1.0 / np.log2(rank + 2) for rank in range(min(len(relevant), k)))
    return gains / ideal


def _precision_sum_at_hits(recommended: Sequence[object], relevant: set[object], k: int) -> float:
    hits = 0
    total = 0.0
    for rank, item in enumerate(recommended[:k], start=1):
        if item in relevant:
            hits += 1
            total += hits / rank
    return total


def average_precision_at_k(recommended: Sequence[object], relevant: set[object], k: int) -> float:
    return _precision_sum_at_hits(recommended, relevant, k) / min(len(relevant), k)


def average_precision_full_at_k(recommended: Sequence[object], relevant: set[object], k: int) -> float:
    return _precision_sum_at_hits(recommended, relevant, k) / len(relevant)


def ranking_report(
    recommendations: dict[object, Sequence[object]],
    relevant: dict[object, set[object]],
    k: int,
    *,
    item_popularity: dict[object, float] | None = None,
    n_catalog_items: int | None = None,
) -> dict[str, float]:
    """Mean ranking metrics over users with held-out items, plus coverage and novelty of what was shown.

    `item_popularity` maps an item to the share of training users who interacted with it; novelty is the mean
    self-information -log2(share) of recommended items (higher = less popularity-biased), and
    `mean_item_popularity` the mean share itself, and `mean_popularity_percentile` the mean share of catalog
    items less popular than each recommended one (1.0 = only the head; popularity itself sits near 1.0).
    """
    users = [user for user, items in relevant.items() if items]
    if not users:
        raise ValueError("no user has held-out items to evaluate against")
    rows = {"precision": [], "recall": [], "ndcg": [], "map": [], "map_full": []}
    shown: set[object] = set()
    novelty: list[float] = []
    ordered_shares = np.sort(np.fromiter(item_popularity.values(), float)) if item_popularity else None
    popularity: list[float] = []
    for user in users:
        ranked = list(recommendations.get(user, ()))[:k]
        truth = relevant[user]
        rows["precision"].append(precision_at_k(ranked, truth, k))
        rows["recall"].append(recall_at_k(ranked, truth, k))
        rows["ndcg"].append(ndcg_at_k(ranked, truth, k))
        rows["map"].append(average_precision_at_k(ranked, truth, k))
        rows["map_full"].append(average_precision_full_at_k(ranked, truth, k))
        shown.update(ranked)
        if item_popularity is not None:
            shares = [max(item_popularity.get(item, 0.0), 1e-12) for item in ranked]
            novelty.extend(-np.log2(shares))
            popularity.extend(shares)
    report = {f"{name}@{k}": float(np.mean(values)) for name, values in rows.items()}
    report["users_evaluated"] = float(len(users))
    if n_catalog_items:
        report["catalog_coverage"] = len(shown) / n_catalog_items
    if item_popularity is not None and novelty:
        report["novelty_bits"] = float(np.mean(novelty))
        report["mean_item_popularity"] = float(np.mean(popularity))
        below = np.searchsorted(ordered_shares, np.asarray(popularity), side="left")
        report["mean_popularity_percentile"] = float(np.mean(below / len(ordered_shares)))
    return report
