"""Reconciliation: every object under `incoming/` ends with a manifest, landed or rejected.

The ingest path (S3 ObjectCreated -> SQS -> ingest function) can lose a file: a function that dies mid-way
(timeout, out of memory, a host crash, the local cloud killed) leaves no manifest, and when its message is
lost too (the local cloud's queues do not survive a crash) nothing would ever try again. The reconciler
closes that gap from the other end: it lists `incoming/`, finds objects with no manifest that are older than
the ingest queue's visibility timeout (so a message for them has had its chance) and re-drives them.

Re-driving copies the object onto itself. S3 announces the copy as a new ObjectCreated event, so the file
goes through exactly the path a fresh upload takes (notification, queue, retries, dead-letter queue), and the
reconciler needs nothing but S3 permissions. A copy may change the object's ETag (multipart uploads, a new
version in a versioned bucket), so the copy records the ETag the file was first delivered with in its
metadata (`FIRST_ETAG_METADATA`); ingestion derives the file's `file_id` from that ETag, which keeps every
output key (curated parts, rejection report, manifest) the same across re-drives: a retry overwrites what a
dead attempt left, it never adds to it. The changed ETag or version also gives the re-driven delivery a new
idempotency key, so a dead attempt's `INPROGRESS` record cannot block it.

A file that a re-drive did not land counts as *still stuck* (the alarm metric); after `MAX_REDRIVES`
re-drives it is left alone — a file that kills the function every time must not burn it forever — and an
operator looks at it (see docs/contracts.md, "After a crash").
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from shelfwise.aws import s3

# pyarrow-free on purpose: the reconcile function ships with the domain layer only (no data layer), so this
# module names the manifests' prefix itself instead of importing `shelfwise.curated` (checked by a test).
INCOMING_PREFIX = "incoming/"
MANIFESTS_PREFIX = "curated/_manifests/"
# User metadata (x-amz-meta-...) a re-drive adds to the object; S3 lower-cases metadata names.
FIRST_ETAG_METADATA = "shelfwise-first-etag"
REDRIVES_METADATA = "shelfwise-redrives"
MAX_REDRIVES = 3
# CopyObject copies at most 5 GiB in one request; a larger object would need a multipart copy.
MAX_COPY_BYTES = 5 * 1024**3


def file_id_for(bucket: str, key: str, etag: str) -> str:
    """A file's id: every output key of its ingestion (curated parts, report, manifest) derives from it."""
    return hashlib.sha256(f"{bucket}\n{key}\n{etag.strip(chr(34))}".encode()).hexdigest()[:24]


def first_etag(etag: str, metadata: dict[str, str] | None) -> str:
    """The ETag a file was first delivered with: the one its `file_id` and output keys derive from."""
    recorded = (metadata or {}).get(FIRST_ETAG_METADATA)
    return (recorded or etag).strip('"')


def delivered_etag(bucket: str, key: str, etag: str, *, s3_client: s3.S3Client) -> str:
    """`first_etag` for an object as it is now; the notified ETag when the object is gone."""
    info = s3.head(bucket, key, s3_client=s3_client)
    if info is None or info.etag != etag.strip('"'):
        # Gone, or replaced by a newer upload since the notification: this delivery is about `etag` itself.
        return etag.strip('"')
    return first_etag(etag, dict(info.metadata))


def redrives_of(metadata: dict[str, str]) -> int:
    try:
        return max(0, int(metadata.get(REDRIVES_METADATA, "0")))
    except ValueError:
        return 0


@dataclass
class Reconciliation:
    """What one reconciler run found and did; object keys, not contents."""

    checked: int = 0
    waiting: int = 0  # no manifest yet, but younger than the threshold: their own delivery is still due
    redriven: list[str] = field(default_factory=list)
    still_stuck: list[str] = field(default_factory=list)  # re-driven before and still without a manifest
    given_up: list[str] = field(default_factory=list)  # re-driven MAX_REDRIVES times; left for an operator
    failed: list[str] = field(default_factory=list)  # the re-drive copy itself failed; tried again next run

    def summary(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "waiting": self.waiting,
            "redriven": len(self.redriven),
            "still_stuck": len(self.still_stuck),
            "given_up": len(self.given_up),
            "failed": len(self.failed),
            "redriven_keys": self.redriven[:50],
            "still_stuck_keys": self.still_stuck[:50],
        }


def manifested_file_ids(bucket: str, *, s3_client: s3.S3Client) -> set[str]:
    """The file ids that have a manifest (`curated/_manifests/<kind>/<file_id>.json`), from one listing."""
    return {
        key.rsplit("/", 1)[-1].removesuffix(".json")
        for key in s3.list_keys(bucket, MANIFESTS_PREFIX, s3_client=s3_client)
        if key.endswith(".json")
    }


def reconcile(
    bucket: str,
    *,
    older_than: timedelta,
    s3_client: s3.S3Client | None = None,
    now: datetime | None = None,
    max_redrives: int | None = MAX_REDRIVES,
    file_id: Callable[[str, str, str], str] | None = None,
) -> Reconciliation:
    """Re-drive every object under `incoming/` without a manifest whose last write is older than `older_than`.

    `max_redrives=None` re-drives without a limit (the local cloud at start-up, where every unfinished file
    is known to be unfinished because the process that worked on it is gone).
    """
    client = s3_client or s3.client()
    moment = now or datetime.now(UTC)
    compute_id = file_id or file_id_for
    done = manifested_file_ids(bucket, s3_client=client)
    result = Reconciliation()
    for listed in _incoming(bucket, client):
        result.checked += 1
        if compute_id(bucket, listed.key, listed.etag) in done:
            continue
        if listed.last_modified is not None and moment - listed.last_modified < older_than:
            result.waiting += 1
            continue
        info = s3.head(bucket, listed.key, s3_client=client)
        if info is None:  # deleted since the listing
            continue
        metadata = dict(info.metadata)
        if compute_id(bucket, info.key, first_etag(info.etag, metadata)) in done:
            continue
        redrives = redrives_of(metadata)
        if redrives:
            result.still_stuck.append(info.key)
        if max_redrives is not None and redrives >= max_redrives:
            result.given_up.append(info.key)
            continue
        if info.size > MAX_COPY_BYTES:
            result.failed.append(info.key)
            continue
        try:
            redrive(bucket, info, s3_client=client)
        except ClientError:
            # Precondition failed (a newer upload replaced it: that upload has its own notification) or S3
            # refused; either way the next run looks again.
            result.failed.append(info.key)
            continue
        result.redriven.append(info.key)
    return result


def redrive(bucket: str, info: s3.ObjectInfo, *, s3_client: s3.S3Client) -> None:
    """Copy the object onto itself, recording its first ETag and how often it was re-driven."""
    metadata = dict(info.metadata)
    metadata[FIRST_ETAG_METADATA] = first_etag(info.etag, metadata)
    metadata[REDRIVES_METADATA] = str(redrives_of(metadata) + 1)
    s3.copy_in_place(bucket, info, metadata, s3_client=s3_client)


def _incoming(bucket: str, client: s3.S3Client) -> Iterable[s3.ObjectInfo]:
    for listed in s3.list_objects(bucket, INCOMING_PREFIX, s3_client=client):
        if listed.key.endswith("/"):  # a "folder" placeholder some tools create; not a delivered file
            continue
        yield listed
