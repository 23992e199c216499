"""Platform endpoints: `GET /v1/health`, `GET /v1/models`, `GET /v1/openapi.json`."""

import json
import os
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import shelfwise
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from shelfwise import model_versions, settings
from shelfwise.api.access import require_scope
from shelfwise.api.http import create_resolver
from shelfwise.api.models import HealthResponse, ModelsResponse
from shelfwise.auth import READ_SCOPE

logger, tracer, metrics = Logger(), Tracer(), Metrics()
app = create_resolver()

# Generated from the code of every API function by `shelfwise openapi` and shipped inside this function.
OPENAPI_DOCUMENT = Path(__file__).with_name("openapi.json")
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


@app.get("/v1/health", tags=["platform"], summary="Liveness check", description="Needs no credential.")
def health() -> HealthResponse:
    return HealthResponse(
        version=shelfwise.__version__,
        stage=os.environ.get(settings.STAGE_ENV, "local"),
        time=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    )


@app.get(
    "/v1/models",
    tags=["platform"],
    summary="Model versions and their metrics",
    description="Every version in the model registry with its status (candidate, promoted, rejected) and "
    "offline metrics; the promoted version of each model is the one in service.",
)
@tracer.capture_method
def list_models(
    model_name: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            pattern=MODEL_NAME_PATTERN,
            description="Only versions of this model, e.g. `recommender`.",
        ),
    ] = None,
) -> ModelsResponse:
    require_scope(app, READ_SCOPE)
    versions = model_versions.list_versions(settings.Settings.from_env().models_table, model_name=model_name)
    metrics.add_metric(name="ModelVersionsListed", unit=MetricUnit.Count, value=len(versions))
    return ModelsResponse(models=versions)


@app.get(
    "/v1/openapi.json",
    tags=["platform"],
    summary="This API's OpenAPI document",
    description="The OpenAPI 3 document of every shelfwise endpoint, generated from the handlers' code.",
    response_description="The OpenAPI 3.1 document.",
)
def openapi_document() -> dict[str, Any]:
    return _openapi()


@cache
def _openapi() -> dict[str, Any]:
    return json.loads(OPENAPI_DOCUMENT.read_text(encoding="utf-8"))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = app.resolve(event, context)
    # Responses by class (2xx/4xx/5xx) per service: what dashboards and alarms on this API are built from.
    metrics.add_metric(name=f"Responses{response['statusCode'] // 100}xx", unit=MetricUnit.Count, value=1)
    return response
