"""Pydantic response models shared by API functions; they feed the OpenAPI document."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from shelfwise.model_versions import ModelVersion


class ErrorDetail(BaseModel):
    field: str = Field(description="Where the problem is: `query.k`, `path.user_id`, `body.events.0.id`.")
    message: str


class ErrorInfo(BaseModel):
    code: str = Field(description="Short machine-readable code, e.g. `validation_error`, `not_found`.")
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)
    request_id: str | None = Field(default=None, description="Quote this when reporting a problem.")


class ErrorResponse(BaseModel):
    """The body of every 4xx and 5xx response the platform returns."""

    error: ErrorInfo


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"
    version: str = Field(description="shelfwise release serving this request.")
    stage: str = Field(description="Deployment stage, `local` on a laptop.")
    time: str = Field(description="Server time, ISO-8601 UTC.")


class ModelsResponse(BaseModel):
    models: list[ModelVersion] = Field(description="Newest first within each model name.")
