"""Ingesting one dropped object: read, validate, land curated Parquet, report rejections, update DynamoDB.

Every processed object gets a manifest; files that are not tables at all get a rejection report saying why and
a manifest with rows_landed=0 instead of an exception. Only infrastructure failures (S3 or DynamoDB refusing a
request) raise, so the message is retried; reprocessing is safe because every output key derives from the
object's `file_id`.

Customer ids (`interactions.user_id`) are replaced by their keyed pseudonyms right after validation
(`shelfwise.privacy`), before anything is written, logged or published: curated Parquet and the activity table
hold pseudonyms only, and each file's new pseudonyms are remembered in the vault of customer ids
(`CustomerIdVault`). Chat messages in labelled training files are redacted the same way the chat API
redacts them. The dropped file under `incoming/` stays as delivered; the rejection report quotes a rejected
row's offending value, as the sender wrote it.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shelfwise import curated, stock
from shelfwise.aws import dynamodb, s3
from shelfwise.ingest import activity, reconcile
from shelfwise.ingest.contracts import CONTRACT_VERSION, CONTRACTS, FileContract
from shelfwise.ingest.reader import (
    DEFAULT_BLOCK_SIZE,
    DEFAULT_MAX_DECOMPRESSED_BYTES,
    FileRejected,
    TableFile,
)
from shelfwise.ingest.reconcile import file_id_for
from shelfwise.ingest.report import (
    HEADER_FIELD,
    FileError,
    IngestManifest,
    RejectionReportWriter,
    file_rejection,
    status_for,
)
from shelfwise.ingest.validate import ValidatedChunk, validate_chunk
from shelfwise.privacy import erasure_deny_list
from shelfwise.privacy.columns import CUSTOMER_COLUMN, pseudonymize_column
from shelfwise.privacy.identities import CustomerIdVault
from shelfwise.privacy.pseudonyms import Pseudonymizer

INCOMING_PREFIX = "incoming/"
REJECTED_PREFIX = "rejected/"
UNKNOWN_KIND = "unknown"
ACTIVITY_USERS_PER_BLOCK = 2_000
CATALOG_ROWS_PER_BATCH = 10_000

Progress = Callable[[dict[str, Any]], None]
MEMORY_LIMIT_CODE = "memory_limit"
MEMORY_LIMIT_REASON = (
    "reading the file needed more memory than ingestion may use; split it into smaller files"
)
# Kinds whose `user_id` is a customer id, pseudonymized before anything lands.
CUSTOMER_KINDS = frozenset({"interactions"})
# Kinds whose `text` is a customer's chat message: redacted as the chat API redacts a message
# (`shelfwise.chat.redact`) before it lands, so curated files and the models trained on them hold no e-mail
# address, phone, card or IBAN, and training sees messages as serving does.
CHAT_TEXT_KINDS = frozenset({"chat-training", "chat-sentiment"})


class PseudonymsUnavailable(RuntimeError):
    """A file of customer data arrived but ingestion was given no pseudonymizer or vault: a configuration
    error. The message fails (and is retried, then dead-lettered) rather than land raw customer ids."""


@dataclass(frozen=True)
class IngestTargets:
    data_bucket: str
    catalog_table: str
    user_activity_table: str
    # The vault of customer ids (pseudonym -> retailer's id); needed for files of customer data.
    customer_ids_table: str | None = None


@dataclass(frozen=True)
class IngestOptions:
    block_size: int = DEFAULT_BLOCK_SIZE
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES


def kind_of(key: str) -> str | None:
    """The contract kind for `incoming/<kind>/<name>`, or None for any other key."""
    parts = key.split("/")
    if len(parts) >= 3 and f"{parts[0]}/" == INCOMING_PREFIX and parts[1] in CONTRACTS and parts[-1]:
        return parts[1]
    return None


def rejection_report_key(kind: str, key: str, file_id: str) -> str:
    name = PurePosixPath(key).name or "object"
    return f"{REJECTED_PREFIX}{kind}/{name}.{file_id}.rejections.csv"


class _PartWriters:
    """One Parquet writer per curated partition, each streaming into a multipart upload of its part.

    Only the part of each upload not yet sent sits in the scratch directory (`s3.SpooledUpload`), so scratch
    space grows with the number of partitions, not with the file. Nothing is visible in the bucket until
    `upload` completes them all; `abort` (a file rejected halfway) leaves curated data as it was.
    """

    def __init__(self, kind: str, file_id: str, bucket: str, workdir: Path, s3_client: s3.S3Client) -> None:
        self.kind = kind
        self.file_id = file_id
        self.bucket = bucket
        self.workdir = workdir
        self.s3_client = s3_client
        self.writers: dict[str | None, tuple[pq.ParquetWriter, s3.SpooledUpload]] = {}

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        for partition, part in self._split(table):
            if partition not in self.writers:
                sink = s3.SpooledUpload(
                    self.bucket,
                    curated.part_key(self.kind, self.file_id, partition),
                    self.workdir / f"part-{len(self.writers)}.parquet",
                    s3_client=self.s3_client,
                )
                self.writers[partition] = (pq.ParquetWriter(sink, table.schema, compression="zstd"), sink)
            self.writers[partition][0].write_table(part)

    def _split(self, table: pa.Table) -> list[tuple[str | None, pa.Table]]:
        if self.kind == "interactions":
            labels = pc.strftime(table.column("timestamp"), format="dt=%Y-%m-%d")
        elif self.kind == "sales":
            labels = pc.strftime(pc.cast(table.column("date"), pa.timestamp("s")), format="month=%Y-%m")
        else:
            return [(None, table)]
        order = pc.sort_indices(labels)
        ordered, ordered_labels = table.take(order), labels.take(order).combine_chunks()
        runs = pc.run_end_encode(ordered_labels)
        start, parts = 0, []
        for end, label in zip(runs.run_ends.to_pylist(), runs.values.to_pylist(), strict=True):
            parts.append((label, ordered.slice(start, end - start)))
            start = end
        return parts

    def upload(self) -> list[str]:
        keys = []
        try:
            for partition, (writer, sink) in sorted(self.writers.items(), key=lambda entry: entry[0] or ""):
                writer.close()  # writes the Parquet footer into the sink
                sink.complete()
                keys.append(sink.key)
                del self.writers[partition]
        except BaseException:
            self.abort()  # the message is retried and rewrites every part under the same keys
            raise
        return keys

    def abort(self) -> None:
        for writer, sink in self.writers.values():
            sink.abort()
            writer.close()  # releases the writer; the footer it writes goes nowhere
        self.writers = {}


class _OnlineSink:
    """What online serving reads from DynamoDB: the catalog and each user's recent activity."""

    def __init__(
        self,
        kind: str,
        targets: IngestTargets,
        dynamo: dynamodb.DynamoResource,
        report_progress: Progress,
    ) -> None:
        self.kind = kind
        self.targets = targets
        self.dynamo = dynamo
        self.report_progress = report_progress
        self.items_written = 0
        self._catalog: list[pa.Table] = []
        self._activity: pa.Table | None = None
        self._customer_ids: dict[str, str] = {}

    def remember(self, customer_ids: dict[str, str]) -> None:
        """The file's `{pseudonym: customer_id}` pairs, for the vault (buffered like everything else here)."""
        self._customer_ids.update(customer_ids)

    def add(self, valid: pa.Table) -> None:
        """Buffers until `finish`, so a file rejected halfway through leaves DynamoDB untouched."""
        if valid.num_rows == 0:
            return
        if self.kind == "catalog":
            self._catalog.append(valid)
        elif self.kind == "interactions":
            # Folding per chunk keeps memory bounded by users x MAX_RECENT, not by the file's rows.
            self._activity = activity.fold_newest(self._activity, activity.activity_rows(valid))

    def finish(self) -> None:
        if self._customer_ids:
            # Before the activity: anything holding a pseudonym has its vault entry by the time it is visible.
            table_name = self.targets.customer_ids_table
            assert table_name is not None, "checked before the first row was read"
            CustomerIdVault(table_name, self.dynamo).remember(self._customer_ids)
            self._customer_ids = {}
        for valid in self._catalog:
            self.items_written += dynamodb.batch_put(
                self.targets.catalog_table, _catalog_items(valid), key_names=["item_id"], dynamodb=self.dynamo
            )
            self.report_progress({"phase": "dynamodb", "items_written": self.items_written})
        self._catalog = []
        if self._activity is None:
            return
        # Whole users per block: one read and one write per user, with only a block's Python objects alive.
        # Activity items are built in typed form and go through a client that sends them as they are.
        client = dynamodb.typed_client(self.dynamo)
        for block in activity.user_blocks(self._activity, ACTIVITY_USERS_PER_BLOCK):
            incoming = activity.group_by_user(block)
            stored = dynamodb.batch_get_typed(
                self.targets.user_activity_table,
                "user_id",
                list(incoming),
                attributes=["recent", "format_version"],
                client=client,
            )
            items = (
                activity.activity_item(
                    user_id, activity.merge_recent(activity.stored_recent(stored.get(user_id)), events)
                )
                for user_id, events in incoming.items()
            )
            self.items_written += dynamodb.batch_put_typed(
                self.targets.user_activity_table, items, key_names=["user_id"], client=client
            )
            self.report_progress({"phase": "dynamodb", "items_written": self.items_written})
        self._activity = None


def _pseudonymized(
    validated: ValidatedChunk,
    pseudonymizer: Pseudonymizer,
    online: _OnlineSink,
    deny_markers: frozenset[str] = frozenset(),
) -> tuple[ValidatedChunk, int]:
    """The chunk's valid rows with each customer id replaced by its pseudonym; the pairs go to the vault.

    Rows of erased customers (on the deny list, `shelfwise.privacy.erasure_deny_list`) are left out, and
    their ids never reach the vault: a re-delivered old file does not bring them back. Returns how many.
    """
    valid, customer_ids = pseudonymize_column(validated.valid, pseudonymizer)
    erased = erasure_deny_list.denied(customer_ids, deny_markers)
    if erased:
        wanted = pa.array(sorted(erased), pa.string())
        kept = valid.filter(
            pc.fill_null(pc.invert(pc.is_in(valid.column(CUSTOMER_COLUMN), value_set=wanted)), True)
        )
        erased_rows = valid.num_rows - kept.num_rows
        valid = kept
        customer_ids = {pseudonym: raw for pseudonym, raw in customer_ids.items() if pseudonym not in erased}
    else:
        erased_rows = 0
    online.remember(customer_ids)
    return dataclasses.replace(validated, valid=valid), erased_rows


def _redacted(validated: ValidatedChunk) -> ValidatedChunk:
    # Imported here: the PII matchers load only for chat files.
    from shelfwise.chat.redact import redact

    valid = validated.valid
    position = valid.schema.get_field_index("text")
    texts = [redact(text).text if text else text for text in valid.column(position).to_pylist()]
    field = valid.schema.field(position)
    return dataclasses.replace(
        validated, valid=valid.set_column(position, field, pa.array(texts, type=field.type))
    )


def _catalog_items(valid: pa.Table) -> Iterator[dict[str, Any]]:
    for batch in valid.to_batches(max_chunksize=CATALOG_ROWS_PER_BATCH):
        for row in batch.to_pylist():
            item = {name: value for name, value in row.items() if value is not None and value != ""}
            if "price" in item:
                item["price"] = dynamodb.to_decimal(item["price"])
            yield item


def _header_problem(contract: FileContract, columns: list[str]) -> str | None:
    missing = [name for name in contract.required_columns if name not in columns]
    if not missing:
        return None
    return f"missing required column(s): {', '.join(missing)}; the header has: {', '.join(columns)}"


def ingest_object(
    source_bucket: str,
    key: str,
    etag: str,
    targets: IngestTargets,
    *,
    s3_client: s3.S3Client | None = None,
    dynamo: dynamodb.DynamoResource | None = None,
    options: IngestOptions | None = None,
    progress: Progress | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    failure: FileError | None = None,
    pseudonymizer: Pseudonymizer | None = None,
) -> IngestManifest:
    """Ingest one object. With `failure`, the object is not read: it is rejected whole for that reason (an
    attempt that could not finish — its worker died or ran out of memory — still ends as a report).

    Files of customer data (`CUSTOMER_KINDS`) need `pseudonymizer` and `targets.customer_ids_table`; without
    them `PseudonymsUnavailable` is raised before anything is written."""
    s3_client = s3_client or s3.client()
    options = options or IngestOptions()
    started_at = clock()
    # A re-driven object (see reconcile.py) keeps the file_id of its first delivery, so a retry overwrites
    # whatever a dead attempt left instead of landing the rows a second time under new keys.
    file_id = file_id_for(
        source_bucket, key, reconcile.delivered_etag(source_bucket, key, etag, s3_client=s3_client)
    )
    kind = kind_of(key)
    report_key = rejection_report_key(kind or UNKNOWN_KIND, key, file_id)
    manifest: dict[str, Any] = {
        "contract_version": CONTRACT_VERSION,
        "kind": kind or UNKNOWN_KIND,
        "file_id": file_id,
        "source_bucket": source_bucket,
        "source_key": key,
        "etag": etag.strip('"'),
        "started_at": started_at,
    }
    with tempfile.TemporaryDirectory(prefix="shelfwise-ingest-") as workdir_name:
        workdir = Path(workdir_name)
        report_sink = s3.SpooledUpload(
            targets.data_bucket,
            report_key,
            workdir / "rejections.csv",
            content_type="text/csv",
            s3_client=s3_client,
        )
        report = RejectionReportWriter(report_sink)
        file_error: FileError | None = None
        if kind is None:
            file_error = FileError(
                code="unknown_kind",
                reason=f"key is not under incoming/<kind>/ with kind one of {', '.join(CONTRACTS)}",
            )
        elif failure is not None:
            file_error = failure
        else:
            try:
                file_error = _ingest_rows(
                    source_bucket, key, kind, file_id, targets, workdir, report, manifest,
                    s3_client=s3_client, dynamo=dynamo or dynamodb.resource(), options=options,
                    progress=progress, pseudonymizer=pseudonymizer,
                )  # fmt: skip
            except BaseException:
                report_sink.abort()  # the message is retried; its report is rewritten from the start
                raise
        if file_error is not None:
            report.write(file_rejection(file_error.reason, **_rejection_location(file_error)))
            manifest.update(rows_landed=0, curated_keys=[], file_error=file_error)
        manifest["problems_reported"] = report.count
        if report.close():
            report_sink.complete()
            manifest["rejection_report_key"] = report_key
        else:
            report_sink.abort()
    # Rows of erased customers are neither landed nor rejected: counted apart, as `rows_erased`.
    manifest["status"] = status_for(
        manifest.get("rows_total", 0) - manifest.get("rows_erased", 0),
        manifest.get("rows_landed", 0),
        file_error,
    )
    manifest["finished_at"] = clock()
    result = IngestManifest.model_validate(manifest)
    s3.put_bytes(
        targets.data_bucket,
        curated.manifest_key(result.kind, file_id),
        result.model_dump_json(indent=2).encode(),
        content_type="application/json",
        s3_client=s3_client,
    )
    if result.kind == "inventory" and result.rows_landed:
        stock.publish_out_of_stock(targets.data_bucket, s3_client=s3_client)
    return result


def _rejection_location(error: FileError) -> dict[str, Any]:
    if error.code == "missing_columns":
        return {"field": HEADER_FIELD, "line": 1}
    return {}


def _ingest_rows(
    source_bucket: str,
    key: str,
    kind: str,
    file_id: str,
    targets: IngestTargets,
    workdir: Path,
    report: RejectionReportWriter,
    manifest: dict[str, Any],
    *,
    s3_client: s3.S3Client,
    dynamo: dynamodb.DynamoResource,
    options: IngestOptions,
    progress: Progress | None,
    pseudonymizer: Pseudonymizer | None = None,
) -> FileError | None:
    contract = CONTRACTS[kind]
    if kind in CUSTOMER_KINDS and (pseudonymizer is None or targets.customer_ids_table is None):
        raise PseudonymsUnavailable(
            f"{kind} files hold customer ids: ingestion needs the pseudonym key and the customer-ids table"
        )

    def tell_progress(update: dict[str, Any]) -> None:
        if progress:
            progress({"key": key, **update})

    info = s3.head(source_bucket, key, s3_client=s3_client)
    if info is None:
        return FileError(code="missing_object", reason="the object no longer exists")
    # Read in place with ranged GETs: no copy of the file in scratch space, whatever its size. Reads are
    # pinned to this version; if it is replaced meanwhile, s3.ObjectChanged propagates and the message is
    # retried, reading the new version from the start.
    source_info = info
    parts = _PartWriters(kind, file_id, targets.data_bucket, workdir, s3_client)
    try:
        table_file = TableFile(
            lambda: s3.open_object(source_bucket, source_info, s3_client=s3_client),
            block_size=options.block_size,
            max_decompressed_bytes=options.max_decompressed_bytes,
        )
        manifest["format"] = table_file.format
        header_problem = _header_problem(contract, table_file.columns)
        if header_problem:
            return FileError(code="missing_columns", reason=header_problem)
        known = {spec.name for spec in contract.columns}
        if not contract.keep_extra_columns:
            manifest["ignored_columns"] = [name for name in table_file.columns if name not in known]
        online = _OnlineSink(kind, targets, dynamo, tell_progress)
        totals = {"rows_total": 0, "rows_landed": 0, "rows_rejected": 0, "rows_erased": 0, "blank_lines": 0}
        deny_markers = (
            erasure_deny_list.markers(targets.data_bucket, s3_client=s3_client)
            if kind in CUSTOMER_KINDS
            else frozenset()
        )
        for number, chunk in enumerate(table_file.chunks(), start=1):
            validated = validate_chunk(contract, chunk)
            if kind in CUSTOMER_KINDS:
                assert pseudonymizer is not None
                validated, erased_rows = _pseudonymized(validated, pseudonymizer, online, deny_markers)
                totals["rows_erased"] += erased_rows
            if kind in CHAT_TEXT_KINDS:
                validated = _redacted(validated)
            parts.write(validated.valid)
            report.write(validated.rejections)
            online.add(validated.valid)
            totals["rows_total"] += validated.rows_total
            totals["rows_landed"] += validated.valid.num_rows
            totals["rows_rejected"] += validated.rows_rejected
            totals["blank_lines"] += validated.blank_rows
            tell_progress({"chunk": number, **totals})
    except FileRejected as rejected:
        parts.abort()
        return FileError(code=rejected.code, reason=rejected.reason)
    except MemoryError:
        # Nothing reached DynamoDB yet (the online sink buffers until `finish`); what was read is garbage now.
        parts.abort()
        return FileError(code=MEMORY_LIMIT_CODE, reason=MEMORY_LIMIT_REASON)
    except BaseException:
        parts.abort()
        raise
    manifest.update(totals)
    manifest["curated_keys"] = parts.upload()
    tell_progress({"phase": "files_written", **totals})
    online.finish()
    manifest["dynamodb_items_written"] = online.items_written
    return None
