"""The recommender training library: weighting, split, metrics, models and the job entrypoint."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from shelfwise.recommend import Recommender
from shelfwise_recommender import job as train_entrypoint
from shelfwise_recommender.config import TrainConfig, WeightingConfig
from shelfwise_recommender.data import (
    InteractionMatrix,
    TrainingDataError,
    event_confidences,
    training_rows,
)
from shelfwise_recommender.evaluate import evaluate_model
from shelfwise_recommender.metrics import (
    average_precision_at_k,
    average_precision_full_at_k,
    ndcg_at_k,
    precision_at_k,
    ranking_report,
    recall_at_k,
)
from shelfwise_recommender.models import EaseLowRank, Ials, Popularity
from shelfwise_recommender.pipeline import model_kind, serving_rank, train
from shelfwise_recommender.progress import Progress
from shelfwise_recommender.split import stratified_user_split
from shelfwise_recommender.synthetic import planted_shop


def test_metrics_match_hand_computed_values() -> None:
    recommended = ["a", "b", "c", "d"]
    relevant = {"a", "c", "x"}
    assert precision_at_k(recommended, relevant, 4) == pytest.approx(0.5)
    assert recall_at_k(recommended, relevant, 4) == pytest.approx(2 / 3)
    dcg = 1.0 + 1.0 / math.log2(4)
    ideal = 1.0 + 1.0 / math.log2(3) + 1.0 / math.log2(4)
    assert ndcg_at_k(recommended, relevant, 4) == pytest.approx(dcg / ideal)
    # Hits at ranks 1 and 3: precisions 1/1 and 2/3.
    assert average_precision_at_k(recommended, relevant, 4) == pytest.approx((1 + 2 / 3) / 3)
    assert average_precision_at_k(recommended, relevant, 2) == pytest.approx(1 / 2)
    assert average_precision_full_at_k(recommended, relevant, 2) == pytest.approx(1 / 3)


def test_ranking_report_skips_users_without_held_out_items_and_measures_coverage() -> None:
    report = ranking_report(
        {"u1": ["a", "b"], "u2": ["a", "c"], "u3": ["d", "e"]},
        {"u1": {"a"}, "u2": {"z"}, "u3": set()},
        2,
        item_popularity={"a": 0.5, "b": 0.25, "c": 0.25},
        n_catalog_items=10,
    )
    assert report["users_evaluated"] == 2
    assert report["precision@2"] == pytest.approx(0.25)
    assert report["ndcg@2"] == pytest.approx(0.5)
    assert report["catalog_coverage"] == pytest.approx(0.3)
    assert report["novelty_bits"] == pytest.approx((1 + 2 + 1 + 2) / 4)
    # Of the three known items, a is more popular than two (2/3) and b, c than none.
    assert report["mean_popularity_percentile"] == pytest.approx((2 / 3 + 0 + 2 / 3 + 0) / 4)


def test_purchases_outweigh_carts_outweigh_views_and_old_events_decay() -> None:
    day = 86_400
    events = pd.DataFrame(
        {
            "user_id": ["u"] * 5,
            "item_id": ["viewed", "carted", "bought", "bought", "old"],
            "event_type": ["view", "cart", "purchase", "view", "purchase"],
            "timestamp": [100 * day, 100 * day, 100 * day, 100 * day, 70 * day],
        }
    )
    pairs = event_confidences(events, WeightingConfig(half_life_days=30.0)).set_index("item_id")["confidence"]
    assert pairs["bought"] > pairs["carted"] > pairs["viewed"]
    assert pairs["bought"] == pytest.approx(1.0)  # a pair keeps its strongest event, views do not add up
    assert pairs["old"] == pytest.approx(0.5)  # exactly one half-life older than the newest event


def test_interactions_without_required_columns_are_rejected_with_the_column_name() -> None:
    with pytest.raises(TrainingDataError, match="event_type"):
        event_confidences(
            pd.DataFrame({"user_id": ["u"], "item_id": ["i"], "timestamp": [1]}), WeightingConfig()
        )


def test_stratified_split_keeps_every_user_on_both_sides_and_is_reproducible() -> None:
    interactions, _ = planted_shop(n_users=50, per_user=8)
    pairs = event_confidences(interactions, WeightingConfig())
    train_pairs, test_pairs = stratified_user_split(pairs, 0.25, seed=42)
    assert len(train_pairs) + len(test_pairs) == len(pairs)
    assert set(train_pairs["user_id"]) == set(test_pairs["user_id"]) == set(pairs["user_id"])
    assert (test_pairs.groupby("user_id").size() == 2).all()
    again, _ = stratified_user_split(pairs, 0.25, seed=42)
    pd.testing.assert_frame_equal(train_pairs, again)
    merged = train_pairs.merge(test_pairs, on=["user_id", "item_id"])
    assert merged.empty


def test_items_a_user_had_close_together_in_time_weigh_more_than_items_far_apart() -> None:
    # One user with eight items in time order: the windows (4 items, overlapping by 2) add co-occurrence
    # mass to neighbours in time, and none to the two ends of the history.
    history = [f"i{n}" for n in range(8)]
    pairs = pd.DataFrame(
        {"user_id": "u", "item_id": history, "confidence": 1.0, "timestamp": [float(n) for n in range(8)]}
    )
    matrix = InteractionMatrix.from_confidences(pairs)
    assert training_rows(pairs, matrix, window=0, weight=1.0) is matrix.matrix
    rows = training_rows(pairs, matrix, window=4, weight=1.0)
    assert rows.shape == (1 + 4, 8)  # the user, then windows starting at items 0, 2, 4 and 6
    assert (rows[0] != matrix.matrix[0]).nnz == 0
    gram = (rows.T @ rows).toarray()
    column = {item: index for index, item in enumerate(matrix.item_ids)}
    neighbours = gram[column["i2"], column["i3"]]
    far_apart = gram[column["i0"], column["i7"]]
    assert neighbours > far_apart == pytest.approx(1.0)
    # Together the windows add `weight` times the user's own mass (the first half-window sits in one only).
    assert gram[column["i3"], column["i3"]] == pytest.approx(2.0)
    assert gram[column["i0"], column["i0"]] == pytest.approx(1.5)


def test_large_catalogs_get_fewer_dimensions_so_serving_stays_within_its_latency_budget() -> None:
    config = TrainConfig()
    assert serving_rank(config, 1_682) == config.rank == 512
    # The Mult-VAE's 301 dimensions share the 64 MB budget while it is used (up to vae_max_items).
    wide = replace(config, rank=2048)
    assert model_kind(wide, 50_000) == "ease_vae"
    assert serving_rank(wide, 50_000) == 64_000_000 // 50_000 - 301
    assert serving_rank(replace(wide, model="ease_lowrank"), 50_000) == 64_000_000 // 50_000
    assert model_kind(config, 50_001) == "ease_lowrank"
    assert serving_rank(config, 1_000_000) == 64
    assert serving_rank(config, 100_000_000) == 16


def test_ease_lowrank_beats_popularity_on_held_out_items_with_planted_structure() -> None:
    interactions, _ = planted_shop()
    pairs = event_confidences(interactions, WeightingConfig(half_life_days=None))
    train_pairs, test_pairs = stratified_user_split(pairs, 0.25, seed=42)
    matrix = InteractionMatrix.from_confidences(train_pairs)
    popularity = evaluate_model(Popularity(), matrix, test_pairs, k=10).metrics
    learned = evaluate_model(EaseLowRank(l2=20.0, rank=16), matrix, test_pairs, k=10).metrics
    assert learned["ndcg@10"] > popularity["ndcg@10"] * 1.2
    assert learned["recall@10"] > popularity["recall@10"]
    assert learned["catalog_coverage"] > popularity["catalog_coverage"]


def test_training_job_writes_one_version_directory_that_fingerprints_every_file(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    interactions, catalog = planted_shop(n_users=120, n_items=60)
    config = replace(TrainConfig(), l2=20.0, rank=16)
    result = train(interactions, catalog, config, tmp_path, Progress())
    assert list(tmp_path.iterdir()) == [result.model_dir]
    manifest = json.loads((result.model_dir / "manifest.json").read_text())
    assert manifest["model_name"] == "recommender"
    assert manifest["version"] == result.model_dir.name
    assert datetime.fromisoformat(manifest["created_at"]).utcoffset() == timedelta(0)
    on_disk = {path.name for path in result.model_dir.iterdir()} - {"manifest.json"}
    assert set(manifest["files"]) == on_disk
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((result.model_dir / name).read_bytes()).hexdigest() == digest, name
    assert set(manifest["artifacts"].values()) <= on_disk
    metrics = json.loads((result.model_dir / "metrics.json").read_text())
    assert metrics["evaluation"]["ease_vae"]["ndcg@10"] > metrics["evaluation"]["popularity"]["ndcg@10"]
    assert metrics["scorer_recall_vs_exact"] >= 0.9
    gate = metrics["gate"]
    assert gate["comparable_key"] == "recommender-v1"
    assert set(gate["metrics"]) == {"ndcg_at_10", "recall_at_10", "ndcg_lift_over_popularity"}
    assert gate["metrics"]["ndcg_at_10"] == metrics["evaluation"]["ease_vae"]["ndcg@10"]
    assert gate["metrics"]["ndcg_lift_over_popularity"] > 1.0
    for name in ("map@10", "catalog_coverage", "novelty_bits", "mean_popularity_percentile"):
        assert name in metrics["evaluation"]["ease_vae"], name
    # Coverage, exposure and diversity travel with the gate for the registry, and floors can apply to them.
    reported = gate["reported"]
    for name in (
        "catalog_coverage",
        "exposure_gini",
        "intra_list_diversity",
        "popularity_bias",
        "category_max_exposure_vs_catalog",
        "category_share_exposed",
    ):
        assert reported[name] == metrics["evaluation"]["ease_vae"][name], name
    # The planted shop has one brand for every item, and the model reaches further into the catalog than
    # popularity does.
    assert reported["brand_share_exposed"] == 1.0
    popularity = metrics["evaluation"]["popularity"]
    assert reported["exposure_gini"] < popularity["exposure_gini"]
    assert reported["popularity_bias"] < popularity["popularity_bias"]
    card = (result.model_dir / "model_card.md").read_text()
    assert "ease_vae" in card and "recommender-v1" in card
    assert "## Exposure by brand and category" in card and "| cat0 |" in card and "| acme |" in card
    assert "[step" in capsys.readouterr().out


@pytest.mark.parametrize("n_users", [1, 5, 20])
def test_tiny_shops_still_get_a_model_and_the_metrics_say_why_there_is_no_gate(
    tmp_path: Path, n_users: int
) -> None:
    interactions, catalog = planted_shop(n_users=n_users, n_items=8, per_user=3)
    result = train(interactions, catalog, replace(TrainConfig(), l2=5.0), tmp_path, Progress())
    metrics = json.loads((result.model_dir / "metrics.json").read_text())
    if n_users < 20:
        assert metrics["gate"]["metrics"] == {}
        assert "users" in metrics["gate"]["skipped"] and metrics["holdout"]["skipped"]
    else:
        assert metrics["gate"]["metrics"]["ndcg_at_10"] >= 0.0
    # Far too few held-out positives to judge a ranking stage: it is left out, and the metrics say why.
    assert metrics["ranker"]["kept"] is False and metrics["ranker"]["reason"]
    assert "ranker" not in json.loads((result.model_dir / "manifest.json").read_text())
    model = Recommender.load(result.model_dir)
    assert len(model.recommend("u0", k=3)) == 3


def test_a_shop_where_nobody_has_two_items_is_not_evaluated_but_still_trained(tmp_path: Path) -> None:
    interactions = pd.DataFrame(
        {
            "user_id": [f"u{user}" for user in range(30)],
            "item_id": [f"i{user % 6}" for user in range(30)],
            "event_type": "purchase",
            "value": 1.0,
            "timestamp": pd.Timestamp("2025-03-01", tz="UTC"),
        }
    )
    result = train(interactions, pd.DataFrame(), TrainConfig(), tmp_path, Progress())
    metrics = json.loads((result.model_dir / "metrics.json").read_text())
    assert "nothing can be held out" in metrics["gate"]["skipped"]
    assert [rec.item_id for rec in Recommender.load(result.model_dir).recommend("nobody", k=2)]


def test_entrypoint_reads_channels_and_reports_failures_in_the_failure_file(tmp_path: Path) -> None:
    interactions, catalog = planted_shop(n_users=60, n_items=40)
    (tmp_path / "interactions").mkdir()
    (tmp_path / "catalog").mkdir()
    interactions.to_parquet(tmp_path / "interactions" / "part-1.parquet")
    catalog.to_csv(tmp_path / "catalog" / "catalog.csv", index=False)
    args = [
        "--model-dir",
        str(tmp_path / "model"),
        "--failure-file",
        str(tmp_path / "failure"),
        "--rank",
        "8",
    ]
    channels = ["--interactions", str(tmp_path / "interactions"), "--catalog", str(tmp_path / "catalog")]
    assert train_entrypoint.main([*channels, *args]) == 0
    assert len(list((tmp_path / "model").iterdir())) == 1
    assert not (tmp_path / "failure").exists()

    empty = ["--interactions", str(tmp_path / "nothing"), "--catalog", str(tmp_path / "catalog")]
    assert train_entrypoint.main([*empty, *args]) == 1
    assert "no .parquet/.csv/.csv.gz files" in (tmp_path / "failure").read_text()


def test_ials_learns_the_planted_structure_and_exports_a_servable_model(tmp_path: Path) -> None:
    interactions, catalog = planted_shop(n_users=160, n_items=60)
    pairs = event_confidences(interactions, WeightingConfig(half_life_days=None))
    train_pairs, test_pairs = stratified_user_split(pairs, 0.25, seed=42)
    matrix = InteractionMatrix.from_confidences(train_pairs)
    popularity = evaluate_model(Popularity(), matrix, test_pairs, k=10).metrics
    ials = evaluate_model(Ials(16, 5.0, 5.0, 6), matrix, test_pairs, k=10).metrics
    assert ials["ndcg@10"] > popularity["ndcg@10"]
    config = replace(TrainConfig(), model="ials", ials_factors=16, ials_iterations=4)
    result = train(interactions, catalog, config, tmp_path, Progress())
    assert result.metrics["scorer_recall_vs_exact"] >= 0.9


def test_ease_lowrank_sparse_path_for_large_catalogs_ranks_like_the_dense_path() -> None:
    interactions, _ = planted_shop(n_users=200, n_items=80)
    matrix = InteractionMatrix.from_confidences(event_confidences(interactions, WeightingConfig()))
    dense = EaseLowRank(l2=20.0, rank=12).fit(matrix.matrix)
    sparse_model = EaseLowRank(l2=20.0, rank=12)
    sparse_model.dense_limit = 10  # force the truncated-SVD route a 1M-item catalog takes
    sparse_model.fit(matrix.matrix)
    users = matrix.matrix[:50]
    dense_top = set(map(tuple, (-dense.score(users)).argsort(axis=1)[:, :5]))
    sparse_top = set(map(tuple, (-sparse_model.score(users)).argsort(axis=1)[:, :5]))
    assert len(dense_top & sparse_top) >= 40
