"""Re-ranking for category variety: calibrated recommendations and MMR, by hand and through serving."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from shelfwise.recommend import Recommender
from shelfwise.recommend.diversify import (
    RERANK_ENV,
    RerankConfig,
    calibrated,
    kl_divergence,
    label_distribution,
    mmr,
    one_hot,
    relevance,
    rerank,
)
from shelfwise_recommender.config import TrainConfig
from shelfwise_recommender.pipeline import train
from shelfwise_recommender.progress import Progress
from shelfwise_recommender.synthetic import planted_shop

A, B = [1.0, 0.0], [0.0, 1.0]


def test_the_setting_is_off_by_default_and_malformed_values_name_the_variable() -> None:
    assert not RerankConfig.from_env({}).enabled
    assert not RerankConfig.parse("off").enabled
    assert RerankConfig.parse("mmr:0.3") == RerankConfig(method="mmr", weight=0.3)
    assert RerankConfig.from_env({RERANK_ENV: "Calibrated:0.5"}).method == "calibrated"
    assert not RerankConfig.parse("mmr:0").enabled
    for raw in ("mmr", "mmr:1.5", "popular:0.2", "calibrated:x"):
        with pytest.raises(ValueError, match=RERANK_ENV):
            RerankConfig.parse(raw)


def test_relevance_is_min_max_scaled_and_flat_scores_are_all_ones() -> None:
    assert relevance(np.array([3.0, 2.0, 1.0])).tolist() == [1.0, 0.5, 0.0]
    assert relevance(np.array([2.0, 2.0])).tolist() == [1.0, 1.0]


def test_mmr_trades_a_close_second_of_the_same_category_for_another_category() -> None:
    scores = np.array([1.0, 0.9, 0.8, 0.1])
    labels = np.array([A, A, A, B])
    assert mmr(scores, labels, 2, weight=0.0).tolist() == [0, 1]
    # Relevance 1, .889, .778, 0: the second A is worth .5·.889 - .5·1 < 0, the B .5·0 - .5·0 = 0.
    assert mmr(scores, labels, 2, weight=0.5).tolist() == [0, 3]


def test_calibration_follows_the_category_mix_of_the_history() -> None:
    target = label_distribution(np.array([A, B]), np.array([1.0, 1.0]))
    assert target.tolist() == [0.5, 0.5]
    assert kl_divergence(target, target) == pytest.approx(0.0)
    scores = np.array([1.0, 0.9, 0.1])
    labels = np.array([A, A, B])
    assert calibrated(scores, labels, target, 2, weight=0.0).tolist() == [0, 1]
    # Two As leave KL(p || q̃) ≈ 1.96; A then B matches the history exactly and wins despite its score.
    assert calibrated(scores, labels, target, 2, weight=0.5).tolist() == [0, 2]
    # A history with no categories gives no target: the model's order.
    assert calibrated(scores, labels, np.zeros(2), 2, weight=0.9).tolist() == [0, 1]


def test_rerank_off_keeps_the_model_order_and_one_hot_leaves_unknown_categories_empty() -> None:
    scores = np.array([3.0, 2.0, 1.0])
    labels = one_hot(np.array([0, -1, 1]), 2)
    assert labels.tolist() == [A, [0.0, 0.0], B]
    assert rerank(RerankConfig(), scores, labels, labels, np.ones(3), 2).tolist() == [0, 1]
    assert rerank(RerankConfig("mmr", 1.0), scores, labels, labels, np.ones(3), 3).tolist() == [0, 1, 2]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    interactions, catalog = planted_shop(n_users=200, n_items=80)
    config = replace(TrainConfig(), model="ease_lowrank", l2=20.0, rank=16, ranker="off")
    return train(interactions, catalog, config, tmp_path_factory.mktemp("diversify"), Progress()).model_dir


def _categories(items: list[str]) -> list[str]:
    # planted_shop puts item i in category cat(i % 4).
    return [f"cat{int(item[1:]) % 4}" for item in items]


def test_serving_applies_the_configured_re_ranking_and_keeps_every_filter(model_dir: Path) -> None:
    history = [(f"i{item}", 1.0) for item in (0, 4, 8, 12, 16, 20)]  # all cat0
    plain = Recommender.load(model_dir, rerank=RerankConfig())
    varied = Recommender.load(model_dir, rerank=RerankConfig("mmr", 0.9))
    before = [rec.item_id for rec in plain.recommend(history, k=8)]
    after = [rec.item_id for rec in varied.recommend(history, k=8)]
    assert len(set(_categories(before))) < len(set(_categories(after))) == 4
    # The best item stays first, and excluded, unavailable and seen items stay out.
    assert after[0] == before[0]
    blocked = {before[0], before[1]}
    gone = frozenset({after[1]})
    filtered = [rec.item_id for rec in varied.recommend(history, k=8, exclude=blocked, unavailable=gone)]
    assert len(filtered) == 8 and not set(filtered) & (blocked | gone | {item for item, _ in history})
    # Calibrated to a 3:1 history, the list leans to the history's main category but includes the other.
    mixed = [*history[:3], ("i1", 1.0)]
    calibrated_list = Recommender.load(model_dir, rerank=RerankConfig("calibrated", 0.5)).recommend(
        mixed, k=8
    )
    counts = {
        name: _categories([rec.item_id for rec in calibrated_list]).count(name) for name in ("cat0", "cat1")
    }
    assert counts["cat0"] > counts["cat1"] > 0
