"""The model registry: which model versions exist, their status and offline metrics.

The model registry function writes one item per (model_name, version) into the models table (pk
`model_name`, sk `version`) with `status` (candidate|promoted|rejected), `created_at` (ISO-8601, when it was
trained), `metrics` (map), `artifact_uri`, `reason`, and `promoted_at` / `decided_at` / `training_job` /
`comparable_key` where they apply. Read side: items -> `ModelVersion`s for the API and for serving code that
needs the version in service. Write side: `claim` (the one writer that decides a version) and `record`.
"""

from __future__ import annotations

import math
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
    promoted_at: str | None = Field(default=None, description="When it was promoted, ISO-8601 UTC.")
    decided_at: str | None = Field(default=None, description="When it was promoted or rejected.")
    training_job: str | None = Field(
        default=None, description="The training job run whose archive brought this version, if any."
    )
    comparable_key: str | None = Field(
        default=None, description="Versions are compared by the gate only when this matches."
    )


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
    """The version of `model_name` in service: the most recently promoted one.

    Promotion time wins over training time, so a version promoted later (say, an older build uploaded by
    hand after a newer one was rejected) is the one in service; items without `promoted_at` fall back to
    their `created_at`.
    """
    candidates = [v for v in versions if v.model_name == model_name and v.status == "promoted"]
    return max(candidates, key=lambda v: (v.promoted_at or v.created_at, v.version), default=None)


def in_service(
    table_name: str, model_name: str, *, dynamodb_resource: dynamodb.DynamoResource | None = None
) -> ModelVersion | None:
    """The promoted version of `model_name` in the models table, or None when nothing was promoted yet."""
    return promoted(
        list_versions(table_name, model_name=model_name, dynamodb_resource=dynamodb_resource), model_name
    )


# --- Write side (the model registry function) --------------------------------------------------------------


def get_version(
    table_name: str,
    model_name: str,
    version: str,
    *,
    dynamodb_resource: dynamodb.DynamoResource | None = None,
) -> ModelVersion | None:
    item = dynamodb.get_item(
        table_name, {"model_name": model_name, "version": version}, dynamodb=dynamodb_resource
    )
    if item is None:
        return None
    found = versions_from_items([item])
    return found[0] if found else None


def claim(
    table_name: str,
    candidate: ModelVersion,
    *,
    stale_before: str,
    dynamodb_resource: dynamodb.DynamoResource | None = None,
) -> bool:
    """Write `candidate` (status candidate) unless another writer owns the version; True when we own it now.

    We own it when there is no item yet, or the item is a candidate that was claimed before `stale_before`
    (its writer died), or a candidate from the same training job (a retry of the same archive). A decided
    version is never claimed again, which is what makes re-delivered notifications cheap no-ops.
    """
    item = _item(candidate) | {"claimed_at": candidate.decided_at or candidate.created_at}
    # `training_job` appears only on the decided item: whoever waits for a job's outcome polls for it.
    claimed_by_job = item.pop("training_job", None)
    conditions = "attribute_not_exists(version) OR (#status = :candidate AND claimed_at < :stale)"
    values: dict[str, Any] = {":candidate": "candidate", ":stale": stale_before}
    if claimed_by_job:
        item["claimed_by_job"] = claimed_by_job
        conditions += " OR (#status = :candidate AND claimed_by_job = :job)"
        values[":job"] = claimed_by_job
    return dynamodb.put_item_if(
        table_name,
        item,
        condition=conditions,
        names={"#status": "status"},
        values=values,
        dynamodb=dynamodb_resource,
    )


def record(
    table_name: str, version: ModelVersion, *, dynamodb_resource: dynamodb.DynamoResource | None = None
) -> None:
    """Store a decided version (promoted or rejected), replacing its candidate item."""
    dynamodb.put_item(table_name, _item(version), dynamodb=dynamodb_resource)


def _item(version: ModelVersion) -> dict[str, Any]:
    item = version.model_dump(exclude_none=True)
    item["metrics"] = _decimals(item.get("metrics", {}))
    return item


def _decimals(value: Any) -> Any:
    """Floats -> Decimal for DynamoDB; non-finite numbers are dropped there, as DynamoDB cannot store them."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return dynamodb.to_decimal(value) if math.isfinite(value) else None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Mapping):
        converted = {str(key): _decimals(item) for key, item in value.items()}
        return {key: item for key, item in converted.items() if item is not None}
    if isinstance(value, list | tuple):
        return [item for item in (_decimals(entry) for entry in value) if item is not None]
    return value
