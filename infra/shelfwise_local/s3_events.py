"""S3 event notifications in the local cloud, in the exact shape AWS delivers.

moto's S3 backend does deliver bucket notifications to SQS (the bucket's notification configuration sends an
`ObjectCreated` message into the queue, just like AWS), so the local cloud uses that path. Its records,
however, leave out fields AWS always sends (`userIdentity`, `requestParameters`, `responseElements`,
`s3.bucket.ownerIdentity`, `s3.object.sequencer`) and which Powertools' `S3Model` requires, and it encodes the
slashes of the key, which AWS keeps. Because moto runs in this process, the record builder is wrapped so every
record carries the AWS shape.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus, unquote_plus

import moto.s3.notifications as moto_notifications

LOCAL_PRINCIPAL = "AWS:AIDALOCALSHELFWISE"
LOCAL_SOURCE_IP = "127.0.0.1"

_sequencer = itertools.count(1)
_patch_lock = threading.Lock()
_original_builder: Callable[..., dict[str, Any]] | None = None


def complete_record(record: dict[str, Any]) -> dict[str, Any]:
    """Add the fields AWS sends and moto omits; fields already present are kept."""
    record.setdefault("userIdentity", {"principalId": LOCAL_PRINCIPAL})
    record.setdefault("requestParameters", {"sourceIPAddress": LOCAL_SOURCE_IP})
    record.setdefault(
        "responseElements",
        {"x-amz-request-id": uuid.uuid4().hex[:16].upper(), "x-amz-id-2": uuid.uuid4().hex},
    )
    s3 = record.setdefault("s3", {})
    s3.setdefault("bucket", {}).setdefault("ownerIdentity", {"principalId": LOCAL_PRINCIPAL})
    s3_object = s3.setdefault("object", {})
    s3_object.setdefault("sequencer", f"{next(_sequencer):018X}")
    if "key" in s3_object:
        # AWS form-encodes the key but keeps its slashes; moto encodes those too (`incoming%2Fsales%2F...`).
        s3_object["key"] = quote_plus(unquote_plus(s3_object["key"]), safe="/")
    return record


def complete_moto_s3_events() -> None:
    """Make moto's S3 notifications carry the full AWS record shape (idempotent)."""
    global _original_builder
    with _patch_lock:
        if _original_builder is not None:
            return
        original = moto_notifications._get_s3_event
        _original_builder = original

        def build_complete_event(*args: Any, **kwargs: Any) -> dict[str, Any]:
            event = original(*args, **kwargs)
            for record in event.get("Records", []):
                complete_record(record)
            return event

        moto_notifications._get_s3_event = build_complete_event
