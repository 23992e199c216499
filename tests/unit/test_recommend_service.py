"""Recommendations logic: fold-in of live events, exclusions, reasons, and every fallback."""

from __future__ import annotations

from dataclasses import replace

import pytest
from shelfwise.api.errors import NotFound
from shelfwise.ingest.activity import RecentEvent
from shelfwise.model_serving import ServedModel
from shelfwise.recommend import Recommender
from shelfwise.recommend.api_models import BehaviourEvent, EventBatch
from shelfwise.recommend.popularity import PopularItem, rank_items
from shelfwise.recommend.service import RecommendationService
from shelfwise_recommender.config import TrainConfig
from shelfwise_recommender.pipeline import train
from shelfwise_recommender.progress import Progress
from shelfwise_recommender.synthetic import planted_shop

NOW = 1_790_000_000.0
CATALOG = {f"i{n}": f"cat{n % 4}" for n in range(100)} | {"fresh": "cat2"}


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ServedModel[Recommender]:
    # planted_shop: user uN shops in category cat(N % 4); item iN is in cat(N % 4).
    interactions, catalog = planted_shop(n_users=200, n_items=100)
    result = train(
        interactions,
        catalog,
        replace(TrainConfig(), rank=16, l2=20.0),
        tmp_path_factory.mktemp("m"),
        Progress(),
    )
    recommender = Recommender.load(result.model_dir)
    return ServedModel(version=recommender.version, model=recommender, source="registry")


class Fakes:
    def __init__(self) -> None:
        self.recent: dict[str, list[RecentEvent]] = {}
        self.trending = [PopularItem(f"i{n}", 100.0 - n, f"cat{n % 4}") for n in range(40)]
        self.stored: list[EventBatch] = []
        self.calls: list[str] = []
        self.out_of_stock: frozenset[str] = frozenset()

    def service(self, served: ServedModel[Recommender] | None) -> RecommendationService:
        def merge(batch: EventBatch) -> tuple[int, int]:
            self.calls.append("merge")
            return len(batch.events), len({event.user_id for event in batch.events})

        def store(batch: EventBatch) -> str:
            self.calls.append("store")
            self.stored.append(batch)
            return "incoming/interactions/api/x.csv"

        return RecommendationService(
            model=lambda: served,
            recent_events=lambda user_id: self.recent.get(user_id, []),
            trending=lambda: self.trending,
            catalog_category=lambda item_id: CATALOG.get(item_id, False),
            merge_events=merge,
            store_events=store,
            out_of_stock=lambda: self.out_of_stock,
            now=lambda: NOW,
        )


def category(item_id: str) -> str:
    return CATALOG[item_id]


def test_a_known_user_without_recent_activity_is_scored_from_training(model: ServedModel) -> None:
    response = Fakes().service(model).recommend("u5", k=10)
    assert response.model_version == model.version
    assert len(response.items) == 10
    assert all(item.reason.startswith("because you interacted with ") for item in response.items)
    assert sum(category(item.item_id) == "cat1" for item in response.items) >= 7


def test_recent_events_steer_an_unknown_user_and_the_reason_names_them(model: ServedModel) -> None:
    fakes = Fakes()
    fakes.recent["new-user"] = [
        RecentEvent("i2", "view", int(NOW) - 60),
        RecentEvent("i6", "purchase", int(NOW) - 120),
        RecentEvent("i10", "cart", int(NOW) - 180),
    ]
    response = fakes.service(model).recommend("new-user", k=8)
    returned = [item.item_id for item in response.items]
    assert len(returned) == 8
    assert not {"i2", "i6", "i10"} & set(returned)  # already interacted with: left out by default
    assert sum(category(item) == "cat2" for item in returned) >= 6
    reasons = {item.reason for item in response.items}
    assert reasons <= {"because you viewed i2", "because you bought i6", "because you added i10 to your cart"}


def test_seen_items_come_back_when_asked_and_excluded_ids_never(model: ServedModel) -> None:
    fakes = Fakes()
    fakes.recent["shopper"] = [
        RecentEvent("i2", "purchase", int(NOW)),
        RecentEvent("i6", "purchase", int(NOW)),
    ]
    service = fakes.service(model)
    with_seen = [item.item_id for item in service.recommend("shopper", k=60, include_seen=True).items]
    assert {"i2", "i6"} <= set(with_seen)
    excluded = {"i10", "i14", "i18"}
    returned = {item.item_id for item in service.recommend("shopper", k=30, exclude=excluded).items}
    assert not returned & (excluded | {"i2", "i6"})


def test_out_of_stock_items_are_never_offered_unless_asked_for(model: ServedModel) -> None:
    fakes = Fakes()
    service = fakes.service(model)
    personal = [item.item_id for item in service.recommend("u5", k=10).items]
    similar = [item.item_id for item in service.similar("i2", k=8).items]
    popular = [item.item_id for item in service.recommend("nobody", k=5).items]
    trending = [item.item_id for item in fakes.service(None).recommend("nobody", k=5).items]
    sold_out = {personal[0], personal[3], similar[0], popular[0], trending[1]}
    fakes.out_of_stock = frozenset(sold_out)
    for response in (
        service.recommend("u5", k=10),
        service.similar("i2", k=8),
        service.recommend("nobody", k=5),
        fakes.service(None).recommend("nobody", k=5),
    ):
        returned = [item.item_id for item in response.items]
        assert not sold_out & set(returned)
        assert len(returned) == len(set(returned)) and len(returned) in {5, 8, 10}
    # The stock filter can be switched off; the answer is then the unfiltered one.
    assert [item.item_id for item in service.recommend("u5", k=10, in_stock=False).items] == personal
    assert [item.item_id for item in service.similar("i2", k=8, in_stock=False).items] == similar


def test_a_user_with_no_history_gets_popular_items_saying_so(model: ServedModel) -> None:
    service = Fakes().service(model)
    response = service.recommend("nobody", k=5)
    assert len(response.items) == 5
    assert {item.reason for item in response.items} == {"popular right now (no history yet)"}
    in_category = service.recommend("nobody", k=5, category="cat3")
    assert {item.reason for item in in_category.items} == {"popular in cat3"}
    assert {category(item.item_id) for item in in_category.items} == {"cat3"}


def test_category_filter_applies_to_personal_recommendations(model: ServedModel) -> None:
    response = Fakes().service(model).recommend("u5", k=10, category="cat2")
    assert response.items and {category(item.item_id) for item in response.items} <= {"cat2"}
    assert Fakes().service(model).recommend("u5", k=10, category="no-such-category").items == []


def test_without_any_model_trending_items_answer(model: ServedModel) -> None:
    fakes = Fakes()
    fakes.recent["someone"] = [RecentEvent("i0", "view", int(NOW))]
    response = fakes.service(None).recommend("someone", k=4, category="cat0", exclude={"i4"})
    assert response.model_version is None
    assert [item.item_id for item in response.items] == ["i8", "i12", "i16", "i20"]
    assert {item.reason for item in response.items} == {"popular in cat0"}


def test_similar_items_use_the_embeddings(model: ServedModel) -> None:
    response = Fakes().service(model).similar("i2", k=8)
    assert response.model_version == model.version
    returned = [item.item_id for item in response.items]
    assert "i2" not in returned and len(returned) == 8
    assert sum(category(item) == "cat2" for item in returned) >= 6
    assert {item.reason for item in response.items} == {"similar to i2"}


def test_an_item_the_model_has_not_seen_gets_popular_items_of_its_category(model: ServedModel) -> None:
    response = Fakes().service(model).similar("fresh", k=5)
    assert {category(item.item_id) for item in response.items} == {"cat2"}
    assert {item.reason for item in response.items} == {"popular in cat2"}
    assert "fresh" not in {item.item_id for item in response.items}


def test_an_unknown_item_is_not_found_with_or_without_a_model(model: ServedModel) -> None:
    for served in (model, None):
        with pytest.raises(NotFound) as raised:
            Fakes().service(served).similar("no-such-item", k=5)
        assert raised.value.field == "path.item_id"


def test_events_are_stored_for_training_before_the_activity_merge(model: ServedModel) -> None:
    fakes = Fakes()
    batch = EventBatch(
        events=[
            BehaviourEvent(user_id="a", item_id="i1", event_type="view", timestamp=NOW),
            BehaviourEvent(user_id="b", item_id="i2", event_type="view", timestamp=NOW),
        ]
    )
    accepted = fakes.service(model).record_events(batch)
    assert (accepted.accepted, accepted.users) == (2, 2)
    assert fakes.calls == ["store", "merge"]


def test_trending_counts_each_user_once_per_item_and_prefers_recent_and_strong_events() -> None:
    day = 86_400
    histories = [
        [RecentEvent("old", "purchase", int(NOW) - 60 * day)],
        [RecentEvent("new", "purchase", int(NOW)), RecentEvent("new", "view", int(NOW) - 10)],
        [RecentEvent("viewed", "view", int(NOW))],
        [RecentEvent("new", "view", int(NOW))],
    ]
    ranked = dict(rank_items(histories, NOW))
    assert ranked["new"] == pytest.approx(1.25)
    assert ranked["new"] > ranked["viewed"] > ranked["old"]
