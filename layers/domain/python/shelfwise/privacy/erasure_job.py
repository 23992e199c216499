"""The erasure job: works off every open erasure request, one store after another.

Steps run in `STEPS` order and each is recorded in the request when done (with its count), so a run that
dies half-way (timeout, crash) is resumed by the next one from the first step not done. Every step is also
safe to repeat: a step interrupted half-way starts over, finds nothing left of the customer in what it had
already cleaned and carries on with the rest; its count carries on from the last recorded value.

The deny list comes first: from then on training runs and ingestion leave the customer out, even while the
stores are still being cleaned. Objects are rewritten one at a time, each by a single PUT (atomic in S3), and
their noncurrent versions are deleted, since the bucket is versioned and an old version would keep the rows.

Raw files under `incoming/interactions/` that hold the customer are deleted once ingested: their valid rows
live on in `curated/` (rewritten) and their invalid ones in the rejection report (rewritten), and a
rewritten raw file would be a new upload that ingestion lands again. A file not yet ingested is left for the
next run (the step waits; the request shows why). Training archives under `models/_jobs/` are deleted once
the model registry has unpacked their version (the unpacked version is rewritten instead).
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger

from shelfwise.aws import dynamodb, events, s3
from shelfwise.chat.sessions import session_owner
from shelfwise.privacy import erasure_deny_list
from shelfwise.privacy.erasure import ErasureRequest, ErasureRequests
from shelfwise.privacy.erasure_objects import (
    Identifiers,
    UnsupportedObject,
    archive_mentions,
    parquet_holds,
    without_customer,
    without_customer_parquet,
    without_user_in_model,
)

logger = Logger(child=True)

CURATED_INTERACTIONS_PREFIX = "curated/interactions/"
RAW_INTERACTIONS_PREFIX = "incoming/interactions/"
REJECTION_REPORTS_PREFIX = "rejected/interactions/"
SEGMENT_EXPORTS_PREFIX = "segments/"
RECOMMENDER_VERSIONS_PREFIX = "models/recommender/"
RECOMMENDER_ARCHIVES_PREFIX = "models/_jobs/recommender/"
# Where the steps above rewrite or delete objects: their noncurrent versions are checked too.
ERASED_PREFIXES = (
    CURATED_INTERACTIONS_PREFIX,
    RAW_INTERACTIONS_PREFIX,
    REJECTION_REPORTS_PREFIX,
    SEGMENT_EXPORTS_PREFIX,
    RECOMMENDER_VERSIONS_PREFIX,
    RECOMMENDER_ARCHIVES_PREFIX,
)
CUSTOMER_ERASED = "CustomerErased"
# The arrays of a recommender version that hold users' histories (CSR); the rest of the arrays are item-side.
MODEL_HISTORY_ROLES = ("user_indptr", "user_items", "user_weights")

# (step, unit of its count), in the order they run.
STEPS: tuple[tuple[str, str], ...] = (
    ("deny_list", "markers"),
    ("activity", "items"),
    ("segments", "items"),
    ("chat_sessions", "items"),
    ("idempotency", "items"),
    ("curated_interactions", "rows"),
    ("raw_interactions", "objects"),
    ("rejection_reports", "rows"),
    ("segment_exports", "rows"),
    ("model_versions", "versions"),
    ("training_archives", "objects"),
    ("old_object_versions", "versions"),
    ("customer_id_vault", "items"),
)
STEP_NAMES = tuple(name for name, _ in STEPS)


class StepWaiting(Exception):
    """The step cannot finish yet (data still in flight); the next run tries again. No personal data."""


@dataclass(frozen=True)
class ErasureTargets:
    bucket: str
    activity_table: str
    segments_table: str
    chat_sessions_table: str
    idempotency_table: str
    models_table: str
    event_bus: str
    customer_ids_table: str | None = None


@dataclass
class ErasureRun:
    """What one job run did: request ids and their outcome, no personal data."""

    completed: list[str] = field(default_factory=list)
    waiting: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "failed" if self.failed else "succeeded",
            "completed": self.completed,
            "waiting": self.waiting,
            "failed": self.failed,
            "message": f"{len(self.completed)} erasure request(s) completed, {len(self.waiting)} waiting, "
            f"{len(self.failed)} failed",
        }


@dataclass
class ErasureJob:
    targets: ErasureTargets
    requests: ErasureRequests
    s3_client: Any = None
    dynamodb_resource: Any = None
    events_client: Any = None
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def run(self) -> ErasureRun:
        outcome = ErasureRun()
        for request in self.requests.open_requests():
            try:
                self.erase(request)
                outcome.completed.append(request.request_id)
            except StepWaiting as waiting:
                outcome.waiting[request.request_id] = str(waiting)
                self.requests.fail(request.request_id, f"waiting: {waiting}")
            except Exception as error:
                # The message names stores and keys, never the customer; the next run resumes the request.
                reason = f"{type(error).__name__}: {error}"
                logger.exception("erasure request failed", extra={"request_id": request.request_id})
                outcome.failed[request.request_id] = reason
                self.requests.fail(request.request_id, reason)
        return outcome

    def erase(self, request: ErasureRequest) -> ErasureRequest:
        if request.pseudonym is None:
            raise ValueError(f"request {request.request_id} has no pseudonym left to erase")
        request = self.requests.start(request)
        who = Identifiers.of(request.customer_id, request.pseudonym)
        for name, unit in STEPS:
            if request.step_done(name):
                continue
            start = request.step_count(name)

            def progress(count: int, name: str = name, unit: str = unit) -> None:
                self.requests.record_step(request.request_id, name, count=count, unit=unit, done=False)

            count = getattr(self, f"_erase_{name}")(request, who, start, progress)
            self.requests.record_step(request.request_id, name, count=count, unit=unit, done=True)
            logger.info(
                "erasure step done", extra={"request_id": request.request_id, "step": name, "count": count}
            )
        finished = self.requests.get(request.request_id) or request
        events.publish(
            CUSTOMER_ERASED,
            {
                "request_id": request.request_id,
                "counts": finished.counts(),
                "requested_at": finished.item["requested_at"],
            },
            bus_name=self.targets.event_bus,
            events_client=self.events_client,
        )
        return self.requests.complete(finished)

    # --- DynamoDB -------------------------------------------------------------------------------------------

    def _erase_deny_list(self, request: ErasureRequest, who: Identifiers, start: int, progress: Any) -> int:
        assert request.pseudonym is not None
        added = erasure_deny_list.add(self.targets.bucket, request.pseudonym, s3_client=self.s3_client)
        return start + int(added)

    def _delete_keys(self, table_name: str, key_name: str, who: Identifiers) -> int:
        table = dynamodb.table(table_name, dynamodb=self.dynamodb_resource)
        deleted = 0
        for value in sorted(who.values):
            response = table.delete_item(Key={key_name: value}, ReturnValues="ALL_OLD")
            deleted += int(bool(response.get("Attributes")))
        return deleted

    def _erase_activity(self, request: ErasureRequest, who: Identifiers, start: int, progress: Any) -> int:
        return start + self._delete_keys(self.targets.activity_table, "user_id", who)

    def _erase_segments(self, request: ErasureRequest, who: Identifiers, start: int, progress: Any) -> int:
        return start + self._delete_keys(self.targets.segments_table, "user_id", who)

    def _erase_chat_sessions(
        self, request: ErasureRequest, who: Identifiers, start: int, progress: Any
    ) -> int:
        # A session's owner is the customer's pseudonym, or (sessions from before pseudonyms) a hash of the
        # caller's identity; customers and servers acting for them both count as the customer.
        owners = set(who.values)
        for value in who.values:
            owners.add(session_owner("customer", value))
        table = dynamodb.table(self.targets.chat_sessions_table, dynamodb=self.dynamodb_resource)
        deleted = start
        for item in dynamodb.scan_all(self.targets.chat_sessions_table, dynamodb=self.dynamodb_resource):
            if item.get("owner") in owners or _item_mentions(item, who):
                table.delete_item(Key={"session_id": item["session_id"]})
                deleted += 1
        return deleted

    def _erase_idempotency(self, request: ErasureRequest, who: Identifiers, start: int, progress: Any) -> int:
        # Powertools keys records by a hash of the request; only the stored response can name the customer.
        table = dynamodb.table(self.targets.idempotency_table, dynamodb=self.dynamodb_resource)
        deleted = start
        for item in dynamodb.scan_all(self.targets.idempotency_table, dynamodb=self.dynamodb_resource):
            if _item_mentions(item, who):
                table.delete_item(Key={"id": item["id"]})
                deleted += 1
        return deleted

    def _erase_customer_id_vault(
        self, request: ErasureRequest, who: Identifiers, start: int, progress: Any
    ) -> int:
        if not self.targets.customer_ids_table or request.pseudonym is None:
            return start
        table = dynamodb.table(self.targets.customer_ids_table, dynamodb=self.dynamodb_resource)
        response = table.delete_item(Key={"pseudonym": request.pseudonym}, ReturnValues="ALL_OLD")
        return start + int(bool(response.get("Attributes")))

    # --- S3 -------------------------------------------------------------------------------------------------

    def _objects(self, prefix: str) -> Iterator[s3.ObjectInfo]:
        yield from s3.list_objects(self.targets.bucket, prefix, s3_client=self.s3_client)

    def _client(self) -> Any:
        return self.s3_client or s3.client()

    def _rewrite(self, key: str, body: bytes, content_type: str | None) -> None:
        s3.put_bytes(
            self.targets.bucket,
            key,
            body,
            content_type=content_type or "application/octet-stream",
            s3_client=self.s3_client,
        )

    def _delete(self, key: str) -> None:
        s3.delete_keys(self.targets.bucket, [key], s3_client=self.s3_client)

    def _erase_curated_interactions(
        self, request: ErasureRequest, who: Identifiers, start: int, progress: Any
    ) -> int:
        removed = start
        for info in self._objects(CURATED_INTERACTIONS_PREFIX):
            if not info.key.endswith(".parquet"):
                continue
            # Only user_id is read to decide; only the partitions holding the customer are rewritten.
            with s3.open_object(self.targets.bucket, info, s3_client=self._client()) as stream:
                if not parquet_holds(stream, who, columns=["user_id"]):
                    continue
            data = s3.get_bytes(self.targets.bucket, info.key, s3_client=self.s3_client)
            rewritten = without_customer_parquet(data, who)
            if rewritten.body is None:
                continue
            self._rewrite(info.key, rewritten.body, "application/vnd.apache.parquet")
            removed += rewritten.removed
            progress(removed)
        return removed

    def _erase_raw_interactions(
        self, request: ErasureRequest, who: Identifiers, start: int, progress: Any
    ) -> int:
        from shelfwise.ingest.reconcile import file_id_for, first_etag, manifested_file_ids

        landed = manifested_file_ids(self.targets.bucket, s3_client=self._client())
        deleted = start
        not_ingested = 0
        for info in self._objects(RAW_INTERACTIONS_PREFIX):
            if not self._raw_file_holds(info, who):
                continue
            head = s3.head(self.targets.bucket, info.key, s3_client=self.s3_client)
            etag = first_etag(info.etag, dict(head.metadata) if head else None)
            if file_id_for(self.targets.bucket, info.key, etag) not in landed:
                not_ingested += 1
                continue
            self._delete(info.key)
            deleted += 1
            progress(deleted)
        if not_ingested:
            raise StepWaiting(
                f"{not_ingested} raw interaction file(s) holding the customer are not ingested yet"
            )
        return deleted

    def _raw_file_holds(self, info: s3.ObjectInfo, who: Identifiers) -> bool:
        """Read as a stream and stop at the first row of the customer: a raw file can be gigabytes, and one
        holding the customer is deleted, never rewritten, so it is never needed in memory whole."""
        if info.key.lower().endswith(".parquet"):
            with s3.open_object(self.targets.bucket, info, s3_client=self._client()) as stream:
                return parquet_holds(stream, who)
        body = s3.open_stream(self.targets.bucket, info.key, s3_client=self.s3_client)
        try:
            raw: Any = gzip.GzipFile(fileobj=body) if info.key.lower().endswith(".gz") else body
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
            try:
                for line in text:
                    # Whole-token matches (`u1` is not in `u10`), in any column and whatever the delimiter.
                    if who.mentioned_in(line):
                        return True
            except (OSError, EOFError):
                return False  # a broken archive: nothing readable after this point names anyone
            return False
        finally:
            body.close()

    def _rewrite_prefix(self, prefix: str, who: Identifiers, start: int, progress: Any) -> int:
        removed = start
        for info in self._objects(prefix):
            data = s3.get_bytes(self.targets.bucket, info.key, s3_client=self.s3_client)
            try:
                rewritten = without_customer(info.key, data, who)
            except UnsupportedObject as problem:
                raise UnsupportedObject(f"s3://{self.targets.bucket}/{info.key}: {problem}") from None
            if rewritten.body is None:
                continue
            head = s3.head(self.targets.bucket, info.key, s3_client=self.s3_client)
            self._rewrite(info.key, rewritten.body, head.content_type if head else None)
            removed += rewritten.removed
            progress(removed)
        return removed

    def _erase_rejection_reports(
        self, request: ErasureRequest, who: Identifiers, start: int, progress: Any
    ) -> int:
        return self._rewrite_prefix(REJECTION_REPORTS_PREFIX, who, start, progress)

    def _erase_segment_exports(
        self, request: ErasureRequest, who: Identifiers, start: int, progress: Any
    ) -> int:
        return self._rewrite_prefix(SEGMENT_EXPORTS_PREFIX, who, start, progress)

    def _erase_model_versions(
        self, request: ErasureRequest, who: Identifiers, start: int, progress: Any
    ) -> int:
        versions: dict[str, list[s3.ObjectInfo]] = {}
        for info in self._objects(RECOMMENDER_VERSIONS_PREFIX):
            relative = info.key[len(RECOMMENDER_VERSIONS_PREFIX) :]
            if "/" in relative:
                versions.setdefault(relative.split("/", 1)[0], []).append(info)
        rewritten_versions = start
        for version, infos in sorted(versions.items()):
            prefix = f"{RECOMMENDER_VERSIONS_PREFIX}{version}/"
            if not any(info.key == prefix + "manifest.json" for info in infos):
                continue
            # The JSON files (manifest, users, metrics...) are small; of the arrays only the users' histories
            # are read, never the item factors.
            manifest = json.loads(
                s3.get_bytes(self.targets.bucket, prefix + "manifest.json", s3_client=self.s3_client)
            )
            artifacts = manifest.get("artifacts") or {}
            history_files = {artifacts[role] for role in MODEL_HISTORY_ROLES if role in artifacts}
            files = {
                info.key[len(prefix) :]: s3.get_bytes(self.targets.bucket, info.key, s3_client=self.s3_client)
                for info in infos
                if info.key.endswith(".json") or info.key[len(prefix) :] in history_files
            }
            changed, users_removed = without_user_in_model(files, who)
            if not users_removed:
                continue
            # Data files first, manifest.json last (as the registry writes a version): a reader that sees
            # the new manifest sees the new files. The registry ignores the manifest of a version it decided.
            for relative, body in sorted(changed.items(), key=lambda entry: entry[0] == "manifest.json"):
                self._rewrite(
                    prefix + relative, body, "application/json" if relative.endswith(".json") else None
                )
            rewritten_versions += 1
            progress(rewritten_versions)
        return rewritten_versions

    def _erase_training_archives(
        self, request: ErasureRequest, who: Identifiers, start: int, progress: Any
    ) -> int:
        from shelfwise import model_versions

        deleted = start
        unregistered = 0
        for info in self._objects(RECOMMENDER_ARCHIVES_PREFIX):
            if not info.key.endswith(".tar.gz"):
                continue
            data = s3.get_bytes(self.targets.bucket, info.key, s3_client=self.s3_client)
            mentions, manifest = archive_mentions(data, who)
            if not mentions:
                continue
            decided = manifest is not None and model_versions.get_version(
                self.targets.models_table,
                str(manifest.get("model_name")),
                str(manifest.get("version")),
                dynamodb_resource=self.dynamodb_resource,
            )
            if not decided or decided.status == "candidate":
                unregistered += 1
                continue
            self._delete(info.key)
            deleted += 1
            progress(deleted)
        if unregistered:
            raise StepWaiting(
                f"{unregistered} training archive(s) holding the customer are not registered yet"
            )
        return deleted

    def _erase_old_object_versions(
        self, request: ErasureRequest, who: Identifiers, start: int, progress: Any
    ) -> int:
        """The bucket is versioned: what a rewrite or delete replaced lives on as a noncurrent version.

        Judged by content, not by what this run touched, so a run resumed after a crash finds the versions an
        earlier run left behind: every noncurrent version under the prefixes above that holds the customer.
        """
        client = self._client()
        removed = start
        for prefix in ERASED_PREFIXES:
            paginator = client.get_paginator("list_object_versions")
            for page in paginator.paginate(Bucket=self.targets.bucket, Prefix=prefix):
                for entry in page.get("Versions", []):
                    if entry.get("IsLatest") or entry.get("VersionId") in (None, "null"):
                        continue
                    body = client.get_object(
                        Bucket=self.targets.bucket, Key=entry["Key"], VersionId=entry["VersionId"]
                    )["Body"].read()
                    if not _object_holds(entry["Key"], body, who):
                        continue
                    client.delete_object(
                        Bucket=self.targets.bucket, Key=entry["Key"], VersionId=entry["VersionId"]
                    )
                    removed += 1
                    progress(removed)
        return removed


def _object_holds(key: str, data: bytes, who: Identifiers) -> bool:
    """Whether an object (any format the platform writes under the erased prefixes) holds the customer."""
    name = key.lower()
    if name.endswith(".parquet"):
        return parquet_holds(data, who)
    if name.endswith(".tar.gz"):
        return archive_mentions(data, who)[0]
    if name.endswith(".npy"):
        return False  # numeric arrays; the version's users.json is what names users
    try:
        return without_customer(key, data, who).body is not None
    except (UnsupportedObject, UnicodeDecodeError, ValueError):
        # A raw file the job cannot parse is judged by its text: any mention counts.
        return who.mentioned_in(data.decode("utf-8", errors="replace"))


def _item_mentions(item: dict[str, Any], who: Identifiers) -> bool:
    text = json.dumps(item, default=str, ensure_ascii=False)
    return who.mentioned_in(text)
