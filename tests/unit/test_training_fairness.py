"""Exposure, diversity and popularity-bias measurements of recommendation lists, on hand-worked cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from shelfwise_recommender.fairness import (
    beyond_accuracy,
    exposure_summary,
    gini,
    group_exposure,
    intra_list_diversity,
    item_exposure,
    list_diversity,
    popularity_percentiles,
)


def test_gini_is_zero_for_equal_exposure_and_n_minus_one_over_n_for_one_item() -> None:
    assert gini([3, 3, 3, 3]) == pytest.approx(0.0)
    assert gini([0, 0, 0, 5]) == pytest.approx(3 / 4)
    # Mean absolute difference over all ordered pairs (8) / (2 n² mean) = 8 / 36.
    assert gini([2, 3, 1]) == pytest.approx(2 / 9)
    assert gini([]) == 0.0 and gini([0, 0]) == 0.0


def test_item_exposure_counts_slots_in_catalog_order_and_zero_for_unshown_items() -> None:
    counts = item_exposure([["b", "a"], ["b", "zz"]], ["a", "b", "c"])
    assert counts.tolist() == [1.0, 2.0, 0.0]
    assert gini(counts) == pytest.approx(gini([1, 2, 0]))


def test_intra_list_diversity_is_mean_pairwise_jaccard_distance_of_labels() -> None:
    one = frozenset
    # Same, different, different: 2 of 3 pairs differ.
    assert list_diversity([one("a"), one("a"), one("b")]) == pytest.approx(2 / 3)
    # {a, b} vs {b, c}: Jaccard 1/3, distance 2/3 (multi-genre movies).
    assert list_diversity([frozenset("ab"), frozenset("bc")]) == pytest.approx(2 / 3)
    # Items without labels are left out; one labelled item has no pair.
    assert list_diversity([one("a"), frozenset(), frozenset()]) is None
    assert intra_list_diversity([[one("a"), one("a")], [one("a"), one("b")], [one("x")]]) == pytest.approx(
        0.5
    )


def test_group_exposure_compares_slot_share_with_catalog_and_interaction_shares() -> None:
    rows = group_exposure(
        slots=["x", "x", "x", "y", None],
        catalog=["x", "y", "y", "z"],
        interactions=["x", "x", "y", "z"],
    )
    assert [row.group for row in rows] == ["x", "y", "z"]
    by_group = {row.group: row for row in rows}
    assert by_group["x"].slot_share == pytest.approx(0.75)
    assert by_group["x"].ratio_to_catalog == pytest.approx(3.0)
    assert by_group["x"].ratio_to_interactions == pytest.approx(1.5)
    assert by_group["z"].slot_share == 0.0
    summary = exposure_summary(rows, "category")
    assert summary == pytest.approx(
        {
            "category_max_exposure_vs_catalog": 3.0,
            "category_max_exposure_vs_interactions": 1.5,
            # ½ (|0.75 - 0.5| + |0.25 - 0.25| + |0 - 0.25|)
            "category_exposure_tv_vs_interactions": 0.25,
            "category_share_exposed": 2 / 3,
        }
    )


def test_popularity_percentile_is_the_share_of_items_strictly_less_popular() -> None:
    shares = np.array([1.0, 2.0, 2.0, 5.0])
    assert popularity_percentiles(shares, np.array([5.0, 2.0, 1.0])).tolist() == [0.75, 0.25, 0.0]


def test_beyond_accuracy_on_a_small_shop_and_a_catalog_without_brands() -> None:
    catalog = pd.DataFrame({"item_id": ["a", "b", "c", "d"], "category": ["shoes", "shoes", "bags", "hats"]})
    train_pairs = pd.DataFrame(
        {"user_id": ["u1", "u1", "u2", "u2", "u3"], "item_id": ["a", "b", "a", "c", "a"]}
    )
    lists = {"u1": ["c", "a"], "u2": ["b", "a"], "u3": ["b", "c"], "not-evaluated": ["d", "d"]}
    report = beyond_accuracy(
        lists, ["u1", "u2", "u3"], catalog, train_pairs, consumed=["d", "b", "c"], item_ids="abcd", k=2
    )
    metrics = report.metrics
    # Slots: a 2, b 2, c 2, d 0 -> Gini of [0, 2, 2, 2] = 1/4.
    assert metrics["exposure_gini"] == pytest.approx(0.25)
    # Lists (bags, shoes), (shoes, shoes), (shoes, bags): 1, 0, 1.
    assert metrics["intra_list_diversity"] == pytest.approx(2 / 3)
    # Training popularity a 3, b 1, c 1, d 0; percentiles a .75, b .25, c .25, d 0.
    assert metrics["consumed_popularity_percentile"] == pytest.approx((0 + 0.25 + 0.25) / 3)
    assert metrics["popularity_bias"] == pytest.approx((0.75 * 2 + 0.25 * 4) / 6 - 0.5 / 3)
    # shoes: 4 of 6 slots, 2 of 4 catalog items, 4 of 5 interactions.
    assert metrics["category_max_exposure_vs_catalog"] == pytest.approx((4 / 6) / (2 / 4))
    assert metrics["category_share_exposed"] == pytest.approx(2 / 3)
    assert set(report.tables) == {"category"}
    assert not any(name.startswith("brand_") for name in metrics)
    with_brand = catalog.assign(brand=["acme", "acme", "acme", "zeta"])
    branded = beyond_accuracy(lists, ["u1", "u2", "u3"], with_brand, train_pairs, ["d"], "abcd", 2)
    assert branded.metrics["brand_share_exposed"] == pytest.approx(0.5)
    assert branded.tables["brand"][0]["group"] == "acme"
