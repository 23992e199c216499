"""Reading S3 objects in place (ranged GETs) and writing them through a bounded local spool, against moto."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto import mock_aws
from shelfwise.aws import s3

BUCKET = "shelfwise-streaming"
MIB = 1024 * 1024


@pytest.fixture
def client(aws_credentials: None) -> Iterator[Any]:
    with mock_aws():
        s3_client = boto3.client("s3")
        s3_client.create_bucket(Bucket=BUCKET)
        yield s3_client


def put(client: Any, key: str, body: bytes) -> s3.ObjectInfo:
    client.put_object(Bucket=BUCKET, Key=key, Body=body)
    info = s3.head(BUCKET, key, s3_client=client)
    assert info is not None
    return info


def test_seek_and_read_behave_like_a_local_file(client: Any) -> None:
    body = bytes(range(256)) * 40  # 10,240 bytes
    info = put(client, "small.bin", body)
    with s3.open_object(BUCKET, info, s3_client=client) as remote:
        assert remote.seekable() and remote.readable()
        assert remote.read(10) == body[:10]
        assert remote.tell() == 10
        assert remote.seek(-5, io.SEEK_END) == len(body) - 5
        assert remote.read(100) == body[-5:]  # a read past the end returns what is left
        assert remote.read(100) == b""  # and then nothing
        assert remote.seek(1000) == 1000
        assert remote.read(3) == body[1000:1003]
        remote.seek(10, io.SEEK_CUR)
        assert remote.read(4) == body[1013:1017]
        assert remote.seek(len(body) + 50) == len(body) + 50
        assert remote.read(1) == b""  # beyond the end: empty, like a file
        remote.seek(0)
        assert remote.read() == body
        with pytest.raises(ValueError, match="negative seek"):
            remote.seek(-1)


def test_an_empty_object_reads_as_empty(client: Any) -> None:
    info = put(client, "empty.bin", b"")
    with s3.open_object(BUCKET, info, s3_client=client) as remote:
        assert remote.read(10) == b""


def test_a_large_object_read_in_odd_pieces_comes_back_whole_in_few_requests(client: Any) -> None:
    body = os.urandom(21 * MIB + 12_345)
    info = put(client, "large.bin", body)
    pieces = []
    with s3.open_object(BUCKET, info, s3_client=client) as remote:
        sizes = iter([1, 7, 65_536, 3 * MIB + 1, 999_999] * 100)
        while piece := remote.read(next(sizes)):
            pieces.append(piece)
        requests = remote.raw.requests  # type: ignore[attr-defined]
    assert b"".join(pieces) == body
    # A forward scan doubles its requests' size (1, 2, 4, 8, 16 MiB), so 21 MiB takes 5 GETs, not 21.
    assert requests <= 5


def test_parquet_is_read_in_place_with_seeks(client: Any) -> None:
    table = pa.table({"sku": [f"sku-{n}" for n in range(50_000)], "units": list(range(50_000))})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=10_000)
    info = put(client, "sales.parquet", buffer.getvalue())
    with s3.open_object(BUCKET, info, s3_client=client) as remote:
        parquet = pq.ParquetFile(remote)
        assert parquet.metadata.num_row_groups == 5
        assert parquet.read_row_group(3).equals(table.slice(30_000, 10_000))
        assert pa.Table.from_batches(list(parquet.iter_batches(batch_size=7_000))).equals(table)


def test_an_object_replaced_or_deleted_mid_read_is_not_mixed_with_its_new_version(client: Any) -> None:
    body = os.urandom(3 * MIB)
    info = put(client, "moving.bin", body)
    with s3.open_object(BUCKET, info, s3_client=client, buffer_size=64 * 1024) as remote:
        assert remote.read(1000) == body[:1000]
        client.put_object(Bucket=BUCKET, Key="moving.bin", Body=b"a new version")
        with pytest.raises(s3.ObjectChanged):
            remote.read(2 * MIB)
    info = put(client, "gone.bin", body)
    with s3.open_object(BUCKET, info, s3_client=client) as remote:
        client.delete_object(Bucket=BUCKET, Key="gone.bin")
        with pytest.raises(s3.ObjectChanged):
            remote.read(10)


def test_a_failed_read_is_an_s3_failure_not_a_broken_file(client: Any) -> None:
    # Readers turn OSError into "this file is unreadable"; a missing permission or an outage must not look so.
    info = s3.ObjectInfo(key="x.bin", size=10, etag="abc")
    with (
        s3.open_object("no-such-bucket-here", info, s3_client=client) as remote,
        pytest.raises(s3.ObjectReadFailed) as raised,
    ):
        remote.read(5)
    assert not isinstance(raised.value, OSError)


def test_a_spooled_upload_keeps_less_than_a_part_on_disk_and_appears_only_when_complete(
    client: Any, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    upload = s3.SpooledUpload(
        BUCKET, "out/big.csv", spool, content_type="text/csv", part_size=5 * MIB, s3_client=client
    )
    written = []
    for _ in range(13):
        block = os.urandom(MIB - 17)
        upload.write(block)
        written.append(block)
        assert spool.stat().st_size < 5 * MIB
    assert s3.head(BUCKET, "out/big.csv", s3_client=client) is None  # parts sent, object not visible yet
    upload.complete()
    stored = client.get_object(Bucket=BUCKET, Key="out/big.csv")
    assert stored["Body"].read() == b"".join(written)
    assert stored["ContentType"] == "text/csv"
    assert not spool.exists()


def test_an_aborted_upload_leaves_the_previous_version_and_no_pending_parts(
    client: Any, tmp_path: Path
) -> None:
    put(client, "out/part.parquet", b"the landed version")
    upload = s3.SpooledUpload(BUCKET, "out/part.parquet", tmp_path / "spool", s3_client=client)
    upload.write(os.urandom(9 * MIB))  # one part sent
    upload.abort()
    assert client.get_object(Bucket=BUCKET, Key="out/part.parquet")["Body"].read() == b"the landed version"
    assert client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert not (tmp_path / "spool").exists()


def test_a_small_upload_is_one_object_and_an_empty_one_is_empty(client: Any, tmp_path: Path) -> None:
    upload = s3.SpooledUpload(BUCKET, "out/small.json", tmp_path / "a", s3_client=client)
    upload.write(b'{"ok": true}')
    upload.complete()
    assert client.get_object(Bucket=BUCKET, Key="out/small.json")["Body"].read() == b'{"ok": true}'
    empty = s3.SpooledUpload(BUCKET, "out/empty", tmp_path / "b", s3_client=client)
    empty.complete()
    assert client.get_object(Bucket=BUCKET, Key="out/empty")["Body"].read() == b""
