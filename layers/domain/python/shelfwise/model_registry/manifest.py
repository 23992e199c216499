"""The model version contract: what a version directory must hold before anything loads it.

`<version>/manifest.json` names the model (`model_name`), the `version`, `created_at` (ISO-8601 UTC) and
`files`: `{relative path: sha256 hex}` for every other file of the version. `metrics.json` (one of those
files) carries the gate object `{"gate": {"metrics": {name: float}, "comparable_key": str}}`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

MANIFEST_FILE = "manifest.json"
METRICS_FILE = "metrics.json"
# Names and versions become S3 key segments and local directory names: keep them boring.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_HASH_BLOCK = 1024 * 1024


class VersionInvalid(Exception):
    """The version breaks the contract; `reason` is what the registry records and operators read."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Manifest(BaseModel):
    model_config = ConfigDict(protected_namespaces=(), extra="allow")

    model_name: str = Field(pattern=NAME_PATTERN)
    version: str = Field(pattern=VERSION_PATTERN)
    created_at: str
    files: dict[str, str]

    @field_validator("created_at")
    @classmethod
    def _iso_8601(cls, value: str) -> str:
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("not an ISO-8601 timestamp") from None
        return value

    @field_validator("files")
    @classmethod
    def _paths_and_digests(cls, files: dict[str, str]) -> dict[str, str]:
        for path, digest in files.items():
            problem = relative_path_problem(path)
            if problem:
                raise ValueError(f"{path!r}: {problem}")
            if path == MANIFEST_FILE:
                raise ValueError("manifest.json must not list itself")
            if not isinstance(digest, str) or not _SHA256.match(digest):
                raise ValueError(f"{path!r}: expected a lower-case sha256 hex digest")
        if METRICS_FILE not in files:
            raise ValueError(f"must list {METRICS_FILE}")
        return files


class Gate(BaseModel):
    metrics: dict[str, float]
    comparable_key: str = Field(min_length=1, max_length=256)
    # Measured and recorded (coverage, exposure, diversity), open to floors, never compared between versions:
    # the bounded drop reads "lower is worse", which does not hold for e.g. an exposure Gini.
    reported: dict[str, float] = Field(default_factory=dict)

    @field_validator("metrics", "reported")
    @classmethod
    def _finite(cls, metrics: dict[str, float]) -> dict[str, float]:
        for name, value in metrics.items():
            if not math.isfinite(value):
                raise ValueError(f"{name} is not a finite number")
        return metrics


def relative_path_problem(path: str) -> str | None:
    """Why `path` cannot be a version's file (None when it can): absolute, `..`, backslashes, empty parts."""
    if not path or path.startswith("/") or "\\" in path or "\x00" in path:
        return "not a plain relative path"
    parts = PurePosixPath(path).parts
    if any(part in ("", ".", "..") for part in parts) or path.endswith("/"):
        return "not a plain relative path"
    return None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_HASH_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _problems(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in issue['loc']) or 'value'}: {issue['msg']}"
        for issue in error.errors()
    )


def parse_manifest(raw: bytes) -> Manifest:
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as error:
        raise VersionInvalid(f"manifest.json is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise VersionInvalid("manifest.json is not a JSON object")
    try:
        return Manifest.model_validate(document)
    except ValidationError as error:
        raise VersionInvalid(f"manifest.json breaks the contract: {_problems(error)}") from None


def read_manifest(directory: Path) -> Manifest:
    path = directory / MANIFEST_FILE
    if not path.is_file():
        raise VersionInvalid("the version has no manifest.json")
    return parse_manifest(path.read_bytes())


def verify_files(directory: Path, manifest: Manifest) -> None:
    """Every listed file is present with its sha256 and nothing unlisted is there; raises `VersionInvalid`."""
    root = directory.resolve()
    for relative, expected in sorted(manifest.files.items()):
        path = (directory / relative).resolve()
        if not path.is_relative_to(root) or path.is_symlink():
            raise VersionInvalid(f"{relative} points outside the version")
        if not path.is_file():
            raise VersionInvalid(f"{relative} is listed in the manifest but missing")
        actual = sha256_file(path)
        if actual != expected:
            raise VersionInvalid(f"{relative} is corrupt: sha256 {actual[:12]}… differs from the manifest")
    present = {path.relative_to(directory).as_posix() for path in directory.rglob("*") if path.is_file()} - {
        MANIFEST_FILE
    }
    unlisted = sorted(present - set(manifest.files))
    if unlisted:
        raise VersionInvalid(f"files not listed in the manifest: {', '.join(unlisted[:5])}")


def read_gate(directory: Path) -> Gate:
    try:
        document: Any = json.loads((directory / METRICS_FILE).read_bytes())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise VersionInvalid(f"metrics.json is not readable JSON: {error}") from None
    gate = document.get("gate") if isinstance(document, dict) else None
    if not isinstance(gate, dict):
        raise VersionInvalid('metrics.json has no "gate" object')
    try:
        return Gate.model_validate(gate)
    except ValidationError as error:
        raise VersionInvalid(f"metrics.json gate breaks the contract: {_problems(error)}") from None
