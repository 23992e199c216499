"""The FM ranking stage: features, fitting, ONNX export, the keep-or-drop decision and serving."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from shelfwise.recommend import Recommender
from shelfwise.recommend.history_encoder import HistoryEncoder
from shelfwise.recommend.ranker import FEATURE_NAMES, ItemContext, candidate_features
from shelfwise_recommender.config import TrainConfig
from shelfwise_recommender.pipeline import train
from shelfwise_recommender.progress import Progress
from shelfwise_recommender.ranking import FactorizationMachine, build_fm_graph, fit_pairwise_fm
from shelfwise_recommender.synthetic import planted_shop

DAY = 86_400.0


def _items() -> ItemContext:
    return ItemContext(
        popularity_share=np.array([0.5, 0.1, 0.0, 0.2], dtype=np.float32),
        category=np.array([0, 0, 1, -1], dtype=np.int32),
        brand=np.array([3, 4, 3, 3], dtype=np.int32),
        price_band=np.array([0, 4, -1, 2], dtype=np.int8),
        mean_time=np.array([10 * DAY, 0.0, np.nan, 9 * DAY]),
    )


def test_candidate_features_describe_the_user_item_pair() -> None:
    # History: item 0 (weight 3) and item 1 (weight 1); candidates 2 and 3.
    features = candidate_features(
        np.array([2.0, 1.0]), np.array([2, 3]), np.array([0, 1]), np.array([3.0, 1.0]), 10 * DAY, _items()
    )
    by_name = dict(zip(FEATURE_NAMES, features.T, strict=True))
    assert by_name["retrieval_score_z"][0] > 0 > by_name["retrieval_score_z"][1]
    assert by_name["log_item_popularity"][1] == pytest.approx(np.log(0.2))
    assert by_name["log_item_popularity"][0] == pytest.approx(np.log(1e-6))  # never seen: floored, finite
    assert by_name["category_affinity"].tolist() == [0.0, 0.0]  # category 1 unseen, item 3 has none
    assert by_name["brand_affinity"].tolist() == pytest.approx([0.75, 0.75])  # brand 3 holds 3 of 4 weight
    # The user's weighted mean price band is (0*3 + 4*1) / 4 = 1; item 3 sits in band 2, item 2 has no price.
    assert by_name["price_band_gap"].tolist() == pytest.approx([0.0, 1 / 5])
    assert by_name["log_days_from_item"][1] == pytest.approx(np.log1p(1.0))
    assert by_name["log_days_from_item"][0] == pytest.approx(np.log1p(365.0))


def test_fm_onnx_graph_scores_exactly_like_the_numpy_model() -> None:
    rng = np.random.default_rng(0)
    model = FactorizationMachine(
        mean=rng.normal(size=6),
        scale=rng.uniform(0.5, 2, 6),
        linear=rng.normal(size=6),
        factors=rng.normal(size=(6, 3)),
    )
    session = ort.InferenceSession(
        build_fm_graph(model).SerializeToString(), providers=["CPUExecutionProvider"]
    )
    features = rng.normal(size=(50, 6)).astype(np.float32)
    (scores,) = session.run(None, {"features": features})
    np.testing.assert_allclose(scores, model.predict(features), rtol=1e-4, atol=1e-4)


def test_pairwise_fm_learns_an_interaction_a_linear_model_cannot() -> None:
    rng = np.random.default_rng(1)
    features, labels = [], []
    for _ in range(200):
        block = rng.normal(size=(30, 2))
        # Relevant when both signals agree in sign: a pure feature-by-feature interaction.
        labels.append(block[:, 0] * block[:, 1] > 0.5)
        features.append(block)
    model = fit_pairwise_fm(features, labels, n_factors=2, epochs=300, seed=3)
    test = rng.normal(size=(2000, 2))
    truth = test[:, 0] * test[:, 1] > 0.5
    scores = model.predict(test)
    auc = (scores[truth][:, None] > scores[~truth][None, :]).mean()
    assert auc > 0.85


@pytest.fixture(scope="module")
def ranked_model(tmp_path_factory: pytest.TempPathFactory) -> Recommender:
    interactions, catalog = planted_shop(n_users=200, n_items=100)
    catalog = catalog.assign(price=np.linspace(5.0, 50.0, len(catalog)))
    # A negative minimum gain forces the stage on, so serving is exercised whatever the hold-out says.
    config = replace(TrainConfig(), l2=20.0, rank=16, ranker_min_gain=-1.0)
    result = train(interactions, catalog, config, tmp_path_factory.mktemp("ranked"), Progress())
    return Recommender.load(result.model_dir)


def test_a_kept_ranker_reorders_the_retrieval_candidates_as_trained(ranked_model: Recommender) -> None:
    assert ranked_model.has_ranker
    manifest = ranked_model.manifest
    assert {"ranker.onnx", "ranker_items.npz"} <= set(manifest["files"])
    history = [("i1", 1.0), ("i5", 0.5), ("i9", 1.0)]
    now = pd.Timestamp("2025-03-01", tz="UTC").timestamp()
    results = ranked_model.recommend(history, k=10, now=now)
    scores = [rec.score for rec in results]
    assert len(results) == 10 and scores == sorted(scores, reverse=True)
    # The same answer by hand: every unseen item is a candidate here (100 items < 100 + history).
    items = ItemContext.load(ranked_model.model_dir / "ranker_items.npz")
    ids = json.loads((ranked_model.model_dir / "items.json").read_text())["item_ids"]
    index = {item: position for position, item in enumerate(ids)}
    user_side = np.load(ranked_model.model_dir / "user_factors.npy")
    item_side = np.load(ranked_model.model_dir / "item_factors.npy")
    seen = np.array([index[item] for item, _ in history])
    weights = np.array([weight for _, weight in history])
    query = weights @ user_side[seen]
    encoder_file = ranked_model.model_dir / "history_encoder.npz"
    if encoder_file.exists():  # a blended model: the VAE's part of the query, from the dense history
        encoder = HistoryEncoder.load(encoder_file)
        dense = np.zeros((1, len(ids)), dtype=np.float32)
        dense[0, seen] = weights
        query = encoder.blend(query, encoder.hidden(dense))[0]
    retrieval = item_side @ query
    candidates = np.setdiff1d(np.arange(len(ids)), seen)
    features = candidate_features(retrieval[candidates], candidates, seen, weights, now, items)
    session = ort.InferenceSession(
        str(ranked_model.model_dir / "ranker.onnx"), providers=["CPUExecutionProvider"]
    )
    (expected,) = session.run(None, {"features": features})
    best = candidates[np.argsort(-expected, kind="stable")[:10]]
    assert [rec.item_id for rec in results] == [ids[position] for position in best]


def test_a_kept_ranker_still_honours_every_filter(ranked_model: Recommender) -> None:
    excluded = {f"i{item}" for item in range(0, 40, 3)}
    results = ranked_model.recommend([("i2", 1.0)], k=15, category="cat2", exclude=excluded)
    returned = [rec.item_id for rec in results]
    assert len(returned) == len(set(returned)) == 15
    assert not set(returned) & (excluded | {"i2"})
    assert all(int(item[1:]) % 4 == 2 for item in returned)
    assert all(rec.reason.startswith("because you interacted with") for rec in results)


def test_the_ranker_can_be_switched_off_at_load_time(ranked_model: Recommender) -> None:
    plain = Recommender.load(ranked_model.model_dir, use_ranker=False)
    assert not plain.has_ranker
    history = [("i1", 1.0), ("i5", 0.5), ("i9", 1.0)]
    ranked = [rec.item_id for rec in ranked_model.recommend(history, k=10, now=0.0)]
    retrieval = [rec.item_id for rec in plain.recommend(history, k=10)]
    assert ranked != retrieval and len(retrieval) == 10


def test_the_job_records_the_comparison_and_ships_no_ranker_when_it_is_off(tmp_path: Path) -> None:
    interactions, catalog = planted_shop(n_users=120, n_items=60)
    result = train(interactions, catalog, replace(TrainConfig(), l2=20.0, rank=16, ranker="off"), tmp_path)
    metrics = json.loads((result.model_dir / "metrics.json").read_text())
    assert metrics["ranker"]["kept"] is False and "off" in metrics["ranker"]["reason"]
    assert not Recommender.load(result.model_dir).has_ranker
    assert not (result.model_dir / "ranker.onnx").exists()


def test_the_job_drops_a_ranker_that_does_not_beat_retrieval(tmp_path: Path) -> None:
    interactions, catalog = planted_shop(n_users=120, n_items=60)
    # An impossible bar: the stage is trained and measured, and must then be left out.
    config = replace(TrainConfig(), l2=20.0, rank=16, ranker_min_gain=10.0)
    result = train(interactions, catalog, config, tmp_path)
    metrics = json.loads((result.model_dir / "metrics.json").read_text())
    ranker = metrics["ranker"]
    assert ranker["kept"] is False and "not kept" in ranker["reason"]
    assert ranker["retrieval"]["ndcg@10"] > 0 and ranker["reranked"]["ndcg@10"] > 0
    assert metrics["gate"]["metrics"]["ndcg_at_10"] == metrics["evaluation"]["ease_vae"]["ndcg@10"]
    assert "Ranking stage" in (result.model_dir / "model_card.md").read_text()
    assert not Recommender.load(result.model_dir).has_ranker
