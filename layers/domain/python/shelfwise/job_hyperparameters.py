"""A training job's deployment hyperparameters: SageMaker's `/opt/ml/input/config/hyperparameters.json`.

SageMaker writes the training job's `HyperParameters` there as a JSON object of strings (locally the same file
comes from `<state dir>/hyperparameters/<job>.json`; see docs/configuration.md). Each job declares what may be
set as a pydantic model; an unknown name or a bad value fails the job with the reason, rather than training
silently with defaults the operator meant to change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

DEFAULT_CONFIG_DIR = "/opt/ml/input/config"

Model = TypeVar("Model", bound=BaseModel)


def config_path() -> Path:
    return Path(os.environ.get("SM_INPUT_CONFIG_DIR", DEFAULT_CONFIG_DIR)) / "hyperparameters.json"


def read_job_hyperparameters(model: type[Model], path: Path | None = None) -> Model:
    """The file's hyperparameters as `model` (its defaults when there is no file); ValueError naming the
    problem otherwise."""
    path = path or config_path()
    if not path.is_file():
        return model()
    try:
        raw = json.loads(path.read_text(encoding="utf-8") or "{}")
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not JSON: {error}") from error
    if not isinstance(raw, dict):
        raise ValueError(f"{path} must hold a JSON object of hyperparameters")
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc'])}: {issue['msg']}" for issue in error.errors()
        )
        raise ValueError(f"invalid hyperparameters in {path}: {problems}") from error
