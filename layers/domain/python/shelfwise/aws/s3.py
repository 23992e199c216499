"""S3 access for the domain library.

Clients are created without an explicit endpoint: boto3 honours `AWS_ENDPOINT_URL`, which is how the local
cloud points every function at moto while the same code talks to real S3 in AWS.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

S3Client = Any  # botocore builds the client class at run time, so there is no importable type for it


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
