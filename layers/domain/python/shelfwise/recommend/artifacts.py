"""Reading an exported recommender version directory (layout written by the training job's export step)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

# 2: `artifacts` maps a role to its file and `files` maps every file to its sha256 (the registry's contract).
SUPPORTED_FORMAT_VERSION = 2


class ModelFormatError(ValueError):
    """The directory is not a recommender model this library can serve; the message says what is wrong."""


def read_manifest(model_dir: Path) -> dict[str, Any]:
    manifest_path = Path(model_dir) / "manifest.json"
    if not manifest_path.is_file():
        raise ModelFormatError(f"{model_dir} has no manifest.json; is it a recommender version directory?")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("format_version") != SUPPORTED_FORMAT_VERSION:
        raise ModelFormatError(
            f"model format {manifest.get('format_version')!r} is not supported "
            f"(expected {SUPPORTED_FORMAT_VERSION})"
        )
    if not isinstance(manifest.get("artifacts"), dict):
        raise ModelFormatError(f"{manifest_path} has no `artifacts` map; it was not written by this trainer")
    return manifest


def artifact_path(model_dir: Path, manifest: dict[str, Any], name: str) -> Path:
    return Path(model_dir) / manifest["artifacts"][name]


def read_json(model_dir: Path, manifest: dict[str, Any], name: str) -> Any:
    return json.loads(artifact_path(model_dir, manifest, name).read_text(encoding="utf-8"))


def read_array(model_dir: Path, manifest: dict[str, Any], name: str) -> np.ndarray:
    """Memory-mapped, so loading a large model costs page faults on use rather than a full read up front."""
    return np.load(artifact_path(model_dir, manifest, name), mmap_mode="r")
