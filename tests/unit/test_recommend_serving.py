"""Serving: an exported model loads in onnxruntime and ranks like the exact numpy reference, with filters."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from shelfwise.recommend import EventWeighting, Recommender, UnknownItemError
from shelfwise.recommend.history_encoder import HistoryEncoder
from shelfwise.recommend.recommender import POPULAR_REASON
from shelfwise_recommender.config import TrainConfig, WeightingConfig
from shelfwise_recommender.data import event_confidences
from shelfwise_recommender.pipeline import train
from shelfwise_recommender.progress import Progress
from shelfwise_recommender.synthetic import planted_shop


@pytest.fixture(scope="module", params=["int8", "none"])
def model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Recommender:
    interactions, catalog = planted_shop(n_users=200, n_items=100)
    # A catalog-only item nobody has touched yet: it can be recommended only as filler.
    catalog = pd.concat(
        [catalog, pd.DataFrame([{"item_id": "fresh", "category": "cat0"}])], ignore_index=True
    )
    # Retrieval alone: these tests compare the served answer with exact factor scoring.
    config = replace(TrainConfig(), l2=20.0, rank=16, quantize=request.param, ranker="off")
    result = train(interactions, catalog, config, tmp_path_factory.mktemp(request.param), Progress())
    return Recommender.load(result.model_dir)


def _exact_top_k(recommender: Recommender, history: list[tuple[str, float]], k: int) -> list[str]:
    ids = json.loads((recommender.model_dir / "items.json").read_text())["item_ids"]
    index = {item: position for position, item in enumerate(ids)}
    user_side = np.load(recommender.model_dir / "user_factors.npy")
    item_side = np.load(recommender.model_dir / "item_factors.npy")
    query = sum(weight * user_side[index[item]] for item, weight in history)
    encoder_file = recommender.model_dir / "history_encoder.npz"
    if encoder_file.exists():  # a blended model: the VAE's part of the query, from the dense history
        encoder = HistoryEncoder.load(encoder_file)
        dense = np.zeros((1, len(ids)), dtype=np.float32)
        for item, weight in history:
            dense[0, index[item]] = weight
        query = encoder.blend(query, encoder.hidden(dense))[0]
    scores = item_side @ query
    scores[[index[item] for item, _ in history]] = -np.inf
    return [ids[position] for position in np.argsort(-scores, kind="stable")[:k]]


def test_onnx_ranking_matches_the_numpy_reference(model: Recommender) -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        items = rng.choice(100, size=5, replace=False)
        history = [(f"i{item}", float(rng.uniform(0.2, 1.0))) for item in items]
        got = [rec.item_id for rec in model.recommend(history, k=10)]
        assert got == _exact_top_k(model, history, 10)


def test_known_user_id_is_scored_from_the_training_history(model: Recommender) -> None:
    results = model.recommend("u5", k=10)
    assert len(results) == 10
    assert all(rec.reason.startswith("because you interacted with ") for rec in results)
    # u5 shops in cat1 (user % 4); the planted structure should show in their recommendations.
    categories = [int(rec.item_id[1:]) % 4 for rec in results if rec.item_id.startswith("i")]
    assert categories.count(1) >= 7


def test_filters_never_leak_and_k_items_come_back_when_the_catalog_allows(model: Recommender) -> None:
    rng = np.random.default_rng(11)
    for trial in range(30):
        history = [(f"i{item}", 1.0) for item in rng.choice(100, size=6, replace=False)]
        excluded = {f"i{item}" for item in rng.choice(100, size=10, replace=False)}
        category = [None, "cat0", "cat2"][trial % 3]
        results = model.recommend(history, k=12, category=category, exclude=excluded, exclude_seen=True)
        returned = [rec.item_id for rec in results]
        assert len(returned) == len(set(returned)) == 12
        assert not set(returned) & excluded
        assert not set(returned) & {item for item, _ in history}
        if category is not None:
            assert all(item == "fresh" or int(item[1:]) % 4 == int(category[-1]) for item in returned)


def test_unavailable_items_never_come_back_and_a_new_list_replaces_the_old(model: Recommender) -> None:
    history = [("i1", 1.0), ("i5", 1.0)]
    unfiltered = [rec.item_id for rec in model.recommend(history, k=10)]
    first = frozenset(unfiltered[:3])
    second = frozenset(unfiltered[3:6])
    for unavailable in (first, second, first):
        calls = [
            model.recommend(history, k=10, unavailable=unavailable),
            model.recommend(history, k=10, category="cat1", unavailable=unavailable),
            model.recommend("someone-new", k=10, unavailable=unavailable),
            model.similar("i1", k=10, unavailable=unavailable),
            model.popular(k=10, unavailable=unavailable),
        ]
        for results in calls:
            returned = [rec.item_id for rec in results]
            assert len(returned) == 10 and not set(returned) & unavailable
    # After filtered requests, an unfiltered one is exactly the original answer.
    assert [rec.item_id for rec in model.recommend(history, k=10)] == unfiltered
    assert [rec.item_id for rec in model.recommend(history, k=10, unavailable=first)] == [
        item for item in _exact_top_k(model, history, 13) if item not in first
    ][:10]


def test_seen_items_can_be_allowed_back(model: Recommender) -> None:
    history = [("i0", 1.0), ("i4", 1.0), ("i8", 1.0)]
    with_seen = {rec.item_id for rec in model.recommend(history, k=100, exclude_seen=False)}
    assert {"i0", "i4", "i8"} <= with_seen


def test_a_small_category_returns_only_what_is_eligible(model: Recommender) -> None:
    cat0 = [f"i{item}" for item in range(0, 100, 4)] + ["fresh"]
    results = model.recommend([("i1", 1.0)], k=50, category="cat0", exclude=cat0[:20])
    assert sorted(rec.item_id for rec in results) == sorted(cat0[20:])
    assert model.recommend([("i1", 1.0)], k=5, category="no-such-category") == []


def test_unknown_user_gets_popular_items_and_says_why(model: Recommender) -> None:
    results = model.recommend("someone-new", k=5)
    assert len(results) == 5
    assert all(rec.reason == POPULAR_REASON for rec in results)
    counts = [rec.score for rec in results]
    assert counts == sorted(counts, reverse=True)
    assert [rec.item_id for rec in model.recommend([], k=5)] == [rec.item_id for rec in results]
    filtered = model.recommend("someone-new", k=5, category="cat3", exclude={results[0].item_id})
    assert all(int(rec.item_id[1:]) % 4 == 3 for rec in filtered) and len(filtered) == 5


def test_similar_items_share_the_planted_category_and_exclude_the_anchor(model: Recommender) -> None:
    results = model.similar("i2", k=8)
    returned = [rec.item_id for rec in results]
    assert "i2" not in returned and len(returned) == 8
    assert sum(int(item[1:]) % 4 == 2 for item in returned) >= 6
    scores = [rec.score for rec in results]
    assert scores == sorted(scores, reverse=True) and all(-1.0001 <= score <= 1.0001 for score in scores)


def test_similar_for_an_unknown_item_raises_a_domain_key_error(model: Recommender) -> None:
    with pytest.raises(UnknownItemError, match="not in the recommender's catalog"):
        model.similar("no-such-item")
    with pytest.raises(KeyError):
        model.similar("no-such-item")


def test_serving_weighting_matches_the_training_weighting(model: Recommender) -> None:
    day = 86_400.0
    events = [
        ("a", "view", 10 * day),
        ("a", "purchase", 2 * day),
        ("b", "cart", 9 * day),
        ("c", "bogus", 9 * day),
    ]
    weighting = EventWeighting.from_manifest(
        {"event_weights": {"view": 0.25, "cart": 0.5, "purchase": 1.0}, "half_life_days": 4.0}
    )
    served = dict(weighting.item_weights(events, now=10 * day))
    frame = pd.DataFrame(
        [{"user_id": "u", "item_id": item, "event_type": kind, "timestamp": ts} for item, kind, ts in events]
    )
    trained = event_confidences(
        frame, WeightingConfig(event_weights={"view": 0.25, "cart": 0.5, "purchase": 1.0}, half_life_days=4.0)
    ).set_index("item_id")["confidence"]
    assert served.keys() == set(trained.index)
    for item, weight in served.items():
        assert weight == pytest.approx(trained[item])
    assert model.weighting.event_weights["purchase"] > model.weighting.event_weights["view"]
