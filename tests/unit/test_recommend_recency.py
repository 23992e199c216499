"""Events newer than the model weigh more, by a boost the job chose on a time-ordered carve of its data."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest
from shelfwise.ingest.activity import RecentEvent
from shelfwise.model_serving import ServedModel
from shelfwise.recommend import EventWeighting, Recommender
from shelfwise.recommend.service import RecommendationService
from shelfwise_recommender.config import TrainConfig
from shelfwise_recommender.pipeline import train
from shelfwise_recommender.progress import Progress
from shelfwise_recommender.recency import boosted_profiles, pick_boost, time_ordered_carve
from shelfwise_recommender.synthetic import planted_shop

DAY = 86_400.0
# uN shops in cat(N % 4); the newest quarter of their items come from cat(N % 4 + 1): tastes move.
SHOP = planted_shop(n_users=200, n_items=100, per_user=20, drift=0.25)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Recommender, dict]:
    interactions, catalog = SHOP
    config = replace(TrainConfig(), rank=16, l2=20.0, ranker="off")
    result = train(interactions, catalog, config, tmp_path_factory.mktemp("m"), Progress())
    return Recommender.load(result.model_dir), result.metrics


def category(item_id: str) -> int:
    return int(item_id[1:]) % 4


def answer(model: Recommender, user_id: str, recent: list[RecentEvent]) -> list[str]:
    service = RecommendationService(
        model=lambda: ServedModel(version=model.version, model=model, source="registry"),
        recent_events=lambda requested: recent if requested == user_id else [],
        trending=list,
        catalog_category=lambda item_id: None,
        merge_events=lambda batch: (0, 0),
        store_events=lambda batch: "",
        now=lambda: 4_000_000_000.0,
    )
    return [item.item_id for item in service.recommend(user_id, k=10).items]


def test_the_job_chooses_the_boost_on_validation_and_serving_reads_it(
    trained: tuple[Recommender, dict],
) -> None:
    model, metrics = trained
    recency = metrics["recency"]
    table = recency["validation"]
    assert set(table) == {f"{boost:g}" for boost in TrainConfig().recency_boosts}
    assert recency["users_evaluated"] == 200
    # Tastes move in this shop, so the newest events predict the held-out ones better than the old history.
    assert recency["boost"] > 1.0
    assert table[f"{recency['boost']:g}"] > table["1"]
    assert table[f"{recency['boost']:g}"] == max(table.values())
    assert model.weighting.recency_boost == recency["boost"]


def test_a_new_event_moves_the_next_recommendations_more_with_the_boost_and_history_still_counts(
    trained: tuple[Recommender, dict],
) -> None:
    model, _ = trained
    snapshot = model.weighting.reference_time
    assert snapshot is not None
    unboosted = Recommender.load(model.model_dir)
    unboosted.weighting = replace(model.weighting, recency_boost=1.0)
    # u5 shopped cat1, lately cat2; a day after the model was trained they look at a cat3 item.
    looked = [RecentEvent("i3", "view", int(snapshot + DAY))]
    before = answer(model, "u5", [])
    boosted = answer(model, "u5", looked)
    plain = answer(unboosted, "u5", looked)
    alone = [
        result.item_id
        for result in model.recommend(
            model.weighting.item_weights(looked, snapshot + DAY), k=10, exclude=model.training_items("u5")
        )
    ]
    new_category = [sum(category(item) == 3 for item in items) for items in (before, plain, boosted, alone)]
    assert new_category[2] > new_category[1] >= new_category[0]
    # The long-term profile still counts: cat1 and cat2 keep places the look alone would give to cat3.
    history_places = sum(category(item) in (1, 2) for item in boosted)
    assert history_places >= 3
    assert history_places > sum(category(item) in (1, 2) for item in alone)
    assert "i3" not in boosted and not set(model.training_items("u5")) & set(boosted)


def test_only_events_newer_than_the_model_are_boosted() -> None:
    weighting = EventWeighting(
        {"view": 0.25, "purchase": 1.0}, None, reference_time=100 * DAY, recency_boost=4.0
    )
    training = [("a", 1.0), ("b", 0.25)]
    # b's view was trained on (before the snapshot): it stays at its weight; c's view is new: 4 x 0.25.
    profile, changed = weighting.profile(training, [("b", "view", 99 * DAY), ("c", "view", 101 * DAY)])
    assert changed and dict(profile) == pytest.approx({"a": 1.0, "b": 0.25, "c": 1.0})
    profile, changed = weighting.profile(training, [("b", "view", 99 * DAY)])
    assert not changed and dict(profile) == pytest.approx({"a": 1.0, "b": 0.25})
    # A model that recorded no boost weighs new events as the job weighs any event.
    legacy = EventWeighting.from_manifest({"event_weights": {"view": 0.25}, "reference_time": 100 * DAY})
    assert legacy.recency_boost == 1.0


def test_the_carve_keeps_each_users_time_order() -> None:
    pairs = pd.DataFrame(
        {
            "user_id": ["u"] * 20 + ["v"] * 4,
            "item_id": [f"i{n}" for n in range(20)] + ["a", "b", "c", "d"],
            "confidence": 1.0,
            "timestamp": [float(20 - n) for n in range(20)] + [1.0, 2.0, 3.0, 4.0],
        }
    )
    carve = time_ordered_carve(pairs, new_fraction=0.15, holdout_fraction=0.25)
    u_history = set(carve.history.loc[carve.history["user_id"] == "u", "item_id"])
    assert u_history == {f"i{n}" for n in range(8, 20)}  # the oldest 12 of 20
    assert set(carve.new.loc[carve.new["user_id"] == "u", "item_id"]) == {"i5", "i6", "i7"}
    assert set(carve.holdout.loc[carve.holdout["user_id"] == "u", "item_id"]) == {
        "i0",
        "i1",
        "i2",
        "i3",
        "i4",
    }
    assert list(carve.holdout.loc[carve.holdout["user_id"] == "v", "item_id"]) == ["d"]
    profile = boosted_profiles(carve.history, carve.new, 3.0).set_index(["user_id", "item_id"])["confidence"]
    assert profile[("u", "i5")] == 3.0 and profile[("u", "i19")] == 1.0


def test_a_larger_boost_must_clearly_beat_a_smaller_one() -> None:
    assert pick_boost([1.0, 2.0, 4.0], [0.20, 0.2003, 0.2002]) == 1.0
    assert pick_boost([1.0, 2.0, 4.0], [0.20, 0.21, 0.25]) == 4.0
    assert pick_boost([4.0, 1.0, 2.0], [0.19, 0.20, 0.18]) == 1.0
