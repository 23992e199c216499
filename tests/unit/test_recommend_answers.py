"""What a person reads in a recommendations answer: titles, reasons naming items by title, one score scale."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from shelfwise.aws import dynamodb
from shelfwise.ingest.activity import RecentEvent
from shelfwise.model_serving import ServedModel
from shelfwise.recommend import Recommender
from shelfwise.recommend.api_models import RecommendationsResponse, SimilarItemsResponse
from shelfwise.recommend.diversify import RerankConfig
from shelfwise.recommend.popularity import PopularItem
from shelfwise.recommend.service import CatalogTitles, RecommendationService, catalog_category, rank_score
from shelfwise_recommender.config import TrainConfig
from shelfwise_recommender.pipeline import train
from shelfwise_recommender.progress import Progress
from shelfwise_recommender.synthetic import planted_shop

NOW = 1_790_000_000.0
# planted_shop: item iN is in category cat(N % 4); "fresh" is in the catalog but new to the model.
CATEGORIES = {f"i{n}": f"cat{n % 4}" for n in range(100)} | {"fresh": "cat2"}
# i7 is left out of the catalog's titles on purpose: an item without a title is named by its id.
TITLES = {item_id: f"Title of {item_id}" for item_id in CATEGORIES if item_id != "i7"}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    interactions, catalog = planted_shop(n_users=200, n_items=100)
    config = replace(TrainConfig(), rank=16, l2=20.0)
    return Path(train(interactions, catalog, config, tmp_path_factory.mktemp("m"), Progress()).model_dir)


@pytest.fixture(scope="module")
def model(model_dir: Path) -> ServedModel[Recommender]:
    recommender = Recommender.load(model_dir, rerank=RerankConfig())
    return ServedModel(version=recommender.version, model=recommender, source="registry")


class Catalog:
    """The catalog's titles as the service reads them, counting the reads."""

    def __init__(self) -> None:
        self.reads: list[list[str]] = []

    def __call__(self, item_ids: Collection[str]) -> dict[str, str | None]:
        self.reads.append(list(item_ids))
        return {item_id: TITLES.get(item_id) for item_id in item_ids}


def service(
    served: ServedModel[Recommender] | None,
    catalog: Catalog | None = None,
    recent: dict[str, list[RecentEvent]] | None = None,
) -> RecommendationService:
    return RecommendationService(
        model=lambda: served,
        recent_events=lambda user_id: (recent or {}).get(user_id, []),
        trending=lambda: [PopularItem(f"i{n}", 100.0 - n, f"cat{n % 4}") for n in range(40)],
        catalog_category=lambda item_id: CATEGORIES.get(item_id, False),
        merge_events=lambda batch: (0, 0),
        store_events=lambda batch: "",
        now=lambda: NOW,
        titles=catalog or Catalog(),
    )


def test_items_carry_their_title_and_reasons_name_items_by_title(model: ServedModel) -> None:
    recent = {
        "new-user": [
            RecentEvent("i2", "view", int(NOW) - 60),
            RecentEvent("i6", "purchase", int(NOW) - 120),
            RecentEvent("i10", "cart", int(NOW) - 180),
        ]
    }
    response = service(model, recent=recent).recommend("new-user", k=8)
    assert response.strategy == "personalized"
    for item in response.items:
        assert item.title == TITLES[item.item_id]
        [source] = item.reason_item_ids
        assert source in {"i2", "i6", "i10"}
    assert {item.reason for item in response.items} <= {
        "because you viewed Title of i2",
        "because you bought Title of i6",
        "because you added Title of i10 to your cart",
    }


def test_an_item_missing_from_the_catalog_has_a_null_title_and_is_named_by_id(model: ServedModel) -> None:
    recent = {"fan-of-7": [RecentEvent("i7", "view", int(NOW) - 60)]}
    response = service(model, recent=recent).recommend("fan-of-7", k=5)
    assert response.items and {item.reason for item in response.items} == {"because you viewed i7"}
    assert {tuple(item.reason_item_ids) for item in response.items} == {("i7",)}
    similar = service(model).similar("i3", k=60)
    assert [item.title for item in similar.items if item.item_id == "i7"] == [None]
    assert similar.title == "Title of i3" and similar.items[0].reason == "similar to Title of i3"
    assert {tuple(item.reason_item_ids) for item in similar.items} == {("i3",)}


def test_titles_for_a_whole_answer_are_read_at_once(model: ServedModel) -> None:
    catalog = Catalog()
    response = service(model, catalog).recommend("u5", k=10)
    assert len(catalog.reads) == 1
    named = {source for item in response.items for source in item.reason_item_ids}
    assert set(catalog.reads[0]) == {item.item_id for item in response.items} | named
    catalog.reads.clear()
    similar = service(model, catalog).similar("i2", k=10)
    assert len(catalog.reads) == 1 and set(catalog.reads[0]) == {"i2"} | {i.item_id for i in similar.items}


def answers(model: ServedModel) -> Iterator[tuple[str, RecommendationsResponse | SimilarItemsResponse]]:
    """One answer from every ranker, as the API gives them."""
    yield "personalized", service(model).recommend("u5", k=10)
    yield "popular", service(model).recommend("nobody", k=10)
    yield "popular", service(model).recommend("nobody", k=7, category="cat3")
    yield "trending", service(None).recommend("nobody", k=10)
    yield "trending", service(None).recommend("nobody", k=5, category="cat1")
    yield "similar_items", service(model).similar("i2", k=10)
    yield "popular", service(model).similar("fresh", k=6)  # new to the model: popular in its category
    yield "trending", service(None).similar("i2", k=4)


def test_every_strategy_scores_on_one_scale_in_list_order(model: ServedModel) -> None:
    for strategy, response in answers(model):
        scores = [item.score for item in response.items]
        assert response.strategy == strategy
        assert scores, strategy
        assert scores[0] == 1.0 and all(0.0 < score <= 1.0 for score in scores), (strategy, scores)
        assert all(a > b for a, b in pairwise(scores)), (strategy, scores)
        assert scores == [rank_score(position, len(scores)) for position in range(len(scores))]


def test_a_diversified_list_keeps_its_scores_in_list_order(model_dir: Path) -> None:
    plain = Recommender.load(model_dir, rerank=RerankConfig())
    mixed = Recommender.load(model_dir, rerank=RerankConfig(method="mmr", weight=0.7))
    answers = [
        service(ServedModel(version=m.version, model=m, source="registry")).recommend("u5", k=10)
        for m in (plain, mixed)
    ]
    assert [i.item_id for i in answers[0].items] != [i.item_id for i in answers[1].items]
    for answer in answers:
        assert [item.score for item in answer.items] == [rank_score(n, 10) for n in range(10)]


def test_rank_score_runs_from_one_down_to_one_over_n() -> None:
    assert [rank_score(position, 4) for position in range(4)] == [1.0, 0.75, 0.5, 0.25]
    assert rank_score(0, 1) == 1.0


@pytest.fixture
def catalog_table(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        boto3.resource("dynamodb").create_table(
            TableName="catalog",
            KeySchema=[{"AttributeName": "item_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "item_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        items = [{"item_id": f"sku-{n}", "title": f"Product {n}"} for n in range(250)]
        items += [{"item_id": "untitled", "category": "bags"}, {"item_id": "blank", "title": "  "}]
        dynamodb.batch_put("catalog", items, key_names=["item_id"])
        yield "catalog"


def test_catalog_titles_read_in_batches_and_missing_items_are_none(catalog_table: str) -> None:
    titles = CatalogTitles(catalog_table)
    wanted = [f"sku-{n}" for n in range(250)] + ["untitled", "blank", "not-in-catalog"]
    found = titles(wanted)
    assert found == {f"sku-{n}": f"Product {n}" for n in range(250)} | {
        "untitled": None,
        "blank": None,
        "not-in-catalog": None,
    }


def test_catalog_titles_are_cached_for_their_time_to_live(catalog_table: str) -> None:
    moment = [0.0]
    titles = CatalogTitles(catalog_table, ttl_seconds=60.0, clock=lambda: moment[0])
    assert titles(["sku-1", "new-item"]) == {"sku-1": "Product 1", "new-item": None}
    dynamodb.table(catalog_table).put_item(Item={"item_id": "sku-1", "title": "Renamed"})
    dynamodb.table(catalog_table).put_item(Item={"item_id": "new-item", "title": "Just landed"})
    moment[0] = 59.0
    assert titles(["sku-1", "new-item"]) == {"sku-1": "Product 1", "new-item": None}
    moment[0] = 61.0
    assert titles(["sku-1", "new-item"]) == {"sku-1": "Renamed", "new-item": "Just landed"}


def test_catalog_titles_cache_stays_bounded(catalog_table: str) -> None:
    titles = CatalogTitles(catalog_table, max_entries=10)
    titles([f"sku-{n}" for n in range(50)])
    dynamodb.table(catalog_table).put_item(Item={"item_id": "sku-0", "title": "Changed"})
    # sku-0 was evicted (only the 10 newest entries are kept), so it is read again.
    assert titles(["sku-0", "sku-49"]) == {"sku-0": "Changed", "sku-49": "Product 49"}


def test_catalog_category_tells_a_missing_item_from_one_without_a_category(catalog_table: str) -> None:
    lookup = catalog_category(catalog_table)
    dynamodb.table(catalog_table).put_item(Item={"item_id": "jacket", "category": "outerwear"})
    assert [lookup(item_id) for item_id in ("jacket", "untitled", "sku-1", "nowhere")] == [
        "outerwear",
        "bags",
        None,
        False,
    ]
