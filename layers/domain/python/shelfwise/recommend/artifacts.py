"""Reading an exported recommender version directory (layout written by the training job's export step)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

SUPPORTED_FORMAT_VERSION = 1


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
    return manifest


def read_json(model_dir: Path, manifest: dict[str, Any], name: str) -> Any:
    return json.loads((Path(model_dir) / manifest["files"][name]).read_text(encoding="utf-8"))


def read_array(model_dir: Path, manifest: dict[str, Any], name: str) -> np.ndarray:
    """Memory-mapped, so loading a large model costs page faults on use rather than a full read up front."""
    return np.load(Path(model_dir) / manifest["files"][name], mmap_mode="r")
