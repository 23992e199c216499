"""Rejection reports and ingestion manifests.

A rejection report is a CSV with columns `line, field, value, reason`, one line per (row, field) problem.
Values are shown as received but made safe to open in a spreadsheet: cut to `MAX_SHOWN_CHARS`, control
characters made visible, and anything a spreadsheet would run as a formula (starting with = + - @, tab or
carriage return) prefixed with an apostrophe.
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from pydantic import BaseModel

from shelfwise.ingest.status import FileError, IngestStatus
from shelfwise.ingest.validate import REJECTIONS_SCHEMA

MAX_SHOWN_CHARS = 200
FILE_FIELD = "(file)"
HEADER_FIELD = "(header)"


def _safe_text(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    too_long = pc.greater(pc.utf8_length(column), MAX_SHOWN_CHARS)
    shortened = pc.binary_join_element_wise(pc.utf8_slice_codeunits(column, 0, MAX_SHOWN_CHARS), "…", "")
    text = pc.if_else(too_long, shortened, column)
    text = pc.replace_substring(text, "\r", "\\r")
    text = pc.replace_substring(text, "\n", "\\n")
    text = pc.replace_substring_regex(text, r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "\ufffd")
    return pc.replace_substring_regex(text, r"^([=+\-@\t])", r"'\1")


def make_safe(rejections: pa.Table) -> pa.Table:
    return pa.table(
        {
            "line": rejections.column("line"),
            "field": _safe_text(rejections.column("field")),
            "value": _safe_text(rejections.column("value")),
            "reason": _safe_text(rejections.column("reason")),
        },
        schema=REJECTIONS_SCHEMA,
    )


def file_rejection(reason: str, *, field: str = FILE_FIELD, line: int = 0, value: str = "") -> pa.Table:
    """A report for a file rejected as a whole; line 0 means the file, line 1 the header."""
    return pa.table(
        {"line": [line], "field": [field], "value": [value], "reason": [reason]}, schema=REJECTIONS_SCHEMA
    )


class RejectionReportWriter:
    """Streams rejections into a CSV so a file with millions of problems never sits in memory.

    `sink` is a local path or a writable binary file (ingest passes an upload that spools only a part of the
    report locally at a time); the writer does not close it.
    """

    def __init__(self, sink: Path | BinaryIO | io.RawIOBase) -> None:
        self.sink = sink
        self.count = 0
        self._writer: pa_csv.CSVWriter | None = None

    def write(self, rejections: pa.Table) -> None:
        if rejections.num_rows == 0:
            return
        if self._writer is None:
            target = str(self.sink) if isinstance(self.sink, Path) else self.sink
            self._writer = pa_csv.CSVWriter(target, REJECTIONS_SCHEMA)
        self._writer.write_table(make_safe(rejections))
        self.count += rejections.num_rows

    def close(self) -> bool:
        """True when a report was written."""
        if self._writer is None:
            return False
        self._writer.close()
        return True


class IngestManifest(BaseModel):
    """What happened to one dropped file; stored at `curated/_manifests/<kind>/<file_id>.json`."""

    contract_version: str
    kind: str
    file_id: str
    source_bucket: str
    source_key: str
    etag: str
    format: str | None = None
    status: IngestStatus
    rows_total: int = 0
    rows_landed: int = 0
    rows_rejected: int = 0
    # Valid rows of erased customers (on the deny list), left out: a re-delivered old file brings none back.
    rows_erased: int = 0
    blank_lines: int = 0
    problems_reported: int = 0
    rejection_report_key: str | None = None
    curated_keys: list[str] = []
    ignored_columns: list[str] = []
    dynamodb_items_written: int = 0
    file_error: FileError | None = None
    started_at: datetime
    finished_at: datetime


def status_for(rows_total: int, rows_landed: int, file_error: FileError | None) -> IngestStatus:
    if file_error is not None:
        return "rejected"
    if rows_total == 0:
        return "empty"
    if rows_landed == rows_total:
        return "landed"
    return "rejected" if rows_landed == 0 else "partially_rejected"
