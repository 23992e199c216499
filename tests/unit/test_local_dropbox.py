"""The drop folder uploads data files and says, once, which files it leaves alone."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from shelfwise_local.dropbox import Dropbox, ignored_reason


class RecordingS3:
    def __init__(self) -> None:
        self.keys: list[str] = []

    def put_object(self, *, Bucket: str, Key: str, Body: Any, ContentType: str) -> None:
        self.keys.append(Key)


@pytest.mark.parametrize(
    "name",
    [".new.csv", ".~lock.new.csv#", "~$prices.csv", "prices.csv~", "#prices.csv#", "new.csv.part", "x.TMP"],
)
def test_hidden_and_temporary_names_are_ignored(name: str) -> None:
    assert ignored_reason(name) is not None


@pytest.mark.parametrize("name", ["new.csv", "sales-2026-03.csv.gz", "catalog.parquet", "a.b.c.csv"])
def test_data_file_names_are_uploaded(name: str) -> None:
    assert ignored_reason(name) is None


def test_an_ignored_file_gets_one_warning_once_it_stops_changing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    box = Dropbox(tmp_path)
    box.prepare()
    (tmp_path / "catalog" / ".new.csv").write_text("item_id\n1\n")
    (tmp_path / "catalog" / "new.csv").write_text("item_id\n1\n")
    s3 = RecordingS3()
    with caplog.at_level(logging.WARNING, logger="shelfwise.local"):
        box.scan_once(s3)  # first sight: both still might be changing
        assert not caplog.records
        box.scan_once(s3)
        box.scan_once(s3)

    assert s3.keys == ["incoming/catalog/new.csv"]
    (warning,) = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert ".new.csv not uploaded" in warning and "hidden file" in warning
    assert box.pending_files() == []
