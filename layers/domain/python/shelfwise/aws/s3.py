"""S3 access for the domain library.

Clients are created without an explicit endpoint: boto3 honours `AWS_ENDPOINT_URL`, which is how the local
cloud points every function at moto while the same code talks to real S3 in AWS.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import urllib3
from botocore.exceptions import BotoCoreError, ClientError

S3Client = Any  # botocore builds the client class at run time, so there is no importable type for it

# Ranged reads: a read after a seek asks for at least MIN bytes; each further read that carries straight on
# doubles the request, up to MAX, so a forward scan costs few requests and a seek wastes little.
MIN_RANGE_BYTES = 1024 * 1024
MAX_RANGE_BYTES = 64 * 1024 * 1024
# A short forward seek inside the range being read skips bytes instead of opening a new request.
SKIP_WITHIN_RANGE_BYTES = 1024 * 1024
READ_ATTEMPTS = 3
DEFAULT_READ_BUFFER_BYTES = 1024 * 1024
# S3 accepts multipart parts of 5 MiB and more (except the last); 8 MiB is what boto3's transfers use.
MIN_PART_BYTES = 5 * 1024 * 1024
DEFAULT_PART_BYTES = 8 * 1024 * 1024
_MISSING = {"404", "NoSuchKey", "NotFound"}


def client() -> S3Client:
    return boto3.client("s3")


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    last_modified: datetime | None = None
    # User metadata (x-amz-meta-*), only filled in by `head`; listings do not return it.
    metadata: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = None
    content_encoding: str | None = None


def get_bytes(bucket: str, key: str, *, s3_client: S3Client | None = None) -> bytes:
    s3 = s3_client or client()
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def get_bytes_if_exists(bucket: str, key: str, *, s3_client: S3Client | None = None) -> bytes | None:
    """The object's bytes, or None when there is no such object."""
    try:
        return get_bytes(bucket, key, s3_client=s3_client)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            return None
        raise


def open_stream(bucket: str, key: str, *, s3_client: S3Client | None = None) -> Any:
    """The object's body as a file-like stream, so large objects are never held in memory whole."""
    s3 = s3_client or client()
    return s3.get_object(Bucket=bucket, Key=key)["Body"]


def head(bucket: str, key: str, *, s3_client: S3Client | None = None) -> ObjectInfo | None:
    s3 = s3_client or client()
    try:
        response = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            return None
        raise
    return ObjectInfo(
        key=key,
        size=int(response["ContentLength"]),
        etag=response["ETag"].strip('"'),
        last_modified=response.get("LastModified"),
        metadata=dict(response.get("Metadata") or {}),
        content_type=response.get("ContentType"),
        content_encoding=response.get("ContentEncoding"),
    )


def copy_in_place(
    bucket: str, info: ObjectInfo, metadata: Mapping[str, str], *, s3_client: S3Client | None = None
) -> None:
    """Copy an object onto itself with new user metadata, which S3 announces as a new ObjectCreated event.

    `info` comes from `head`: its content type and encoding are carried over (a metadata-replacing copy would
    otherwise drop them), and the copy only happens while the object still has `info.etag`, so a newer upload
    arriving meanwhile is never overwritten.
    """
    s3 = s3_client or client()
    extra: dict[str, Any] = {}
    if info.content_type:
        extra["ContentType"] = info.content_type
    if info.content_encoding:
        extra["ContentEncoding"] = info.content_encoding
    s3.copy_object(
        Bucket=bucket,
        Key=info.key,
        CopySource={"Bucket": bucket, "Key": info.key},
        CopySourceIfMatch=f'"{info.etag}"',
        MetadataDirective="REPLACE",
        Metadata=dict(metadata),
        **extra,
    )


def put_bytes(
    bucket: str,
    key: str,
    body: bytes,
    *,
    content_type: str = "application/octet-stream",
    s3_client: S3Client | None = None,
) -> None:
    s3 = s3_client or client()
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)


def list_objects(bucket: str, prefix: str, *, s3_client: S3Client | None = None) -> Iterator[ObjectInfo]:
    s3 = s3_client or client()
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            yield ObjectInfo(
                key=entry["Key"],
                size=int(entry["Size"]),
                etag=entry["ETag"].strip('"'),
                last_modified=entry.get("LastModified"),
            )


def list_keys(bucket: str, prefix: str, *, s3_client: S3Client | None = None) -> list[str]:
    return [info.key for info in list_objects(bucket, prefix, s3_client=s3_client)]


def delete_keys(bucket: str, keys: list[str], *, s3_client: S3Client | None = None) -> None:
    s3 = s3_client or client()
    for start in range(0, len(keys), 1000):
        batch = [{"Key": key} for key in keys[start : start + 1000]]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})


def download_file(
    bucket: str, key: str, path: str, *, s3_client: S3Client | None = None
) -> ObjectInfo | None:
    """Copies the object to a local file; None when the object does not exist (any more)."""
    s3 = s3_client or client()
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            return None
        raise
    body = response["Body"]
    with open(path, "wb") as handle:
        for block in iter(lambda: body.read(8 * 1024 * 1024), b""):
            handle.write(block)
    return ObjectInfo(key=key, size=int(response["ContentLength"]), etag=response["ETag"].strip('"'))


def upload_file(
    bucket: str,
    key: str,
    path: str,
    *,
    content_type: str = "application/octet-stream",
    s3_client: S3Client | None = None,
) -> None:
    s3 = s3_client or client()
    s3.upload_file(path, bucket, key, ExtraArgs={"ContentType": content_type})


class ObjectReadFailed(Exception):
    """S3 could not serve part of an object being read (network, throttling, access): worth a retry later.

    Deliberately not an OSError, so readers that turn malformed input into a rejection do not mistake a
    network timeout (botocore's ReadTimeoutError is an OSError) for a broken file.
    """


class ObjectChanged(ObjectReadFailed):
    """The object was overwritten or deleted while being read: the bytes so far belong to another version."""


class _RangedObject(io.RawIOBase):
    """Seekable, read-only view of one version of an object, read with ranged GETs pinned to its ETag."""

    def __init__(self, bucket: str, info: ObjectInfo, s3_client: S3Client) -> None:
        super().__init__()
        self.bucket = bucket
        self.info = info
        self._s3 = s3_client
        self._pos = 0
        self._body: Any = None
        self._body_pos = 0
        self._body_end = 0
        self._last_end = -1
        self._window = MIN_RANGE_BYTES
        self.requests = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self.info.size + offset
        else:
            raise ValueError(f"invalid whence ({whence})")
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        self._pos = target
        return target

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        if self._pos >= self.info.size or len(view) == 0:
            return 0
        for attempt in range(1, READ_ATTEMPTS + 1):
            self._open_at_position(len(view))
            try:
                data = self._body.read(min(len(view), self._body_end - self._body_pos))
            except (BotoCoreError, urllib3.exceptions.HTTPError, OSError) as error:
                # The connection broke mid-body; botocore only retries whole requests, so ask again from here.
                self._close_body()
                if attempt == READ_ATTEMPTS:
                    raise ObjectReadFailed(self._failure(error)) from error
                continue
            if not data:  # the range ended early: the object is shorter than its size said
                self._close_body()
                raise ObjectChanged(f"s3://{self.bucket}/{self.info.key} ended before its size")
            view[: len(data)] = data
            self._pos += len(data)
            self._body_pos += len(data)
            if self._body_pos >= self._body_end:
                self._close_body()  # fully read, so its connection goes back to the pool
            return len(data)
        return 0  # not reached: the last attempt either returns or raises

    def _open_at_position(self, wanted: int) -> None:
        if self._body is not None and self._body_pos != self._pos:
            gap = self._pos - self._body_pos
            if 0 < gap <= SKIP_WITHIN_RANGE_BYTES and self._pos < self._body_end:
                try:
                    skipped = len(self._body.read(gap))
                except (BotoCoreError, urllib3.exceptions.HTTPError, OSError):
                    skipped = -1
                if skipped == gap:
                    self._body_pos = self._pos
                    return
            self._close_body()
        if self._body is not None:
            return
        carries_on = self._pos == self._last_end
        self._window = min(self._window * 2, MAX_RANGE_BYTES) if carries_on else MIN_RANGE_BYTES
        end = min(self.info.size, self._pos + max(wanted, self._window))
        try:
            response = self._s3.get_object(
                Bucket=self.bucket,
                Key=self.info.key,
                Range=f"bytes={self._pos}-{end - 1}",
                IfMatch=f'"{self.info.etag}"',
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code in _MISSING | {"PreconditionFailed", "412", "InvalidRange"}:
                raise ObjectChanged(
                    f"s3://{self.bucket}/{self.info.key} changed while it was read ({code})"
                ) from error
            raise ObjectReadFailed(f"reading s3://{self.bucket}/{self.info.key} failed: {code}") from error
        except (BotoCoreError, urllib3.exceptions.HTTPError, OSError) as error:
            raise ObjectReadFailed(self._failure(error)) from error
        self.requests += 1
        self._body, self._body_pos, self._body_end, self._last_end = response["Body"], self._pos, end, end

    def _failure(self, error: object) -> str:
        return f"reading s3://{self.bucket}/{self.info.key} failed: {error}"

    def _close_body(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def close(self) -> None:
        self._close_body()
        super().close()


def open_object(
    bucket: str,
    info: ObjectInfo,
    *,
    s3_client: S3Client | None = None,
    buffer_size: int = DEFAULT_READ_BUFFER_BYTES,
) -> io.BufferedReader:
    """A seekable, read-only binary file over the object version `info` describes (from `head`).

    Nothing is copied locally: reads become ranged GETs, at most `MAX_RANGE_BYTES` each and read as they
    arrive, so memory stays at `buffer_size` plus what the caller asks for. Every GET carries the version's
    ETag, so a file that is overwritten or deleted mid-read raises `ObjectChanged` instead of mixing versions;
    other S3 failures raise `ObjectReadFailed`. Opening costs no request; open it again for another pass.
    """
    return io.BufferedReader(_RangedObject(bucket, info, s3_client or client()), buffer_size=buffer_size)


class SpooledUpload(io.RawIOBase):
    """A write-only binary file that becomes one S3 object, keeping about `part_size` bytes on disk at most.

    Writes go to a local spool file; each time it reaches `part_size` it is sent as a part of a multipart
    upload and emptied. Nothing is visible in the bucket until `complete()`; `abort()` discards everything
    (parts already sent are dropped by S3, no delete needed). An object that never reaches `part_size` is sent
    with one PutObject.
    """

    def __init__(
        self,
        bucket: str,
        key: str,
        spool_path: Path,
        *,
        content_type: str = "application/octet-stream",
        part_size: int = DEFAULT_PART_BYTES,
        s3_client: S3Client | None = None,
    ) -> None:
        super().__init__()
        if part_size < MIN_PART_BYTES:
            raise ValueError(f"part_size must be at least {MIN_PART_BYTES} bytes (S3's smallest part)")
        self.bucket = bucket
        self.key = key
        self.content_type = content_type
        self.part_size = part_size
        self._s3 = s3_client or client()
        self._spool_path = spool_path
        self._spool: io.BufferedRandom | None = None
        self._written = 0
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._ended: str | None = None  # "completed" or "aborted"

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._written

    def write(self, data: Any) -> int:
        if self._ended == "aborted":
            # A writer closed after its upload was aborted (e.g. to release it) may still flush: drop that.
            return len(memoryview(data))
        if self._ended == "completed":
            raise ValueError(f"s3://{self.bucket}/{self.key} is already complete; it cannot take more data")
        if self._spool is None:
            self._spool = open(self._spool_path, "w+b")  # noqa: SIM115 - lives until complete() or abort()
        written = self._spool.write(data)
        self._written += written
        if self._spool.tell() >= self.part_size:
            self._send_part()
        return written

    @property
    def spooled_bytes(self) -> int:
        return self._spool.tell() if self._spool is not None else 0

    def _send_part(self) -> None:
        assert self._spool is not None
        if self._upload_id is None:
            self._upload_id = self._s3.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, ContentType=self.content_type
            )["UploadId"]
        number = len(self._parts) + 1
        self._spool.flush()
        self._spool.seek(0)
        response = self._s3.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self._upload_id, PartNumber=number, Body=self._spool
        )
        self._parts.append({"ETag": response["ETag"], "PartNumber": number})
        self._spool.seek(0)
        self._spool.truncate()

    def complete(self) -> None:
        """Makes the object visible with everything written so far."""
        self._ended = "completed"
        try:
            if self._upload_id is None:
                body: Any = b""
                if self._spool is not None:
                    self._spool.flush()
                    self._spool.seek(0)
                    body = self._spool
                self._s3.put_object(
                    Bucket=self.bucket, Key=self.key, Body=body, ContentType=self.content_type
                )
            else:
                if self.spooled_bytes:
                    self._send_part()
                self._s3.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=self.key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
                self._upload_id = None
        finally:
            self._discard_spool()

    def abort(self) -> None:
        """Drops what was written; the object is left as it was (absent, or its previous version)."""
        self._ended = "aborted"
        try:
            if self._upload_id is not None:
                self._s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id)
                self._upload_id = None
        finally:
            self._discard_spool()

    def _discard_spool(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None
            os.unlink(self._spool_path)
        super().close()

    def close(self) -> None:
        # Writers (pyarrow's included) may close their sink; that must neither upload nor drop anything.
        pass
