"""Reading dropped files as streams of raw (binary) column chunks with exact line numbers.

Formats are detected from the content, never trusted from the name: gzip magic `1f 8b`, Parquet magic `PAR1`,
anything else is treated as CSV text. Every cell comes out as raw bytes so that UTF-8 problems are reported
per row and field by the validator instead of failing the whole file.

Line numbers follow the CSV file: the header is line 1 and the first data row is line 2; a row's number is the
physical line it starts on, so quoted values with embedded newlines are counted correctly. Parquet rows are
numbered the same way (row index + 2), so a file converted between the formats gives the same report.

The file is anything that can be opened as a seekable binary stream: a local path, or a function that opens
one (ingest passes ranged reads of the S3 object, so no copy of the file is ever made). Each pass over the
file (format, header, the malformed-row check, the rows) opens it afresh; Parquet seeks, CSV reads forward.

Fast path: pyarrow's streaming CSV reader (blocks of `block_size` bytes, vectorized). A file with rows that do
not split into the header's number of columns takes the exact path instead: Python's csv module, which knows
the physical line of every row and reports the malformed ones.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

FileFormat = Literal["csv", "csv.gz", "parquet"]

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
DEFAULT_BLOCK_SIZE = 16 * 1024 * 1024
# Beyond this a gzip member is treated as a decompression bomb; 4 GiB is ~100M interaction rows.
DEFAULT_MAX_DECOMPRESSED_BYTES = 4 * 1024**3
PARQUET_BATCH_ROWS = 262_144
EXACT_PATH_CHUNK_ROWS = 100_000
_SNIFF_BYTES = 64 * 1024
FIRST_DATA_LINE = 2

# Opens the file for one pass; the caller closes what it returns.
Opener = Callable[[], BinaryIO]


class FileRejected(Exception):
    """The file as a whole cannot be ingested; `reason` says why in words a data owner understands."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class Chunk:
    columns: pa.Table  # one binary column per header column, in header order
    lines: np.ndarray  # int64, the line each row starts on
    malformed: list[tuple[int, str]] = field(default_factory=list)  # (line, reason) rows without columns


class DecompressedSizeExceeded(Exception):
    pass


class _LimitedStream(io.RawIOBase):
    """Counts bytes coming out of a decompressor and stops once they pass the limit."""

    def __init__(self, inner: BinaryIO, limit: int) -> None:
        self._inner = inner
        self._limit = limit
        self.total = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        self.total += len(data)
        if self.total > self._limit:
            raise DecompressedSizeExceeded
        buffer[: len(data)] = data
        return len(data)


def opener_for(source: Path | Opener) -> Opener:
    if isinstance(source, Path):
        return lambda: source.open("rb")
    return source


def detect_format(source: Path | Opener) -> FileFormat:
    with opener_for(source)() as handle:
        head = handle.read(4)
    if not head:
        raise FileRejected("empty_file", "the file is empty")
    if head.startswith(GZIP_MAGIC):
        return "csv.gz"
    if head == PARQUET_MAGIC:
        return "parquet"
    return "csv"


def normalize_header(names: list[str]) -> list[str]:
    normalized = [name.replace("\ufeff", "").strip().lower() for name in names]
    if any(not name for name in normalized):
        raise FileRejected("bad_header", "the header row has an empty column name")
    duplicates = sorted({name for name in normalized if normalized.count(name) > 1})
    if duplicates:
        raise FileRejected("bad_header", f"the header row repeats column(s): {', '.join(duplicates)}")
    return normalized


class TableFile:
    """A dropped file opened for reading: its header (`columns`) and its rows (`chunks()`).

    `source` is a local path or a function that opens the file (see the module's docstring).
    """

    def __init__(
        self,
        source: Path | Opener,
        *,
        block_size: int = DEFAULT_BLOCK_SIZE,
        max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
    ) -> None:
        self.open = opener_for(source)
        self.block_size = block_size
        self.max_decompressed_bytes = max_decompressed_bytes
        self.format: FileFormat = detect_format(self.open)
        self.columns: list[str] = (
            self._read_parquet_header() if self.format == "parquet" else self._read_csv_header()
        )

    @contextmanager
    def _open_text_stream(self) -> Iterator[BinaryIO]:
        with self.open() as raw:
            if self.format != "csv.gz":
                yield raw
                return
            limited = _LimitedStream(gzip.GzipFile(fileobj=raw), self.max_decompressed_bytes)  # type: ignore[arg-type]
            with io.BufferedReader(limited, buffer_size=1024 * 1024) as stream:
                yield stream

    def _guarded(self, action: str) -> _Guard:
        return _Guard(action, self.max_decompressed_bytes)

    def _read_parquet_header(self) -> list[str]:
        with self._guarded("read the Parquet file"), self.open() as handle:
            schema = pq.read_schema(handle)
        return normalize_header(list(schema.names))

    def _read_csv_header(self) -> list[str]:
        with self._guarded("decompress the file"), self._open_text_stream() as stream:
            head = stream.read(_SNIFF_BYTES)
        if not head.strip():
            raise FileRejected("empty_file", "the file is empty")
        if head.startswith(PARQUET_MAGIC):
            raise FileRejected(
                "unsupported_format", "gzip-compressed Parquet is not supported; Parquet compresses itself"
            )
        if b"\x00" in head:
            raise FileRejected("not_a_table", "the file is binary (it contains NUL bytes), not CSV text")
        first_line = head.split(b"\n", 1)[0]
        try:
            header_text = first_line.decode("utf-8")
        except UnicodeDecodeError as error:
            raise FileRejected(
                "not_utf8", f"the header row is not valid UTF-8 (byte {error.start})"
            ) from None
        header = next(csv.reader([header_text.rstrip("\r")]), [])
        return normalize_header(header)

    def chunks(self) -> Iterator[Chunk]:
        if self.format == "parquet":
            yield from self._parquet_chunks()
        elif self._has_malformed_rows():
            yield from self._exact_csv_chunks()
        else:
            yield from self._fast_csv_chunks()

    def _csv_reader(self, stream: BinaryIO, on_invalid_row: object = None) -> pa_csv.CSVStreamingReader:
        return pa_csv.open_csv(
            stream,
            read_options=pa_csv.ReadOptions(
                column_names=self.columns, skip_rows=1, block_size=self.block_size
            ),
            parse_options=pa_csv.ParseOptions(
                newlines_in_values=True, ignore_empty_lines=False, invalid_row_handler=on_invalid_row
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(self.columns, pa.binary()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )

    def _has_malformed_rows(self) -> bool:
        found: list[bool] = []

        def on_invalid_row(_row: object) -> str:
            found.append(True)
            return "skip"

        with self._guarded("parse the CSV"), self._open_text_stream() as stream:
            for _batch in self._csv_reader(stream, on_invalid_row):
                if found:
                    return True
        return bool(found)

    def _fast_csv_chunks(self) -> Iterator[Chunk]:
        next_line = FIRST_DATA_LINE
        with self._guarded("parse the CSV"), self._open_text_stream() as stream:
            for batch in self._csv_reader(stream):
                if batch.num_rows == 0:
                    continue
                table = pa.Table.from_batches([batch])
                extra_lines = _embedded_newlines(table)
                starts = np.arange(batch.num_rows, dtype=np.int64) + next_line
                if extra_lines is not None:
                    starts += np.concatenate(([0], np.cumsum(extra_lines)[:-1]))
                    next_line += int(extra_lines.sum())
                next_line += batch.num_rows
                yield Chunk(columns=table, lines=starts)

    def _exact_csv_chunks(self) -> Iterator[Chunk]:
        width = len(self.columns)
        with self._guarded("parse the CSV"), self._open_text_stream() as stream:
            text = io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="")
            reader = csv.reader(text)
            next(reader, None)  # header
            row_start = reader.line_num + 1
            rows: list[list[str]] = []
            lines: list[int] = []
            malformed: list[tuple[int, str]] = []
            try:
                for row in reader:
                    if not row:
                        pass  # a blank line carries no data
                    elif len(row) != width:
                        malformed.append((row_start, f"expected {width} columns, found {len(row)}"))
                    else:
                        rows.append(row)
                        lines.append(row_start)
                    row_start = reader.line_num + 1
                    if len(rows) >= EXACT_PATH_CHUNK_ROWS:
                        yield self._rows_to_chunk(rows, lines, malformed)
                        rows, lines, malformed = [], [], []
            except csv.Error as error:
                malformed.append((row_start, f"unparseable CSV from here on ({error})"))
            if rows or malformed:
                yield self._rows_to_chunk(rows, lines, malformed)

    def _rows_to_chunk(
        self, rows: list[list[str]], lines: list[int], malformed: list[tuple[int, str]]
    ) -> Chunk:
        arrays = [
            pa.array([row[index].encode("utf-8", "surrogateescape") for row in rows], type=pa.binary())
            for index in range(len(self.columns))
        ]
        return Chunk(
            columns=pa.Table.from_arrays(arrays, names=self.columns),
            lines=np.asarray(lines, dtype=np.int64),
            malformed=malformed,
        )

    def _parquet_chunks(self) -> Iterator[Chunk]:
        next_line = FIRST_DATA_LINE
        with self._guarded("read the Parquet file"), self.open() as handle:
            parquet = pq.ParquetFile(handle)
            for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
                arrays = [_as_binary(column) for column in batch.columns]
                table = pa.Table.from_arrays(arrays, names=self.columns)
                lines = np.arange(batch.num_rows, dtype=np.int64) + next_line
                next_line += batch.num_rows
                yield Chunk(columns=table, lines=lines)


class _Guard:
    """Turns low-level read failures into a `FileRejected` that names what could not be done."""

    def __init__(self, action: str, limit: int) -> None:
        self.action = action
        self.limit = limit

    def __enter__(self) -> _Guard:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, _tb: object
    ) -> Literal[False]:
        if exc is None or isinstance(exc, FileRejected | MemoryError):
            # pyarrow's ArrowMemoryError is a MemoryError too: running out of memory is not a broken file.
            return False
        if _caused_by(exc, DecompressedSizeExceeded):
            raise FileRejected(
                "too_large", f"the file decompresses to more than {self.limit:,} bytes (the limit)"
            ) from None
        if isinstance(exc, gzip.BadGzipFile | EOFError | zlib.error) or _caused_by(exc, gzip.BadGzipFile):
            raise FileRejected(
                "corrupt_gzip", f"could not {self.action}: the gzip data is corrupt or truncated"
            ) from None
        if isinstance(exc, pa.ArrowException | OSError | ValueError | UnicodeError):
            detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise FileRejected("unreadable", f"could not {self.action}: {detail}") from None
        return False


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, kind):
            return True
        current = current.__cause__ or current.__context__
    return False


def _embedded_newlines(table: pa.Table) -> np.ndarray | None:
    """Newlines inside quoted values per row (they make a row span several physical lines), or None."""
    total: np.ndarray | None = None
    for column in table.columns:
        counts = pc.count_substring(column, "\n")
        if pc.max(counts).as_py():
            as_numpy = counts.to_numpy(zero_copy_only=False).astype(np.int64)
            total = as_numpy if total is None else total + as_numpy
    return total


def _as_binary(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A Parquet column as raw text, so typed and text sources go through the same validation."""
    if pa.types.is_binary(column.type):
        return column
    if pa.types.is_large_binary(column.type) or pa.types.is_large_string(column.type):
        return column.cast(pa.string()).cast(pa.binary())
    if pa.types.is_string(column.type):
        return column.cast(pa.binary())
    if pa.types.is_dictionary(column.type):
        return _as_binary(column.cast(column.type.value_type))
    if pa.types.is_floating(column.type):
        # NaN and infinities become text the validator rejects as "not a number" rather than silent nulls.
        return pc.cast(column, pa.string()).cast(pa.binary())
    try:
        return pc.cast(column, pa.string()).cast(pa.binary())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        raise FileRejected(
            "unsupported_column", f"a Parquet column of type {column.type} cannot be read as a value"
        ) from None
