"""The model registry, read side: which model versions exist, their status and offline metrics.

Training jobs write one item per (model_name, version) into the models table (pk `model_name`, sk `version`)
with `status` (candidate|promoted|rejected), `created_at` (ISO-8601), `metrics` (map), `artifact_uri` and
`reason`. This module turns those items into `ModelVersion`s for the API and for code that needs to know
which version is in service.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Literal

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shelfwise.aws import dynamodb

logger = Logger(child=True)

ModelStatus = Literal["candidate", "promoted", "rejected"]


class ModelVersion(BaseModel):
    model_config = ConfigDict(protected_namespaces=(), extra="ignore")

    model_name: str = Field(description="What the model does, e.g. `recommender`, `chat-intent`.")
    version: str = Field(description="Sortable version id, e.g. `2026-03-01T02-00-00Z`.")
    status: ModelStatus
    created_at: str = Field(description="When it was trained, ISO-8601 UTC.")
    metrics: dict[str, Any] = Field(default_factory=dict, description="Offline evaluation metrics.")
    artifact_uri: str | None = Field(
        default=None, description="Where the model artifact is, e.g. `s3://...`."
    )
    reason: str | None = Field(default=None, description="Why the version was promoted or rejected.")


def plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal: whole numbers become int, the rest float (recursively)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain(item) for item in value]
    return value


def versions_from_items(items: Iterable[Mapping[str, Any]]) -> list[ModelVersion]:
    """Registry items -> versions, grouped by model name and newest first within a name.

    An item that does not follow the registry contract is skipped and logged: one bad write by a training job
    must not hide every other model from operators.
    """
    versions: list[ModelVersion] = []
    for item in items:
        try:
            versions.append(ModelVersion.model_validate(plain(item)))
        except ValidationError as error:
            logger.warning(
                "skipping malformed registry item",
                extra={
                    "model_name": str(item.get("model_name")),
                    "version": str(item.get("version")),
                    "problems": [".".join(map(str, e["loc"])) + ": " + e["msg"] for e in error.errors()],
                },
            )
    # Newest first within a model: created_at is ISO-8601 UTC, so text order is time order.
    versions.sort(key=lambda v: (v.created_at, v.version), reverse=True)
    versions.sort(key=lambda v: v.model_name)
    return versions


def list_versions(
    table_name: str,
    *,
    model_name: str | None = None,
    dynamodb_resource: dynamodb.DynamoResource | None = None,
) -> list[ModelVersion]:
    """Every version in the registry, or only those of `model_name` (empty list when there are none)."""
    if model_name is None:
        items = dynamodb.scan_all(table_name, dynamodb=dynamodb_resource)
    else:
        items = dynamodb.query_partition(table_name, "model_name", model_name, dynamodb=dynamodb_resource)
    return versions_from_items(items)


def promoted(versions: Iterable[ModelVersion], model_name: str) -> ModelVersion | None:
    """The version of `model_name` in service: the newest promoted one."""
    candidates = [v for v in versions if v.model_name == model_name and v.status == "promoted"]
    return max(candidates, key=lambda v: (v.created_at, v.version), default=None)
