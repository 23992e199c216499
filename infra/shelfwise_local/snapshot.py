"""Persistence of the local cloud: moto keeps state in memory, so S3 objects and DynamoDB items are
snapshotted to `<state-dir>/snapshot/` and restored at the next start.

Layout: `state.json` lists every object (key, content type, encoding, metadata, blob name) and every table's
item file; object bodies live in `blobs/<sha256>` and table items in `dynamodb/<table>-<sha256>.json`
(DynamoDB JSON with type descriptors; binary values base64-encoded). Content-addressed files are written
first (temp file + rename) and `state.json` last (temp file + rename), so a crash mid-snapshot leaves the
previous snapshot intact; files no longer referenced are removed afterwards.

A snapshot is one moment of the whole local AWS: while it reads S3 and DynamoDB, requests that would change
either wait (`ChangeCounter.writes_paused`). So after a crash the restored state is what AWS would hold had
the functions died at that moment — never a manifest without the curated parts it names, nor DynamoDB writes
from after the S3 state — and reconciliation (shelfwise.ingest.reconcile) finishes what was cut off.

Of SQS only the dead-letter queues are kept (their messages are the record of what failed, for
`shelfwise redrive`); messages in the trigger queues are not: a file whose message is lost has no manifest,
and the local cloud re-drives every such file at start-up.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from moto.dynamodb.models import dynamodb_backends
from moto.s3.models import s3_backends
from moto.sqs.models import sqs_backends
from shelfwise_infra import spec

from shelfwise_local.functions import ACCOUNT_ID, REGION

FORMAT_VERSION = 1
STATE_FILE = "state.json"
_DYNAMODB_WRITES = {
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "ExecuteStatement",
    "BatchExecuteStatement",
    "ExecuteTransaction",
}


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


def _moto_table(name: str) -> Any:
    # moto runs in this process (server mode or mock_aws); its backend is read directly because a Scan through
    # the API re-walks the whole table for every page, which takes minutes for a few thousand large items.
    return dynamodb_backends[ACCOUNT_ID][REGION].get_table(name)


def _wire_binary(value: Any) -> str:
    """Binary attribute values as DynamoDB's wire format carries them: base64 text."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"cannot save a {type(value).__name__} in a snapshot")


def _items_of(table: str) -> list[dict[str, Any]]:
    """Every item of `table` in DynamoDB JSON (the wire format: type descriptors, binary as base64)."""
    for _ in range(5):
        try:
            return [item.to_json()["Attributes"] for item in _moto_table(table).all_items()]
        except RuntimeError:  # a handler wrote to the table while it was being read; read again
            time.sleep(0.05)
    return [item.to_json()["Attributes"] for item in _moto_table(table).all_items()]


def _previous_entries(directory: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Objects of the last snapshot by (bucket, key, etag), so unchanged objects are not downloaded again."""
    try:
        state = json.loads((directory / STATE_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return {
        (bucket, entry["key"], entry.get("etag", "")): entry
        for bucket, entries in state.get("s3", {}).items()
        for entry in entries
        if (directory / "blobs" / entry["blob"]).is_file()
    }


def dead_letter_queue_names() -> tuple[str, ...]:
    return tuple(f"{queue.local_name}-dlq" for queue in spec.QUEUES)


def _queue_messages(name: str) -> list[Any]:
    """A moto queue's messages, read from its backend: nothing is received (or counted as received)."""
    queue = sqs_backends[ACCOUNT_ID][REGION].queues.get(name)
    return list(queue._messages) if queue is not None else []


def dead_letter_fingerprint(queues: Iterable[str] = dead_letter_queue_names()) -> tuple[str, ...]:
    """Which messages the dead-letter queues hold; a change calls for a snapshot (SQS is not counted)."""
    return tuple(sorted(message.id for name in queues for message in _queue_messages(name)))


def _saved_messages(name: str) -> list[dict[str, Any]]:
    return [
        {"body": message.body, "message_attributes": message.message_attributes}
        for message in _queue_messages(name)
    ]


def take_snapshot(
    directory: Path,
    *,
    s3: Any,
    buckets: Iterable[str] = tuple(bucket.local_name for bucket in spec.BUCKETS),
    tables: Iterable[str] = tuple(table.local_name for table in spec.TABLES),
    queues: Iterable[str] = (),
) -> dict[str, int]:
    """Write the current S3 and DynamoDB state; returns counts of objects and items saved."""
    blobs_dir = directory / "blobs"
    tables_dir = directory / "dynamodb"
    blobs_dir.mkdir(parents=True, exist_ok=True)
    tables_dir.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {"format": FORMAT_VERSION, "taken_at": datetime.now(UTC).isoformat(), "s3": {}}
    object_count = 0
    previous = _previous_entries(directory)
    for bucket in buckets:
        entries = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for listed in page.get("Contents", []):
                unchanged = previous.get((bucket, listed["Key"], listed["ETag"]))
                last_modified = listed["LastModified"].isoformat()
                # A copy onto itself (a re-drive) keeps the ETag but is a new write: saved again.
                if unchanged is not None and unchanged.get("last_modified") == last_modified:
                    entries.append(unchanged)
                    continue
                response = s3.get_object(Bucket=bucket, Key=listed["Key"])
                body = response["Body"].read()
                blob = hashlib.sha256(body).hexdigest()
                if not (blobs_dir / blob).exists():
                    _write_atomically(blobs_dir / blob, body)
                entries.append(
                    {
                        "key": listed["Key"],
                        "etag": listed["ETag"],
                        "blob": blob,
                        "content_type": response.get("ContentType"),
                        "content_encoding": response.get("ContentEncoding"),
                        "metadata": response.get("Metadata", {}),
                        # Restored as it was, so retention (housekeeping.py) counts from the real write.
                        "last_modified": last_modified,
                    }
                )
        state["s3"][bucket] = entries
        object_count += len(entries)
    state["dynamodb"] = {}
    item_count = 0
    for table in tables:
        items = _items_of(table)
        data = json.dumps(items, sort_keys=True, default=_wire_binary).encode("utf-8")
        file_name = f"{table}-{hashlib.sha256(data).hexdigest()[:16]}.json"
        if not (tables_dir / file_name).exists():
            _write_atomically(tables_dir / file_name, data)
        state["dynamodb"][table] = file_name
        item_count += len(items)
    state["sqs"] = {name: _saved_messages(name) for name in queues}
    _write_atomically(directory / STATE_FILE, json.dumps(state, indent=1).encode("utf-8"))
    _remove_unreferenced(directory, state)
    return {"objects": object_count, "items": item_count}


def _remove_unreferenced(directory: Path, state: dict[str, Any]) -> None:
    blobs = {entry["blob"] for entries in state["s3"].values() for entry in entries}
    table_files = set(state["dynamodb"].values())
    for path in (directory / "blobs").iterdir():
        if path.name not in blobs and not path.name.startswith("."):
            path.unlink(missing_ok=True)
    for path in (directory / "dynamodb").iterdir():
        if path.name not in table_files and not path.name.startswith("."):
            path.unlink(missing_ok=True)


def _keep_last_modified(bucket: str, key: str, last_modified: str) -> None:
    """Give a restored object its original write time (moto keeps naive UTC datetimes)."""
    stored = s3_backends[ACCOUNT_ID]["global"].get_object(bucket, key)
    if stored is not None:
        stored.last_modified = datetime.fromisoformat(last_modified).astimezone(UTC).replace(tzinfo=None)


def _keep_etag(bucket: str, key: str, etag: str) -> None:
    """Give a restored object the ETag it had: a re-put of a multipart upload's bytes would get another one,
    and ingestion derives a file's id (and every output key) from its ETag."""
    stored = s3_backends[ACCOUNT_ID]["global"].get_object(bucket, key)
    wanted = etag.strip('"')
    if stored is not None and stored.etag.strip('"') != wanted:
        stored._etag = wanted


def restore_snapshot(directory: Path, *, s3: Any, sqs: Any | None = None) -> dict[str, int]:
    """Put every saved object and item back (buckets and tables must exist); no-op without a snapshot."""
    state_path = directory / STATE_FILE
    if not state_path.is_file():
        return {"objects": 0, "items": 0}
    state = json.loads(state_path.read_text("utf-8"))
    if state.get("format") != FORMAT_VERSION:
        raise ValueError(f"snapshot {state_path} has format {state.get('format')}, expected {FORMAT_VERSION}")
    object_count = 0
    for bucket, entries in state["s3"].items():
        for entry in entries:
            extra: dict[str, Any] = {"Metadata": entry.get("metadata") or {}}
            if entry.get("content_type"):
                extra["ContentType"] = entry["content_type"]
            if entry.get("content_encoding"):
                extra["ContentEncoding"] = entry["content_encoding"]
            body = (directory / "blobs" / entry["blob"]).read_bytes()
            s3.put_object(Bucket=bucket, Key=entry["key"], Body=body, **extra)
            if entry.get("etag"):
                _keep_etag(bucket, entry["key"], entry["etag"])
            if entry.get("last_modified"):
                _keep_last_modified(bucket, entry["key"], entry["last_modified"])
            object_count += 1
    item_count = 0
    for table, file_name in state["dynamodb"].items():
        items = json.loads((directory / "dynamodb" / file_name).read_text("utf-8"))
        moto_table = _moto_table(table)
        for item in items:
            moto_table.put_item(item)
        item_count += len(items)
    message_count = 0
    for name, messages in state.get("sqs", {}).items():
        if sqs is None or not messages:
            continue
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        for message in messages:
            attributes = message.get("message_attributes") or {}
            extra = {"MessageAttributes": attributes} if attributes else {}
            sqs.send_message(QueueUrl=url, MessageBody=message["body"], **extra)
            message_count += 1
    return {"objects": object_count, "items": item_count, "dead_letters": message_count}


def _service_of(environ: dict[str, Any]) -> str | None:
    """The signing service in the SigV4 scope: `Credential=key/date/region/SERVICE/aws4_request`."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    marker = "Credential="
    if marker not in authorization:
        return None
    scope = authorization.split(marker, 1)[1].split(",", 1)[0].split("/")
    return scope[3] if len(scope) >= 5 else None


def is_state_change(environ: dict[str, Any]) -> bool:
    """Whether a request to moto may change S3 objects or DynamoDB items (what snapshots hold)."""
    service = _service_of(environ)
    method = environ.get("REQUEST_METHOD", "GET")
    if service == "s3":
        return method in {"PUT", "POST", "DELETE"}
    if service == "dynamodb":
        operation = environ.get("HTTP_X_AMZ_TARGET", "").rsplit(".", 1)[-1]
        return operation in _DYNAMODB_WRITES
    return False


class ChangeCounter:
    """WSGI middleware around moto's server app that counts requests changing persisted state, and holds them
    back while a snapshot is read (`writes_paused`), so that a snapshot is one moment of S3 and DynamoDB."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self._app = app
        self._lock = threading.Condition()
        self._writing = 0
        self._paused = False
        self.generation = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not is_state_change(environ):
            return self._app(environ, start_response)
        with self._lock:
            while self._paused:
                self._lock.wait()
            self._writing += 1
        try:
            return self._app(environ, start_response)
        finally:
            # Counted once moto has applied the change, so a snapshot that starts later includes it.
            with self._lock:
                self._writing -= 1
                self.generation += 1
                self._lock.notify_all()

    @contextmanager
    def writes_paused(self) -> Iterator[None]:
        """Wait for changes under way to finish and hold new ones back until the block ends."""
        with self._lock:
            while self._paused:
                self._lock.wait()
            self._paused = True
            while self._writing:
                self._lock.wait()
        try:
            yield
        finally:
            with self._lock:
                self._paused = False
                self._lock.notify_all()
