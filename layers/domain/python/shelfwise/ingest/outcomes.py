"""What the sender and upstream systems learn about a dropped file once ingestion is done.

Three views of one `IngestManifest`, all without row contents (a rejected value may be personal data; only
the rejection report, which the data owner reads, shows values):

- `summary_lines` / `exit_code`: what `shelfwise drop --wait` prints and returns;
- `outcome_event`: the `FileIngested` / `FileRejected` integration event for the platform bus;
- the ingested-files log: one DynamoDB item per processed file (`log_item`), listed newest first by the
  operations route `GET /v1/ingest/files` (`list_files`), paged with an opaque cursor.

The log is partitioned by the UTC day the file finished (`day`, sort key `<finished_at>#<file_id>`), so a
listing reads only the days it covers and one busy day never makes a hot key for long. Items expire after the
deployment's rejection-report retention (`settings.rejected_retention_days`), as the reports they point at do.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from shelfwise import settings
from shelfwise.api.errors import InvalidCursor
from shelfwise.aws import dynamodb, events
from shelfwise.ingest.status import FileError, IngestStatus

if TYPE_CHECKING:  # the listing side runs without pyarrow, which the manifest's module needs
    from shelfwise.ingest.report import IngestManifest

FILE_INGESTED = "FileIngested"
FILE_REJECTED = "FileRejected"
DEFAULT_LISTING_DAYS = 7
# The contract kinds (`contracts.CONTRACTS`, checked by a test) and `unknown` for keys outside them.
IngestKind = Literal[
    "catalog",
    "interactions",
    "sales",
    "inventory",
    "promotions",
    "chat-training",
    "chat-sentiment",
    "chat-replies",
    "unknown",
]
# How many problems `drop --wait` shows from the report; the report itself has them all.
SHOWN_PROBLEMS = 5
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def log_retention() -> timedelta:
    """How long a log item is kept after its file finished: as long as its rejection report."""
    return timedelta(days=settings.rejected_retention_days())


def ingest_files_table() -> str:
    name = os.environ.get(settings.INGEST_FILES_TABLE_ENV)
    if not name:
        raise RuntimeError(
            f"{settings.INGEST_FILES_TABLE_ENV} is not set; the platform spec sets it on every function"
        )
    return name


def manifest_key(manifest: IngestManifest) -> str:
    from shelfwise import curated

    return curated.manifest_key(manifest.kind, manifest.file_id)


def rejected_whole(manifest: IngestManifest) -> bool:
    """Nothing of the file landed: it was unreadable, or every row was rejected."""
    return manifest.status == "rejected"


# -- the sender: `shelfwise drop --wait` --------------------------------------------------------------------


def headline(manifest: IngestManifest) -> str:
    name = manifest.source_key
    if manifest.file_error is not None:
        return f"{name}: rejected whole — {manifest.file_error.reason} ({manifest.file_error.code})"
    rows = f"{manifest.rows_landed:,} of {manifest.rows_total:,} rows landed"
    if manifest.rows_erased:
        rows += f" ({manifest.rows_erased:,} of erased customers left out)"
    if manifest.status == "landed":
        return f"{name}: landed — {rows}"
    if manifest.status == "empty":
        return f"{name}: landed — the file has no data rows"
    if manifest.status == "rejected":
        return f"{name}: rejected whole — every row was rejected ({manifest.rows_rejected:,} rows)"
    return f"{name}: landed with rejections — {rows}, {manifest.rows_rejected:,} rejected"


def summary_lines(manifest: IngestManifest, bucket: str, *, already: bool = False) -> list[str]:
    """The outcome as a few lines for a person: what happened, where the report and the manifest are."""
    lines = [("already delivered before; " if already else "") + headline(manifest)]
    if manifest.rejection_report_key:
        lines.append(
            f"rejection report: s3://{bucket}/{manifest.rejection_report_key} "
            f"({manifest.problems_reported:,} problem(s))"
        )
    lines.append(f"manifest: s3://{bucket}/{manifest_key(manifest)}")
    return lines


def exit_code(manifest: IngestManifest) -> int:
    return 1 if rejected_whole(manifest) else 0


# -- upstream systems: the integration events ---------------------------------------------------------------


def outcome_event(manifest: IngestManifest, data_bucket: str) -> tuple[str, dict[str, Any]]:
    """(detail type, detail) of the event announcing `manifest`; counts and keys only, never row contents.

    The file error's reason is left out on purpose: for an unparseable file it may quote the file's text.
    Its `code` says what went wrong; the report says it in full.
    """
    detail: dict[str, Any] = {
        "kind": manifest.kind,
        "file_id": manifest.file_id,
        "bucket": manifest.source_bucket,
        "key": manifest.source_key,
        "status": manifest.status,
        "rows_total": manifest.rows_total,
        "rows_landed": manifest.rows_landed,
        "rows_rejected": manifest.rows_rejected,
        "rows_erased": manifest.rows_erased,
        "data_bucket": data_bucket,
        "rejection_report_key": manifest.rejection_report_key,
        "manifest_key": manifest_key(manifest),
        "error_code": manifest.file_error.code if manifest.file_error else None,
        "finished_at": _timestamp(manifest.finished_at),
    }
    return (FILE_REJECTED if rejected_whole(manifest) else FILE_INGESTED), detail


# -- operators: the ingested-files log ---------------------------------------------------------------------


class IngestedFile(BaseModel):
    kind: str = Field(description="Contract kind (`incoming/<kind>/`), or `unknown` for a key outside it.")
    file_id: str = Field(description="Stable id of the delivered object (bucket, key and ETag).")
    source_key: str = Field(description="The object's key in the bucket it was dropped into.")
    status: IngestStatus = Field(
        description="`landed` (every row), `partially_rejected` (valid rows landed, bad rows reported), "
        "`rejected` (nothing landed: see `error` or the report), `empty` (no data rows)."
    )
    rows_total: int
    rows_landed: int
    rows_rejected: int
    rows_erased: int = Field(
        default=0,
        description="Rows of erased customers, left out on purpose (neither landed nor rejected).",
    )
    problems_reported: int = Field(description="Lines in the rejection report (one per row and field).")
    rejection_report_key: str | None = Field(description="Key of the rejection report in the data bucket.")
    rejection_report_url: str | None = Field(
        default=None, description="A pre-signed link to the rejection report, valid for 15 minutes."
    )
    manifest_key: str = Field(description="Key of the file's manifest in the data bucket.")
    error: FileError | None = Field(default=None, description="Why the file was rejected whole.")
    started_at: datetime
    finished_at: datetime


class IngestedFilesResponse(BaseModel):
    files: list[IngestedFile] = Field(description="Newest first.")
    next_cursor: str | None = Field(
        default=None,
        description="Pass as `cursor` (with the same filters) for the next page; null on the last.",
    )


def _timestamp(moment: datetime) -> str:
    """Fixed-width UTC text, so that sort keys order as the moments do."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def log_item(manifest: IngestManifest) -> dict[str, Any]:
    finished = _timestamp(manifest.finished_at)
    item: dict[str, Any] = {
        "day": finished[:10],
        "file_key": f"{finished}#{manifest.file_id}",
        "kind": manifest.kind,
        "file_id": manifest.file_id,
        "source_key": manifest.source_key,
        "status": manifest.status,
        "rows_total": manifest.rows_total,
        "rows_landed": manifest.rows_landed,
        "rows_rejected": manifest.rows_rejected,
        "rows_erased": manifest.rows_erased,
        "problems_reported": manifest.problems_reported,
        "manifest_key": manifest_key(manifest),
        "started_at": _timestamp(manifest.started_at),
        "finished_at": finished,
        "expires_at": int((manifest.finished_at + log_retention()).timestamp()),
    }
    if manifest.rejection_report_key:
        item["rejection_report_key"] = manifest.rejection_report_key
    if manifest.file_error:
        item["error_code"] = manifest.file_error.code
        item["error_reason"] = manifest.file_error.reason
    return item


def record(
    manifest: IngestManifest, table_name: str, *, dynamo: dynamodb.DynamoResource | None = None
) -> None:
    dynamodb.table(table_name, dynamodb=dynamo).put_item(Item=log_item(manifest))


def announce(
    manifest: IngestManifest,
    *,
    data_bucket: str,
    table_name: str,
    bus_name: str | None = None,
    events_client: events.EventsClient | None = None,
    dynamo: dynamodb.DynamoResource | None = None,
) -> str:
    """Tell the bus, then log the file's outcome for operators; returns the event's detail type.

    In this order a logged outcome proves the event was published: a crash in between leaves a manifest with
    no log item, which recovery announces again. Upstream systems may therefore see an event twice (at least
    once delivery) and drop the repeat by `file_id`.
    """
    detail_type, detail = outcome_event(manifest, data_bucket)
    events.publish(detail_type, detail, bus_name=bus_name, events_client=events_client)
    record(manifest, table_name, dynamo=dynamo)
    return detail_type


def logged_file_ids(table_name: str, *, dynamo: dynamodb.DynamoResource | None = None) -> set[str]:
    """Every file whose outcome is in the log (within its retention)."""
    items = dynamodb.scan_all(table_name, attributes=["file_id"], dynamodb=dynamo)
    return {str(item["file_id"]) for item in items}


def _from_item(item: Mapping[str, Any], presign: Callable[[str], str] | None) -> IngestedFile:
    report_key = item.get("rejection_report_key")
    error = (
        FileError(code=item["error_code"], reason=item.get("error_reason", ""))
        if "error_code" in item
        else None
    )
    return IngestedFile(
        kind=item["kind"],
        file_id=item["file_id"],
        source_key=item["source_key"],
        status=item["status"],
        rows_total=int(item.get("rows_total", 0)),
        rows_landed=int(item.get("rows_landed", 0)),
        rows_rejected=int(item.get("rows_rejected", 0)),
        rows_erased=int(item.get("rows_erased", 0)),
        problems_reported=int(item.get("problems_reported", 0)),
        rejection_report_key=report_key,
        rejection_report_url=presign(report_key) if presign and report_key else None,
        manifest_key=item["manifest_key"],
        error=error,
        started_at=item["started_at"],
        finished_at=item["finished_at"],
    )


def encode_cursor(day: str, file_key: str) -> str:
    raw = json.dumps({"d": day, "k": file_key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, oldest: date, newest: date) -> tuple[str, str]:
    """(day, file_key) to go on from; `InvalidCursor` for anything this listing did not hand out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
        day, file_key = position["d"], position["k"]
        valid = isinstance(day, str) and isinstance(file_key, str) and bool(_DAY.match(day))
        valid = valid and file_key.startswith(day) and oldest <= date.fromisoformat(day) <= newest
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        valid = False
    if not valid:
        raise InvalidCursor(
            "cursor is not one this listing handed out (or its filters changed); start again without it",
            field="query.cursor",
        )
    return day, file_key


def list_files(
    table_name: str,
    *,
    kind: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
    presign: Callable[[str], str] | None = None,
    now: datetime | None = None,
    dynamo: dynamodb.DynamoResource | None = None,
) -> IngestedFilesResponse:
    """Files that finished at or after `since` (default: the last `DEFAULT_LISTING_DAYS` days), newest first.

    Reads one day partition after the other, newest first, until the page is full; a page that ends inside a
    day hands out a cursor at its last file.
    """
    from boto3.dynamodb.conditions import Attr, Key

    now = (now or datetime.now(UTC)).astimezone(UTC)
    oldest_allowed = now - log_retention()
    since = max((since or now - timedelta(days=DEFAULT_LISTING_DAYS)).astimezone(UTC), oldest_allowed)
    since_key = _timestamp(since)
    day = now.date()
    start_key: dict[str, str] | None = None
    if cursor:
        cursor_day, cursor_key = decode_cursor(cursor, oldest=since.date(), newest=now.date())
        day, start_key = date.fromisoformat(cursor_day), {"day": cursor_day, "file_key": cursor_key}
    filters = []
    if kind:
        filters.append(Attr("kind").eq(kind))
    if status:
        filters.append(Attr("status").eq(status))
    table = dynamodb.table(table_name, dynamodb=dynamo)
    found: list[dict[str, Any]] = []
    # One more than the page: a full page then knows whether anything follows it.
    wanted = limit + 1
    while day >= since.date() and len(found) < wanted:
        request: dict[str, Any] = {
            "KeyConditionExpression": Key("day").eq(day.isoformat()) & Key("file_key").gte(since_key),
            "ScanIndexForward": False,
        }
        if filters:
            combined = filters[0]
            for extra in filters[1:]:
                combined = combined & extra
            request["FilterExpression"] = combined
        while len(found) < wanted:
            request["Limit"] = wanted - len(found)
            if start_key:
                request["ExclusiveStartKey"] = start_key
            response = table.query(**request)
            found.extend(response.get("Items", []))
            start_key = response.get("LastEvaluatedKey")
            if not start_key:
                break
        day, start_key = day - timedelta(days=1), None
    page = found[:limit]
    next_cursor = encode_cursor(page[-1]["day"], page[-1]["file_key"]) if len(found) > limit else None
    return IngestedFilesResponse(files=[_from_item(item, presign) for item in page], next_cursor=next_cursor)
