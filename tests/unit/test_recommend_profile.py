"""A known user's query: the whole training profile plus what is new, each event counted once."""

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
from shelfwise_recommender.synthetic import planted_shop

DAY = 86_400.0
SHOP = planted_shop(n_users=200, n_items=100)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ServedModel[Recommender]:
    # planted_shop: user uN shops in category cat(N % 4); item iN is in cat(N % 4).
    interactions, catalog = SHOP
    result = train(
        interactions,
        catalog,
        replace(TrainConfig(), rank=16, l2=20.0),
        tmp_path_factory.mktemp("m"),
        Progress(),
    )
    recommender = Recommender.load(result.model_dir)
    return ServedModel(version=recommender.version, model=recommender, source="registry")


def service(served: ServedModel[Recommender], recent: dict[str, list[RecentEvent]]) -> RecommendationService:
    return RecommendationService(
        model=lambda: served,
        recent_events=lambda user_id: recent.get(user_id, []),
        trending=list,
        catalog_category=lambda item_id: None,
        merge_events=lambda batch: (0, 0),
        store_events=lambda batch: "",
        # Far after the training data: serving must not depend on the wall clock for a known user.
        now=lambda: 4_000_000_000.0,
    )


def trained_events(user_id: str) -> list[RecentEvent]:
    """The user's events exactly as ingestion writes them into the activity table, newest first."""
    rows = SHOP[0][SHOP[0]["user_id"] == user_id].sort_values("timestamp", ascending=False)
    return [
        RecentEvent(row.item_id, row.event_type, int(pd.Timestamp(row.timestamp).timestamp()))
        for row in rows.itertuples()
    ]


def items(response: object) -> list[str]:
    return [item.item_id for item in response.items]  # type: ignore[attr-defined]


def category(item_id: str) -> int:
    return int(item_id[1:]) % 4


def test_the_manifest_records_the_training_snapshot(model: ServedModel) -> None:
    newest = SHOP[0]["timestamp"].max().timestamp()
    assert model.model.weighting.reference_time == pytest.approx(newest)


def test_recent_events_the_model_was_trained_on_change_nothing(model: ServedModel) -> None:
    # Day one: ingestion wrote the user's newest events into the activity table; they are all in training.
    baseline = service(model, {}).recommend("u5", k=10)
    replayed = service(model, {"u5": trained_events("u5")[:3]}).recommend("u5", k=10)
    assert items(replayed) == items(baseline)
    assert [item.score for item in replayed.items] == [item.score for item in baseline.items]


def test_new_events_change_the_next_recommendations_without_losing_the_history(model: ServedModel) -> None:
    served = model.model
    snapshot = served.weighting.reference_time
    assert snapshot is not None
    # u5 shops in cat1; after training they buy three cat3 items.
    new = [RecentEvent(f"i{n}", "purchase", int(snapshot + DAY)) for n in (3, 7, 11)]
    recent = {"u5": new + trained_events("u5")[:3]}
    before = items(service(model, {}).recommend("u5", k=10))
    after_response = service(model, recent).recommend("u5", k=10)
    after = items(after_response)
    recent_only = [
        r.item_id for r in served.recommend(served.weighting.item_weights(new, snapshot + DAY), k=10)
    ]
    assert after != before
    assert sum(category(item) == 3 for item in after) > sum(category(item) == 3 for item in before)
    # The long-term profile still counts: the answer is not the one the new events alone would give.
    assert sum(category(item) == 1 for item in after) >= 3
    assert sum(category(item) == 1 for item in recent_only) < sum(category(item) == 1 for item in after)
    # Seen items stay out, old and new alike, and the reasons name the new events by their verb.
    seen = set(served.training_items("u5")) | {"i3", "i7", "i11"}
    assert not seen & set(after)
    reasons = {item.reason for item in after_response.items}
    assert reasons & {"because you bought i3", "because you bought i7", "because you bought i11"}


def test_a_user_the_model_does_not_know_is_folded_in_from_recent_events(model: ServedModel) -> None:
    snapshot = model.model.weighting.reference_time or 0.0
    events = [RecentEvent(f"i{n}", "purchase", int(snapshot)) for n in (2, 6, 10)]
    returned = items(service(model, {"newcomer": events}).recommend("newcomer", k=8))
    assert len(returned) == 8 and sum(category(item) == 2 for item in returned) >= 6


def test_profile_counts_each_event_once_on_the_jobs_clock() -> None:
    weighting = EventWeighting({"view": 0.25, "purchase": 1.0}, half_life_days=10.0, reference_time=100 * DAY)
    training = [("a", 1.0), ("b", 0.5)]
    # b's purchase 10 days before the snapshot is what the job weighed to 0.5: re-sent, it changes nothing.
    old = [("b", "purchase", 90 * DAY), ("b", "purchase", 90 * DAY), ("a", "view", 100 * DAY)]
    profile, changed = weighting.profile(training, old)
    assert not changed and dict(profile) == pytest.approx({"a": 1.0, "b": 0.5})
    # Ten days after the snapshot a view of c: everything else is ten days older now.
    profile, changed = weighting.profile(training, [*old, ("c", "view", 110 * DAY)])
    assert changed and dict(profile) == pytest.approx({"a": 0.5, "b": 0.25, "c": 0.25})
    # Without decay the profile is the training history plus the new items at their event weights.
    flat = EventWeighting({"view": 0.25, "purchase": 1.0}, half_life_days=None, reference_time=100 * DAY)
    profile, changed = flat.profile(training, [("c", "view", 500 * DAY), ("b", "purchase", 500 * DAY)])
    assert changed and dict(profile) == pytest.approx({"a": 1.0, "b": 1.0, "c": 0.25})
