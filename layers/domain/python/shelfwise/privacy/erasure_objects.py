"""Rewriting stored objects without one customer: Parquet, CSV (optionally gzipped), JSON, model versions.

Every function here takes the object's bytes and the customer's identifiers (their id and pseudonym: data
landed before pseudonymization holds raw ids) and returns the bytes without them, or None when the object
does not hold the customer, so callers write only what changed. A value matches when it equals an identifier
(after the spreadsheet guard `'` rejection reports put in front of some values), never as a substring: erasing
`u1` leaves `u10` alone. In free text an identifier matches as a whole token.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# Characters that may belong to an id: a match in text must not continue into one of them on either side.
_ID_CHARACTER = r"[A-Za-z0-9_.:@\-]"
_TEXT_SUFFIXES = (".json", ".csv", ".md", ".txt", ".jsonl")


@dataclass(frozen=True)
class Identifiers:
    """The values that identify one customer in stored data."""

    values: frozenset[str]

    @classmethod
    def of(cls, *values: str | None) -> Identifiers:
        return cls(frozenset(value for value in values if value))

    def matches(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        return value in self.values or (value.startswith("'") and value[1:] in self.values)

    def pattern(self) -> re.Pattern[str]:
        alternatives = "|".join(re.escape(value) for value in sorted(self.values, key=len, reverse=True))
        return re.compile(f"(?<!{_ID_CHARACTER})(?:{alternatives})(?!{_ID_CHARACTER})")

    def mentioned_in(self, text: str) -> bool:
        return bool(self.values) and self.pattern().search(text) is not None


class UnsupportedObject(ValueError):
    """An object mentions the customer but is in a format the job cannot rewrite without them."""


@dataclass(frozen=True)
class Rewritten:
    body: bytes | None  # None: the object does not hold the customer, leave it as it is
    removed: int  # rows (or records) removed


UNCHANGED = Rewritten(None, 0)


# --- tables -------------------------------------------------------------------------------------------------


def parquet_holds(data: bytes | Any, who: Identifiers, *, columns: Iterable[str] | None = None) -> bool:
    """Whether any string column (or the named ones) holds the customer; reads only those columns."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    source = pa.BufferReader(data) if isinstance(data, bytes | bytearray) else data
    parquet = pq.ParquetFile(source)
    names = list(columns) if columns is not None else _string_columns(parquet.schema_arrow)
    names = [name for name in names if name in parquet.schema_arrow.names]
    if not names:
        return False
    table = parquet.read(columns=names)
    wanted = pa.array(sorted(who.values), pa.string())
    return any(
        bool(pc.any(pc.is_in(table.column(name).cast(pa.string()), value_set=wanted)).as_py())
        for name in names
    )


def without_customer_parquet(data: bytes, who: Identifiers) -> Rewritten:
    """The Parquet file without the rows any string column of which is the customer; same schema."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(pa.BufferReader(data))
    wanted = pa.array(sorted(who.values), pa.string())
    keep = None
    for name in _string_columns(table.schema):
        hit = pc.fill_null(pc.is_in(table.column(name).cast(pa.string()), value_set=wanted), False)
        keep = pc.invert(hit) if keep is None else pc.and_(keep, pc.invert(hit))
    if keep is None:
        return UNCHANGED
    kept = table.filter(keep)
    removed = table.num_rows - kept.num_rows
    if removed == 0:
        return UNCHANGED
    sink = io.BytesIO()
    pq.write_table(kept, sink, compression="zstd")
    return Rewritten(sink.getvalue(), removed)


def _string_columns(schema: Any) -> list[str]:
    import pyarrow as pa

    return [
        field.name
        for field in schema
        if pa.types.is_string(field.type)
        or pa.types.is_large_string(field.type)
        or (pa.types.is_dictionary(field.type) and pa.types.is_string(field.type.value_type))
    ]


def without_customer_csv(data: bytes, who: Identifiers, *, gzipped: bool = False) -> Rewritten:
    """The CSV without the data rows any cell of which is the customer; header, delimiter, line ends kept."""
    raw = gzip.decompress(data) if gzipped else data
    bom = raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    if not who.mentioned_in(text):
        return UNCHANGED
    first_line_end = text.find("\n")
    line_end = "\r\n" if first_line_end > 0 and text[first_line_end - 1] == "\r" else "\n"
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=line_end)
    removed = 0
    for index, row in enumerate(reader):
        if index > 0 and any(who.matches(cell) for cell in row):
            removed += 1
            continue
        writer.writerow(row)
    if removed == 0:
        return UNCHANGED
    body = out.getvalue().encode("utf-8")
    if bom:
        body = b"\xef\xbb\xbf" + body
    if gzipped:
        body = gzip.compress(body, mtime=0)
    return Rewritten(body, removed)


# --- JSON ---------------------------------------------------------------------------------------------------


def without_customer_json(data: bytes, who: Identifiers) -> Rewritten:
    """The JSON document without the customer: keys that are them, list entries that are them or are records
    (objects) holding them as a value. Anything else still mentioning them is refused
    (`UnsupportedObject`)."""
    text = data.decode("utf-8")
    if not who.mentioned_in(text):
        return UNCHANGED
    document, removed = _redact(json.loads(text), who)
    body = json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
    if who.mentioned_in(body.decode("utf-8")):
        raise UnsupportedObject("the document mentions the customer in free text")
    return Rewritten(body, removed)


def _redact(value: Any, who: Identifiers) -> tuple[Any, int]:
    if isinstance(value, dict):
        removed = 0
        kept: dict[str, Any] = {}
        for key, inner in value.items():
            if who.matches(key):
                removed += 1
                continue
            kept[key], count = _redact(inner, who)
            removed += count
        return kept, removed
    if isinstance(value, list):
        removed = 0
        kept_items: list[Any] = []
        for inner in value:
            if who.matches(inner) or (
                isinstance(inner, dict) and any(who.matches(v) for v in inner.values())
            ):
                removed += 1
                continue
            cleaned, count = _redact(inner, who)
            kept_items.append(cleaned)
            removed += count
        return kept_items, removed
    return value, 0


def without_customer(key: str, data: bytes, who: Identifiers) -> Rewritten:
    """Dispatch on the key's suffix; an unknown format that mentions the customer is refused."""
    name = key.lower()
    if name.endswith(".parquet"):
        return without_customer_parquet(data, who)
    if name.endswith((".csv.gz", ".gz")):
        return without_customer_csv(data, who, gzipped=True)
    if name.endswith(".csv"):
        return without_customer_csv(data, who)
    if name.endswith(".json"):
        return without_customer_json(data, who)
    if _looks_like_text(data) and who.mentioned_in(data.decode("utf-8", errors="replace")):
        raise UnsupportedObject(f"{key} mentions the customer and is not CSV, Parquet or JSON")
    return UNCHANGED


def _looks_like_text(data: bytes) -> bool:
    return b"\x00" not in data[:8192]


# --- recommender model versions -----------------------------------------------------------------------------


def without_user_in_model(files: dict[str, bytes], who: Identifiers) -> tuple[dict[str, bytes], int]:
    """A recommender version's changed files without the customer's history, and how many users were removed.

    `files` maps the version's relative paths to their bytes (manifest.json included). The user is removed
    from `users.json` and their row from the CSR history arrays (`user_indptr`, `user_items`, `user_weights`);
    manifest.json gets the new sha256 of each changed file. Returns `({}, 0)` when the version does not know
    them. The item side of the model (factors, scorer) holds no user.
    """
    import numpy as np

    manifest = json.loads(files["manifest.json"])
    artifacts = manifest.get("artifacts") or {}
    users_path = artifacts.get("users")
    if not users_path or users_path not in files:
        return {}, 0
    users = json.loads(files[users_path])
    user_ids = list(users.get("user_ids", []))
    positions = [index for index, user in enumerate(user_ids) if who.matches(user)]
    if not positions:
        return {}, 0
    changed: dict[str, bytes] = {}
    indptr = _load_npy(files[artifacts["user_indptr"]])
    items = _load_npy(files[artifacts["user_items"]])
    weights = _load_npy(files[artifacts["user_weights"]])
    keep_rows = np.ones(len(user_ids), dtype=bool)
    keep_rows[positions] = False
    keep_entries = np.repeat(keep_rows, np.diff(indptr))
    lengths = np.diff(indptr)[keep_rows]
    new_indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(indptr.dtype)
    changed[artifacts["user_indptr"]] = _save_npy(new_indptr)
    changed[artifacts["user_items"]] = _save_npy(items[keep_entries])
    changed[artifacts["user_weights"]] = _save_npy(weights[keep_entries])
    users["user_ids"] = [user for index, user in enumerate(user_ids) if keep_rows[index]]
    changed[users_path] = json.dumps(users).encode("utf-8")
    for path, data in files.items():
        if path in changed or path == "manifest.json" or not path.endswith(".json"):
            continue
        rewritten = without_customer_json(data, who)
        if rewritten.body is not None:
            changed[path] = rewritten.body
    listed = manifest.get("files") or {}
    for path, data in changed.items():
        if path in listed:
            listed[path] = hashlib.sha256(data).hexdigest()
    manifest["files"] = listed
    changed["manifest.json"] = json.dumps(manifest, indent=2).encode("utf-8")
    return changed, len(positions)


def _load_npy(data: bytes) -> Any:
    import numpy as np

    return np.load(io.BytesIO(data), allow_pickle=False)


def _save_npy(array: Any) -> bytes:
    import numpy as np

    sink = io.BytesIO()
    np.save(sink, array, allow_pickle=False)
    return sink.getvalue()


def archive_mentions(data: bytes, who: Identifiers) -> tuple[bool, dict[str, Any] | None]:
    """Whether a training archive (model.tar.gz) holds the customer, and the manifest of the version in it."""
    found = False
    manifest: dict[str, Any] | None = None
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member in archive.getmembers():
            if not member.isfile():
                continue
            extracted = archive.extractfile(member)
            if extracted is None:
                continue
            name = member.name.lower()
            if name.endswith("/manifest.json") or name == "manifest.json":
                manifest = json.loads(extracted.read())
                continue
            if name.endswith(_TEXT_SUFFIXES) and who.mentioned_in(
                extracted.read().decode("utf-8", "replace")
            ):
                found = True
    return found, manifest
