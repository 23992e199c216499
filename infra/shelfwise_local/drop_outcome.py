"""`shelfwise drop KIND FILE --wait`: upload a file, wait for ingestion's manifest and tell the sender.

The manifest's key is known before the upload: ingestion names it after the object's `file_id`, a hash of
bucket, key and ETag, and the ETag of a single-part upload is the MD5 of its bytes. So the command can tell
a re-delivery (the manifest is already there: "already delivered before") from a new file, and waits for
exactly its own manifest instead of guessing from listings.

Exit codes: 0 landed (possibly with rejected rows), 1 rejected whole (nothing landed), 3 no outcome in time.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from shelfwise import curated
from shelfwise.ingest import outcomes
from shelfwise.ingest.pipeline import file_id_for, kind_of
from shelfwise.ingest.report import IngestManifest
from shelfwise_infra import spec

from shelfwise_local.dropbox import incoming_key, upload_file

EXIT_TIMED_OUT = 3
POLL_SECONDS = 0.3
# The first problems are shown on the terminal; the whole report is saved next to the local cloud's state.
REPORT_PREVIEW_BYTES = 64 * 1024
LOCAL_REPORTS_DIR = "rejected"

Print = Callable[[str], None]


@dataclass(frozen=True)
class Dropped:
    key: str
    file_id: str
    manifest_key: str
    previous: IngestManifest | None  # the manifest of an earlier delivery of the same bytes under this key


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(s3: Any, bucket: str, key: str) -> IngestManifest | None:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            return None
        raise
    return IngestManifest.model_validate_json(body)


def drop(s3: Any, kind: str, path: Path) -> Dropped:
    """Upload `path` to `incoming/<kind>/`; notes an earlier outcome for the same bytes under the same key."""
    bucket = spec.DATA_BUCKET.local_name
    key = incoming_key(kind, path.name)
    file_id = file_id_for(bucket, key, md5_of(path))
    manifest_key = curated.manifest_key(kind_of(key) or "unknown", file_id)
    previous = read_manifest(s3, bucket, manifest_key)
    upload_file(s3, kind, path)
    return Dropped(key=key, file_id=file_id, manifest_key=manifest_key, previous=previous)


def wait_for_manifest(s3: Any, manifest_key: str, timeout: float) -> IngestManifest | None:
    deadline = time.monotonic() + timeout
    while True:
        manifest = read_manifest(s3, spec.DATA_BUCKET.local_name, manifest_key)
        if manifest is not None or time.monotonic() >= deadline:
            return manifest
        time.sleep(POLL_SECONDS)


def first_problems(s3: Any, report_key: str, count: int = outcomes.SHOWN_PROBLEMS) -> list[str]:
    """The report's first problems as lines for a terminal (only the report's head is read)."""
    head = s3.get_object(
        Bucket=spec.DATA_BUCKET.local_name, Key=report_key, Range=f"bytes=0-{REPORT_PREVIEW_BYTES - 1}"
    )["Body"].read()
    rows = list(csv.DictReader(io.StringIO(head.decode("utf-8", "replace"))))
    if len(head) >= REPORT_PREVIEW_BYTES:
        rows = rows[:-1]  # the last row may be cut off in the middle
    lines = []
    for row in rows[:count]:
        where = "the file" if row.get("line") == "0" else f"line {row.get('line')}"
        value = f" (value {json.dumps(row['value'], ensure_ascii=False)})" if row.get("value") else ""
        lines.append(f"  {where}, {row.get('field')}: {row.get('reason')}{value}")
    return lines


def save_report(s3: Any, report_key: str, state_dir: Path) -> Path:
    """A local copy of the report, so it opens in a spreadsheet without an S3 client."""
    target = state_dir / LOCAL_REPORTS_DIR / Path(report_key).relative_to(spec.REJECTED_PREFIX)
    target.parent.mkdir(parents=True, exist_ok=True)
    s3.download_file(spec.DATA_BUCKET.local_name, report_key, str(target))
    return target


def report_outcome(s3: Any, manifest: IngestManifest, *, state_dir: Path, already: bool, say: Print) -> int:
    bucket = spec.DATA_BUCKET.local_name
    lines = outcomes.summary_lines(manifest, bucket, already=already)
    for line in lines:
        say(line)
        if line.startswith("rejection report:") and manifest.rejection_report_key:
            for problem in first_problems(s3, manifest.rejection_report_key):
                say(problem)
            if manifest.problems_reported > outcomes.SHOWN_PROBLEMS:
                say(f"  ... and {manifest.problems_reported - outcomes.SHOWN_PROBLEMS:,} more in the report")
            say(f"  local copy: {save_report(s3, manifest.rejection_report_key, state_dir)}")
    return outcomes.exit_code(manifest)


def drop_and_wait(
    s3: Any, kind: str, path: Path, *, state_dir: Path, timeout: float, say: Print, warn: Print
) -> int:
    dropped = drop(s3, kind, path)
    say(f"s3://{spec.DATA_BUCKET.local_name}/{dropped.key}")
    if dropped.previous is not None:
        return report_outcome(s3, dropped.previous, state_dir=state_dir, already=True, say=say)
    manifest = wait_for_manifest(s3, dropped.manifest_key, timeout)
    if manifest is None:
        warn(
            f"no outcome for {dropped.key} within {timeout:g} s; it is still queued or being processed "
            f"(its manifest will be s3://{spec.DATA_BUCKET.local_name}/{dropped.manifest_key})"
        )
        return EXIT_TIMED_OUT
    return report_outcome(s3, manifest, state_dir=state_dir, already=False, say=say)
