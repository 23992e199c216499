"""`GET /v1/users/{user_id}/recommendations`, `GET /v1/items/{item_id}/similar`, `POST /v1/events`.

The recommender in service is the newest promoted version in the model registry, swapped in without a
redeploy (`shelfwise.model_serving`); before any training, trending items from the activity table answer.

Callers use the retailer's customer ids; the model, the activity table and everything logged know only their
keyed pseudonyms (`shelfwise.privacy`). The id is pseudonymized here, on the way in, and the response echoes
the caller's id. Posted events are kept for training as the caller sent them, under `incoming/` like any
upstream file, and ingestion pseudonymizes that file once.
"""

import re
from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from shelfwise.api.access import caller, require_customer
from shelfwise.api.http import create_resolver
from shelfwise.model_serving import ModelStore
from shelfwise.privacy.pseudonyms import pseudonymizer_from_env
from shelfwise.recommend import Recommender
from shelfwise.recommend.api_models import (
    EXCLUDE_MAX_IDS,
    ID_MAX_LENGTH,
    ID_PATTERN,
    K_MAX,
    BehaviourEvent,
    EventBatch,
    EventsAccepted,
    RecommendationsResponse,
    SimilarItemsResponse,
)
from shelfwise.recommend.live_activity import merge_batch, recent_events, store_batch
from shelfwise.recommend.popularity import TrendingItems
from shelfwise.recommend.service import CatalogTitles, RecommendationService, catalog_category
from shelfwise.settings import Settings
from shelfwise.stock import OutOfStock

logger, tracer, metrics = Logger(), Tracer(), Metrics()
app = create_resolver()

# Module level: a warm container keeps the loaded model and the trending list between invocations.
store: ModelStore[Recommender] = ModelStore(
    "recommender", Recommender.load, models_table=lambda: Settings.from_env().models_table
)


@cache
def _service() -> RecommendationService:
    settings = Settings.from_env()
    trending = TrendingItems(settings.user_activity_table, settings.catalog_table)
    return RecommendationService(
        model=store.current,
        recent_events=lambda user_id: recent_events(settings.user_activity_table, user_id),
        trending=trending.items,
        catalog_category=catalog_category(settings.catalog_table),
        merge_events=lambda batch: merge_batch(settings.user_activity_table, _pseudonymized(batch.events)),
        store_events=lambda batch: store_batch(settings.data_bucket, batch.events),
        out_of_stock=OutOfStock(settings.data_bucket).items,
        titles=CatalogTitles(settings.catalog_table),
    )


def _pseudonym(customer_id: str) -> str:
    return pseudonymizer_from_env()().pseudonym(customer_id)


def _pseudonymized(events: list[BehaviourEvent]) -> list[BehaviourEvent]:
    """The events as the activity table keeps them: under each customer's pseudonym."""
    return [event.model_copy(update={"user_id": _pseudonym(event.user_id)}) for event in events]


def _path_id(name: str, value: str) -> str:
    """API Gateway decodes path parameters; the router's capture is raw text, so validate the decoded one."""
    decoded = (app.current_event.path_parameters or {}).get(name, value)
    problem = _id_problem(decoded)
    if problem:
        raise RequestValidationError([{"loc": ("path", name), "msg": problem, "type": "value_error"}])
    return decoded


def _id_problem(value: str) -> str | None:

    if not 1 <= len(value) <= ID_MAX_LENGTH:
        return f"must be 1 to {ID_MAX_LENGTH} characters"
    if not re.match(ID_PATTERN, value):
        return "must not contain control characters or start or end with spaces"
    return None


def _exclude_ids(raw: str | None) -> list[str]:
    if not raw:
        return []
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    if len(ids) > EXCLUDE_MAX_IDS:
        raise RequestValidationError(
            [{"loc": ("query", "exclude"), "msg": f"at most {EXCLUDE_MAX_IDS} ids", "type": "value_error"}]
        )
    for item_id in ids:
        problem = _id_problem(item_id)
        if problem:
            raise RequestValidationError(
                [{"loc": ("query", "exclude"), "msg": f"{item_id[:40]!r}: {problem}", "type": "value_error"}]
            )
    return ids


K = Annotated[int, Query(ge=1, le=K_MAX, description=f"How many items, 1-{K_MAX}.")]
CATEGORY = Annotated[
    str | None,
    Query(
        min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN, description="Only items of this category."
    ),
]
IN_STOCK = Annotated[
    bool,
    Query(
        description="Leave out items the latest inventory files show with nothing on hand at any location "
        "(items no inventory file lists count as in stock); `false` includes them."
    ),
]
EXCLUDE = Annotated[
    str | None,
    Query(
        max_length=16_384,
        description=f"Comma-separated item ids never to return (at most {EXCLUDE_MAX_IDS}).",
    ),
]


@app.get(
    "/v1/users/<user_id>/recommendations",
    tags=["recommendations"],
    summary="Personalized recommendations for a user",
    description="Top-k items over the whole catalog for the user, reflecting events posted a moment ago. "
    "Items the user already interacted with are left out unless `include_seen=true`, out-of-stock items "
    "unless `in_stock=false`. Users with no history "
    "(or before any model is trained) get popular items, and the reason says so.",
)
# The response echoes the customer's id: kept out of traces like out of logs.
@tracer.capture_method(capture_response=False)
def get_recommendations(
    user_id: Annotated[str, Path(min_length=1, max_length=ID_MAX_LENGTH, description="The customer's id.")],
    k: K = 10,
    category: CATEGORY = None,
    exclude: EXCLUDE = None,
    include_seen: Annotated[bool, Query(description="Allow items the user already interacted with.")] = False,
    in_stock: IN_STOCK = True,
) -> RecommendationsResponse:
    user_id = _path_id("user_id", user_id)
    require_customer(app, [user_id], field="path.user_id")
    response = _service().recommend(
        _pseudonym(user_id),
        k=k,
        category=category,
        exclude=_exclude_ids(exclude),
        include_seen=include_seen,
        in_stock=in_stock,
    )
    metrics.add_metric(
        name="RecommendationsServed" if response.model_version else "FallbackRecommendationsServed",
        unit=MetricUnit.Count,
        value=1,
    )
    return response.model_copy(update={"user_id": user_id})


@app.get(
    "/v1/items/<item_id>/similar",
    tags=["recommendations"],
    summary="Items similar to an item",
    description="Nearest items by the recommender's item embeddings. An item in the catalog that the model "
    "has not seen yet gets the popular items of its category; an unknown item is a 404.",
)
@tracer.capture_method
def get_similar(
    item_id: Annotated[str, Path(min_length=1, max_length=ID_MAX_LENGTH, description="The item's id.")],
    k: K = 10,
    category: CATEGORY = None,
    exclude: EXCLUDE = None,
    in_stock: IN_STOCK = True,
) -> SimilarItemsResponse:
    item_id = _path_id("item_id", item_id)
    caller(app)
    return _service().similar(
        item_id, k=k, category=category, exclude=_exclude_ids(exclude), in_stock=in_stock
    )


@app.post(
    "/v1/events",
    tags=["recommendations"],
    summary="Record storefront events",
    description="A batch of 1-500 behaviour events, accepted whole or rejected whole: any invalid "
    "event gives a 422 naming it (`body.events.<n>.<field>`) and nothing is stored. Events update each "
    "user's recent activity at once (the next recommendation reflects them) and are kept for training. "
    "Sending the same batch again is safe: events already recorded are not counted twice.",
)
@tracer.capture_method
def post_events(batch: Annotated[EventBatch, Body()]) -> EventsAccepted:
    for index, event in enumerate(batch.events):
        require_customer(app, [event.user_id], field=f"body.events.{index}.user_id")
    accepted = _service().record_events(batch)
    metrics.add_metric(name="EventsAccepted", unit=MetricUnit.Count, value=accepted.accepted)
    return accepted


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = app.resolve(event, context)
    metrics.add_metric(name=f"Responses{response['statusCode'] // 100}xx", unit=MetricUnit.Count, value=1)
    return response
