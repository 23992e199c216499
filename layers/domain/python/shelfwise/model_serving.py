"""Serving the promoted version of a model, swapped in without a redeploy.

A `ModelStore[T]` keeps the loaded model of one model name in memory (module-level in a function, so it
survives between invocations of a warm container). `current()` asks the models table which version is in
service at most every `refresh_seconds`; when that changed, the version's files are downloaded from its
`artifact_uri` to local disk, checked against the manifest's sha256 list, loaded with the caller's loader, and
swapped in. A download or load failure is logged and the old model keeps serving (the failed version is not
retried before `retry_failed_seconds`). With nothing promoted, the optional fallback (e.g. a model shipped
inside the function package) serves; with no fallback either, `current()` returns None.

    store = ModelStore("chat", ChatModel.load, models_table=table_name,
                       fallback=lambda: ChatModel.load(DEFAULT_DIR), fallback_version="default")
    served = store.current()          # ServedModel(version=..., model=..., source="registry"|"fallback")

`SHELFWISE_MODEL_REFRESH_SECONDS` (default 30) sets the refresh interval for every store in a function.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import urlparse

from aws_lambda_powertools import Logger

from shelfwise import model_versions
from shelfwise.aws import s3
from shelfwise.model_registry.manifest import read_manifest, relative_path_problem, verify_files

logger = Logger(child=True)

T = TypeVar("T")

REFRESH_SECONDS_ENV = "SHELFWISE_MODEL_REFRESH_SECONDS"
DEFAULT_REFRESH_SECONDS = 30.0
DEFAULT_RETRY_FAILED_SECONDS = 600.0
CACHE_ROOT = Path(tempfile.gettempdir()) / "shelfwise-models"


def refresh_seconds_from_env() -> float:
    raw = os.environ.get(REFRESH_SECONDS_ENV)
    if not raw:
        return DEFAULT_REFRESH_SECONDS
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{REFRESH_SECONDS_ENV} must be a number of seconds, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{REFRESH_SECONDS_ENV} must be >= 0")
    return value


@dataclass(frozen=True)
class ServedModel(Generic[T]):
    version: str
    model: T
    source: Literal["registry", "fallback"]


class ArtifactUnavailable(Exception):
    """The promoted version's files could not be fetched or do not match their manifest."""


class ModelStore(Generic[T]):
    def __init__(
        self,
        model_name: str,
        loader: Callable[[Path], T],
        *,
        models_table: str | Callable[[], str],
        refresh_seconds: float | None = None,
        retry_failed_seconds: float = DEFAULT_RETRY_FAILED_SECONDS,
        fallback: Callable[[], T] | None = None,
        fallback_version: str = "fallback",
        cache_root: Path = CACHE_ROOT,
        clock: Callable[[], float] = time.monotonic,
        lookup: Callable[[], model_versions.ModelVersion | None] | None = None,
        fetch: Callable[[model_versions.ModelVersion, Path], Path] | None = None,
    ) -> None:
        self.model_name = model_name
        self._loader = loader
        self._models_table = models_table
        self._refresh_seconds = refresh_seconds_from_env() if refresh_seconds is None else refresh_seconds
        self._retry_failed_seconds = retry_failed_seconds
        self._fallback_loader = fallback
        self._fallback_version = fallback_version
        self._cache_root = cache_root / model_name
        self._clock = clock
        self._lookup = lookup or self._lookup_in_table
        self._fetch = fetch or download_version
        self._lock = threading.Lock()
        self._served: ServedModel[T] | None = None
        self._fallback: ServedModel[T] | None = None
        self._checked_at: float | None = None
        self._failed: dict[str, float] = {}

    def current(self) -> ServedModel[T] | None:
        """The model to answer this request with (checks for a newer promoted version when it is time)."""
        now = self._clock()
        if self._checked_at is None or now - self._checked_at >= self._refresh_seconds:
            with self._lock:
                if self._checked_at is None or now - self._checked_at >= self._refresh_seconds:
                    self._refresh(now)
                    self._checked_at = now
        return self._served or self._fallback_model()

    def _refresh(self, now: float) -> None:
        try:
            promoted = self._lookup()
        except Exception:
            # The table being unreachable must not take serving down with it.
            logger.exception("could not look up the promoted version", extra={"model_name": self.model_name})
            return
        if promoted is None or (self._served is not None and self._served.version == promoted.version):
            return
        failed_at = self._failed.get(promoted.version)
        if failed_at is not None and now - failed_at < self._retry_failed_seconds:
            return
        directory = self._cache_root / _safe_segment(promoted.version)
        try:
            loaded = self._loader(self._fetch(promoted, directory))
        except Exception as error:
            self._failed[promoted.version] = now
            logger.exception(
                "could not load the promoted version; the previous model keeps serving",
                extra={
                    "model_name": self.model_name,
                    "version": promoted.version,
                    "serving": self._served.version if self._served else None,
                    "error": repr(error),
                },
            )
            shutil.rmtree(directory, ignore_errors=True)
            return
        previous = self._served
        self._served = ServedModel(version=promoted.version, model=loaded, source="registry")
        logger.info(
            "swapped to the promoted version",
            extra={
                "model_name": self.model_name,
                "version": promoted.version,
                "previous": previous.version if previous else None,
            },
        )
        # Disk holds the new version and the one before it (a request that still holds the old model may
        # read its files); anything older goes.
        keep = {directory.name} | ({_safe_segment(previous.version)} if previous else set())
        for stale in self._cache_root.iterdir():
            if stale.name not in keep:
                shutil.rmtree(stale, ignore_errors=True)

    def _fallback_model(self) -> ServedModel[T] | None:
        if self._fallback_loader is None:
            return None
        if self._fallback is None:
            with self._lock:
                if self._fallback is None:
                    self._fallback = ServedModel(
                        version=self._fallback_version, model=self._fallback_loader(), source="fallback"
                    )
        return self._fallback

    def _lookup_in_table(self) -> model_versions.ModelVersion | None:
        table = self._models_table() if callable(self._models_table) else self._models_table
        return model_versions.in_service(table, self.model_name)


def download_version(version: model_versions.ModelVersion, directory: Path, *, s3_client: Any = None) -> Path:
    """Copy the version under `artifact_uri` (s3://bucket/prefix/) into `directory` and verify it."""
    if not version.artifact_uri:
        raise ArtifactUnavailable(f"{version.model_name} {version.version} has no artifact_uri")
    location = urlparse(version.artifact_uri)
    if location.scheme != "s3" or not location.netloc:
        raise ArtifactUnavailable(f"artifact_uri {version.artifact_uri!r} is not an s3:// location")
    prefix = location.path.lstrip("/")
    prefix = prefix if prefix.endswith("/") else prefix + "/"
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    found = False
    for info in s3.list_objects(location.netloc, prefix, s3_client=s3_client):
        relative = info.key[len(prefix) :]
        if relative_path_problem(relative):
            raise ArtifactUnavailable(f"unexpected object {info.key!r} under the version")
        target = directory.joinpath(*PurePosixPath(relative).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(location.netloc, info.key, str(target), s3_client=s3_client)
        found = True
    if not found:
        raise ArtifactUnavailable(f"nothing under {version.artifact_uri}")
    verify_files(directory, read_manifest(directory))
    return directory


def _safe_segment(version: str) -> str:
    return "".join(character if character.isalnum() or character in "._-" else "_" for character in version)
