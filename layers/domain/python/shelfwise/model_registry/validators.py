"""Smoke tests per model name: the version loads in onnxruntime and answers a query with sane output.

Each validator raises (any exception) when the version cannot serve; the registry records the message as the
rejection reason. Model libraries are imported only when their model is validated.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from shelfwise.model_registry.manifest import VersionInvalid

SMOKE_QUERY_SIZE = 10


def smoke_test_recommender(directory: Path) -> None:
    from shelfwise.recommend import Recommender

    model = Recommender.load(directory)
    if model.n_items < 1:
        raise VersionInvalid("the recommender has an empty catalog")
    popular = model.popular(k=SMOKE_QUERY_SIZE)
    if not popular:
        raise VersionInvalid("the recommender returns no popular items")
    anchor = popular[0].item_id
    history = [(item.item_id, 1.0) for item in popular[:3]]
    answers = {
        "popular": popular,
        "fold-in": model.recommend(history, k=SMOKE_QUERY_SIZE),
        "similar": model.similar(anchor, k=SMOKE_QUERY_SIZE),
    }
    expected = min(SMOKE_QUERY_SIZE, model.n_items - len(history))
    if model.n_items > len(history) and len(answers["fold-in"]) < expected:
        raise VersionInvalid(f"fold-in query returned {len(answers['fold-in'])} items, expected {expected}")
    for query, results in answers.items():
        for result in results:
            if not math.isfinite(result.score):
                raise VersionInvalid(f"{query} query returned a non-finite score for {result.item_id}")
            if not model.knows_item(result.item_id):
                raise VersionInvalid(f"{query} query returned {result.item_id}, which is not in the catalog")
        if len({result.item_id for result in results}) != len(results):
            raise VersionInvalid(f"{query} query returned the same item twice")


def smoke_test_chat(directory: Path) -> None:
    from shelfwise.chat.smoke import smoke_test

    smoke_test(directory)


VALIDATORS: dict[str, Callable[[Path], None]] = {
    "recommender": smoke_test_recommender,
    "chat": smoke_test_chat,
}


def smoke_test(model_name: str, directory: Path) -> None:
    validator = VALIDATORS.get(model_name)
    if validator is None:
        raise VersionInvalid(f"no validator for model {model_name!r}; known: {', '.join(sorted(VALIDATORS))}")
    validator(directory)
