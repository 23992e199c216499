"""One S3 object under `models/` in, at most one registry decision out.

Two kinds of object matter (everything else is ignored without a read):

- `models/_jobs/<job>/<training-job-name>/output/model.tar.gz`, a training job's output: unpacked safely,
  checked, and its files written to `models/<model_name>/<version>/` with manifest.json last;
- `models/<model_name>/<version>/manifest.json`, a version uploaded directly (or the manifest the registry
  itself just wrote, which finds its version already claimed and stops there).

The registry item is claimed first (status candidate, conditional write), so a re-delivered or concurrent
notification never validates a version twice; then the version's files are verified against their sha256,
the model is smoke-tested, the gate compares it with the version in service, and the item becomes promoted
or rejected with the reason. `ModelPromoted` / `ModelRejected` go to the event bus after the item is written.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from aws_lambda_powertools import Logger

from shelfwise import model_versions
from shelfwise.aws import events, s3
from shelfwise.model_registry import validators
from shelfwise.model_registry.archive import ArchiveLimits, unpack_version
from shelfwise.model_registry.gate import GateConfig, Incumbent, decide
from shelfwise.model_registry.manifest import (
    MANIFEST_FILE,
    NAME_PATTERN,
    VERSION_PATTERN,
    Manifest,
    VersionInvalid,
    parse_manifest,
    read_gate,
    read_manifest,
    verify_files,
)

logger = Logger(child=True)

MODELS_PREFIX = "models/"
JOBS_PREFIX = "models/_jobs/"
ARCHIVE_NAME = "model.tar.gz"
PROMOTED_EVENT = "ModelPromoted"
REJECTED_EVENT = "ModelRejected"
# A candidate claim older than this belongs to a writer that died (the function times out after 300 s).
CLAIM_STALE_AFTER = timedelta(minutes=10)
_ARCHIVE_KEY = re.compile(r"^models/_jobs/([^/]+)/([^/]+)/output/model\.tar\.gz$")
_MANIFEST_KEY = re.compile(r"^models/([^/]+)/([^/]+)/manifest\.json$")

Status = Literal["promoted", "rejected", "skipped"]


@dataclass(frozen=True)
class RegistryTargets:
    bucket: str
    models_table: str
    event_bus: str | None = None


@dataclass(frozen=True)
class Outcome:
    model_name: str
    version: str
    status: Status
    reason: str
    training_job: str | None = None


@dataclass(frozen=True)
class ArchiveKey:
    job: str
    training_job: str


@dataclass(frozen=True)
class ManifestKey:
    model_name: str
    version: str


@dataclass
class Registrar:
    """Decides versions for one bucket and models table; collaborators are injectable for tests."""

    targets: RegistryTargets
    gate: GateConfig = field(default_factory=GateConfig.from_env)
    limits: ArchiveLimits = field(default_factory=ArchiveLimits)
    smoke_test: Callable[[str, Path], None] = validators.smoke_test
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    s3_client: Any = None
    dynamodb_resource: Any = None
    events_client: Any = None

    def process(self, key: str) -> Outcome | None:
        """Handle one created object; None for keys the registry does not care about."""
        parsed = classify(key)
        if parsed is None:
            return None
        with tempfile.TemporaryDirectory(prefix="shelfwise-registry-") as workdir:
            if isinstance(parsed, ArchiveKey):
                return self._from_archive(key, parsed, Path(workdir))
            return self._from_manifest(parsed, Path(workdir))

    # --- the two entry points ------------------------------------------------------------------------------

    def _from_archive(self, key: str, parsed: ArchiveKey, workdir: Path) -> Outcome | None:
        archive = workdir / ARCHIVE_NAME
        if s3.download_file(self.targets.bucket, key, str(archive), s3_client=self.s3_client) is None:
            logger.warning("archive vanished before it was read", extra={"key": key})
            return None
        local = workdir / "version"
        try:
            unpack_version(archive, local, self.limits)
            manifest = read_manifest(local)
        except VersionInvalid as problem:
            # No readable manifest: the rejection is filed under the job and run names, where `run --wait`
            # and operators look for it.
            return self._reject_unreadable(parsed, problem.reason)
        finally:
            archive.unlink(missing_ok=True)
        candidate = self._candidate(
            manifest.model_name, manifest.version, manifest.created_at, parsed.training_job
        )
        if not self._claim(candidate):
            return self._skipped(candidate)
        decided = self._decide(local, manifest, candidate)
        # Rejected versions are written too, for operators to inspect; serving never loads them.
        self._upload(local, manifest)
        return self._finish(decided)

    def _from_manifest(self, parsed: ManifestKey, workdir: Path) -> Outcome | None:
        existing = model_versions.get_version(
            self.targets.models_table,
            parsed.model_name,
            parsed.version,
            dynamodb_resource=self.dynamodb_resource,
        )
        if existing is not None and existing.status != "candidate":
            return Outcome(existing.model_name, existing.version, "skipped", f"already {existing.status}")
        prefix = version_prefix(parsed.model_name, parsed.version)
        candidate = self._candidate(parsed.model_name, parsed.version, self._stamp(), None)
        try:
            raw = s3.get_bytes(self.targets.bucket, prefix + MANIFEST_FILE, s3_client=self.s3_client)
            manifest = parse_manifest(raw)
            if (manifest.model_name, manifest.version) != (parsed.model_name, parsed.version):
                raise VersionInvalid(
                    f"manifest names {manifest.model_name}/{manifest.version} but sits under {prefix}"
                )
        except VersionInvalid as problem:
            if not self._claim(candidate):
                return self._skipped(candidate)
            return self._finish(candidate.model_copy(update={"status": "rejected", "reason": problem.reason}))
        candidate = candidate.model_copy(update={"created_at": manifest.created_at})
        if not self._claim(candidate):
            return self._skipped(candidate)
        local = workdir / "version"
        for info in s3.list_objects(self.targets.bucket, prefix, s3_client=self.s3_client):
            relative = info.key[len(prefix) :]
            target = local.joinpath(*PurePosixPath(relative).parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(self.targets.bucket, info.key, str(target), s3_client=self.s3_client)
        return self._finish(self._decide(local, manifest, candidate))

    # --- deciding ------------------------------------------------------------------------------------------

    def _decide(
        self, local: Path, manifest: Manifest, candidate: model_versions.ModelVersion
    ) -> model_versions.ModelVersion:
        try:
            verify_files(local, manifest)
            gate = read_gate(local)
            self.smoke_test(manifest.model_name, local)
        except VersionInvalid as problem:
            return candidate.model_copy(update={"status": "rejected", "reason": problem.reason})
        except Exception as error:  # a model that crashes its loader is a bad model, not a registry failure
            logger.warning(
                "smoke test failed", extra={"model_name": manifest.model_name, "error": repr(error)}
            )
            reason = f"smoke test failed: {type(error).__name__}: {error}"[:1000]
            return candidate.model_copy(update={"status": "rejected", "reason": reason})
        incumbent = model_versions.in_service(
            self.targets.models_table, manifest.model_name, dynamodb_resource=self.dynamodb_resource
        )
        decision = decide(
            manifest.model_name,
            gate.metrics,
            gate.comparable_key,
            _incumbent(incumbent) if incumbent and incumbent.version != manifest.version else None,
            self.gate,
            gate.reported,
        )
        stamp = self._stamp()
        return candidate.model_copy(
            update={
                "status": "promoted" if decision.promote else "rejected",
                "reason": decision.reason,
                "metrics": {**gate.reported, **gate.metrics},
                "comparable_key": gate.comparable_key,
                "promoted_at": stamp if decision.promote else None,
            }
        )

    def _reject_unreadable(self, parsed: ArchiveKey, reason: str) -> Outcome:
        name = parsed.job if re.match(NAME_PATTERN, parsed.job) else "unknown"
        version = parsed.training_job if re.match(VERSION_PATTERN, parsed.training_job) else "unknown"
        candidate = self._candidate(name, version, self._stamp(), parsed.training_job)
        candidate = candidate.model_copy(
            update={
                "artifact_uri": f"s3://{self.targets.bucket}/{JOBS_PREFIX}"
                f"{parsed.job}/{parsed.training_job}/output/{ARCHIVE_NAME}"
            }
        )
        if not self._claim(candidate):
            return self._skipped(candidate)
        return self._finish(candidate.model_copy(update={"status": "rejected", "reason": reason}))

    # --- storage -------------------------------------------------------------------------------------------

    def _candidate(
        self, model_name: str, version: str, created_at: str, training_job: str | None
    ) -> model_versions.ModelVersion:
        return model_versions.ModelVersion(
            model_name=model_name,
            version=version,
            status="candidate",
            created_at=created_at,
            artifact_uri=f"s3://{self.targets.bucket}/{version_prefix(model_name, version)}",
            training_job=training_job,
            decided_at=self._stamp(),
        )

    def _claim(self, candidate: model_versions.ModelVersion) -> bool:
        stale_before = (
            (self.now() - CLAIM_STALE_AFTER).isoformat(timespec="microseconds").replace("+00:00", "Z")
        )
        return model_versions.claim(
            self.targets.models_table,
            candidate,
            stale_before=stale_before,
            dynamodb_resource=self.dynamodb_resource,
        )

    def _upload(self, local: Path, manifest: Manifest) -> None:
        prefix = version_prefix(manifest.model_name, manifest.version)
        for relative in sorted(manifest.files):
            path = local / relative
            if path.is_file():
                s3.upload_file(self.targets.bucket, prefix + relative, str(path), s3_client=self.s3_client)
        # Last, so whoever sees the manifest finds every file already there.
        s3.upload_file(
            self.targets.bucket,
            prefix + MANIFEST_FILE,
            str(local / MANIFEST_FILE),
            content_type="application/json",
            s3_client=self.s3_client,
        )

    def _finish(self, decided: model_versions.ModelVersion) -> Outcome:
        decided = decided.model_copy(update={"decided_at": self._stamp()})
        model_versions.record(self.targets.models_table, decided, dynamodb_resource=self.dynamodb_resource)
        status: Status = "promoted" if decided.status == "promoted" else "rejected"
        outcome = Outcome(
            decided.model_name, decided.version, status, decided.reason or "", decided.training_job
        )
        logger.info("model version decided", extra=outcome.__dict__)
        self._publish(decided)
        return outcome

    def _publish(self, decided: model_versions.ModelVersion) -> None:
        detail = decided.model_dump(
            include={
                "model_name",
                "version",
                "status",
                "reason",
                "metrics",
                "artifact_uri",
                "training_job",
                "created_at",
                "promoted_at",
            },
            exclude_none=True,
        )
        try:
            events.publish(
                PROMOTED_EVENT if decided.status == "promoted" else REJECTED_EVENT,
                detail,
                bus_name=self.targets.event_bus,
                events_client=self.events_client,
            )
        except Exception:
            # The registry item is the record of truth and is already written; a lost notification must not
            # make the queue redeliver (the version would be skipped as decided anyway).
            logger.exception("could not publish the model decision", extra={"version": decided.version})

    def _skipped(self, candidate: model_versions.ModelVersion) -> Outcome:
        logger.info(
            "version already claimed or decided; nothing to do",
            extra={"model_name": candidate.model_name, "version": candidate.version},
        )
        return Outcome(candidate.model_name, candidate.version, "skipped", "already claimed or decided")

    def _stamp(self) -> str:
        return self.now().isoformat(timespec="microseconds").replace("+00:00", "Z")


def version_prefix(model_name: str, version: str) -> str:
    return f"{MODELS_PREFIX}{model_name}/{version}/"


def classify(key: str) -> ArchiveKey | ManifestKey | None:
    archive = _ARCHIVE_KEY.match(key)
    if archive:
        return ArchiveKey(job=archive.group(1), training_job=archive.group(2))
    found = _MANIFEST_KEY.match(key)
    if (
        found
        and found.group(1) != "_jobs"
        and re.match(NAME_PATTERN, found.group(1))
        and re.match(VERSION_PATTERN, found.group(2))
    ):
        return ManifestKey(model_name=found.group(1), version=found.group(2))
    return None


def _incumbent(version: model_versions.ModelVersion) -> Incumbent:
    numbers = {
        name: float(value)
        for name, value in version.metrics.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
    return Incumbent(version=version.version, metrics=numbers, comparable_key=version.comparable_key)
