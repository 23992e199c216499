"""Persistence of the local cloud: moto keeps state in memory, so S3 objects and DynamoDB items are
snapshotted to `<state-dir>/snapshot/` and restored at the next start.

Layout: `state.json` lists every object (key, content type, encoding, metadata, blob name) and every table's
item file; object bodies live in `blobs/<sha256>` and table items in `dynamodb/<table>-<sha256>.json`
(DynamoDB JSON with type descriptors; binary values base64-encoded). Content-addressed files are written
first (temp file + rename) and `state.json` last (temp file + rename), so a crash mid-snapshot leaves the
previous snapshot intact; files no longer referenced are removed afterwards.

SQS messages are not snapshotted: queues are drained before the final snapshot at shutdown.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from moto.dynamodb.models import dynamodb_backends
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


def take_snapshot(
    directory: Path,
    *,
    s3: Any,
    buckets: Iterable[str] = tuple(bucket.local_name for bucket in spec.BUCKETS),
    tables: Iterable[str] = tuple(table.local_name for table in spec.TABLES),
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
                if unchanged is not None:
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


def restore_snapshot(directory: Path, *, s3: Any) -> dict[str, int]:
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
            object_count += 1
    item_count = 0
    for table, file_name in state["dynamodb"].items():
        items = json.loads((directory / "dynamodb" / file_name).read_text("utf-8"))
        moto_table = _moto_table(table)
        for item in items:
            moto_table.put_item(item)
        item_count += len(items)
    return {"objects": object_count, "items": item_count}


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
    """WSGI middleware around moto's server app that counts requests changing persisted state."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self._app = app
        self._lock = threading.Lock()
        self.generation = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        response = self._app(environ, start_response)
        # Counted once moto has applied the change, so a snapshot that starts later includes it.
        if is_state_change(environ):
            with self._lock:
                self.generation += 1
        return response
