"""Vectorized validation of raw column chunks against a file contract.

Every rule produces a boolean mask over the chunk; a row is landed only when no mask flags it, and every
(row, field) problem becomes one rejection with the row's line, the field, the offending value and the reason.
The happy path never loops over rows in Python: parsing and checks are pyarrow.compute kernels. Values that
make a whole-array cast fail (invalid UTF-8, impossible calendar dates) are located by bisection, so one bad
cell in a million costs about twenty small casts instead of a million.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shelfwise import curated
from shelfwise.chat.templates import template_problem
from shelfwise.ingest.contracts import (
    MAX_PROMOTION_DAYS,
    RATING_MAX,
    RATING_MIN,
    ColumnSpec,
    FileContract,
)
from shelfwise.ingest.reader import Chunk

REJECTIONS_SCHEMA = pa.schema(
    [
        pa.field("line", pa.int64()),
        pa.field("field", pa.string()),
        pa.field("value", pa.string()),
        pa.field("reason", pa.string()),
    ]
)
ROW_FIELD = "(row)"

_FLOAT = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_INT = r"^[+-]?\d{1,18}(\.0*)?$"
_EPOCH_SECONDS = r"^\d{1,16}(\.\d+)?$"
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
_ISO_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?$"
_HAS_ZONE = r"(Z|[+-]\d{2}(:?\d{2})?)$"
_CONTROL_CHARACTERS = r"[\x00-\x1f\x7f]"
_CONTROL_CHARACTERS_IN_TEXT = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
_TRUE = ["true", "t", "yes", "y", "1"]
_FALSE = ["false", "f", "no", "n", "0"]
# Timestamps outside this window are almost always a unit mistake (milliseconds sent as seconds) or garbage.
_EARLIEST_MS = 0
_LATEST_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z


@dataclass
class ValidatedChunk:
    valid: pa.Table  # curated schema of the kind (plus extra string attributes for the catalog)
    rejections: pa.Table  # REJECTIONS_SCHEMA, one row per (line, field) problem
    rows_total: int  # data rows in the chunk, blank lines excluded
    rows_rejected: int
    blank_rows: int


class _Problems:
    """Collects (field, mask, reason) findings for one chunk."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.found: list[tuple[str, np.ndarray, str, pa.Array]] = []
        self.bad_rows = np.zeros(size, dtype=bool)

    def add(self, field: str, mask: np.ndarray, reason: str, shown: pa.Array) -> None:
        if mask.any():
            self.found.append((field, mask, reason, shown))
            self.bad_rows |= mask


def _mask(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def _combined(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def cast_locating_failures(array: pa.Array, target: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    """Cast `array`; values that cannot be cast become null and are flagged in the returned mask."""
    try:
        return array.cast(target), np.zeros(len(array), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if len(array) == 1:
            return pa.nulls(1, target), np.ones(1, dtype=bool)
    middle = len(array) // 2
    left, left_bad = cast_locating_failures(array.slice(0, middle), target)
    right, right_bad = cast_locating_failures(array.slice(middle), target)
    return pa.concat_arrays([left, right]), np.concatenate([left_bad, right_bad])


def _keep(values: pa.Array, ok: np.ndarray) -> pa.Array:
    return pc.if_else(pa.array(ok), values, pa.scalar(None, values.type))


class _ColumnParser:
    """Parses one text column into its contract type, reporting problems per row."""

    def __init__(
        self, spec: ColumnSpec, text: pa.Array, shown: pa.Array, unreadable: np.ndarray, problems: _Problems
    ) -> None:
        self.spec = spec
        self.text = text
        self.shown = shown
        self.problems = problems
        # Undecodable cells are already reported; `absent` keeps them out of every later rule.
        self.missing = _mask(pc.or_kleene(pc.is_null(text), pc.equal(text, ""))) & ~unreadable
        self.absent = self.missing | unreadable

    def report(self, mask: np.ndarray, reason: str) -> None:
        self.problems.add(self.spec.name, mask, reason, self.shown)

    def matching(self, pattern: str) -> np.ndarray:
        return _mask(pc.match_substring_regex(self.text, pattern)) & ~self.absent

    def parse(self) -> pa.Array:
        spec = self.spec
        if spec.required and spec.default is None:
            self.report(self.missing, "required value is missing")
        parsed = getattr(self, f"_parse_{spec.type}")()
        if spec.default is not None:
            parsed = pc.fill_null(parsed, pa.scalar(spec.default, parsed.type))
        return parsed

    def _check_length(self, limit: int | None) -> None:
        if limit is not None:
            too_long = _mask(pc.greater(pc.utf8_length(self.text), limit))
            self.report(too_long, f"longer than {limit} characters")

    def _parse_id(self) -> pa.Array:
        self._check_length(self.spec.max_length)
        self.report(self.matching(_CONTROL_CHARACTERS), "contains control characters")
        return _keep(self.text, ~self.missing)

    def _parse_text(self) -> pa.Array:
        self._check_length(self.spec.max_length)
        if self.spec.forbid_control_characters:
            self.report(self.matching(_CONTROL_CHARACTERS_IN_TEXT), "contains control characters")
        return _keep(self.text, ~self.missing)

    def _parse_enum(self) -> pa.Array:
        lowered = pc.utf8_lower(self.text)
        allowed = list(self.spec.allowed or ())
        ok = _mask(pc.is_in(lowered, value_set=pa.array(allowed)))
        self.report(~ok & ~self.absent, f"not one of {', '.join(allowed)}")
        return _keep(lowered, ok)

    def _parse_float(self) -> pa.Array:
        ok = self.matching(_FLOAT)
        self.report(~ok & ~self.absent, "not a number")
        values = _keep(self.text, ok).cast(pa.float64())
        infinite = _mask(pc.invert(pc.is_finite(values)))
        self.report(infinite, "number is too large")
        values = _keep(values, ~infinite)
        return self._check_range(values)

    def _parse_int(self) -> pa.Array:
        ok = self.matching(_INT)
        self.report(~ok & ~self.absent, "not a whole number")
        digits = pc.replace_substring_regex(_keep(self.text, ok), r"\.0*$", "")
        return self._check_range(digits.cast(pa.int64()))

    def _parse_bool(self) -> pa.Array:
        lowered = pc.utf8_lower(self.text)
        truthy = _mask(pc.is_in(lowered, value_set=pa.array(_TRUE)))
        falsy = _mask(pc.is_in(lowered, value_set=pa.array(_FALSE)))
        self.report(~(truthy | falsy) & ~self.absent, "not a boolean (true/false, yes/no, 1/0)")
        return _keep(pa.array(truthy), truthy | falsy)

    def _parse_date(self) -> pa.Array:
        shaped = self.matching(_ISO_DATE)
        values, impossible = cast_locating_failures(_keep(self.text, shaped), pa.date32())
        self.report((~shaped | impossible) & ~self.absent, "not a valid date (YYYY-MM-DD)")
        return values

    def _parse_timestamp(self) -> pa.Array:
        epoch = self.matching(_EPOCH_SECONDS)
        iso = self.matching(_ISO_TIMESTAMP) & ~epoch
        utc = pa.timestamp("ms", tz="UTC")
        epoch_ms = pc.round(pc.multiply(_keep(self.text, epoch).cast(pa.float64()), 1000.0))
        epoch_values = pc.cast(epoch_ms, pa.int64()).cast(utc)
        iso_text = _keep(self.text, iso)
        iso_text = pc.replace_substring_regex(iso_text, r"^(\d{4}-\d{2}-\d{2})$", r"\1T00:00:00")
        no_zone = _mask(pc.invert(pc.match_substring_regex(iso_text, _HAS_ZONE)))
        iso_text = pc.if_else(pa.array(no_zone), pc.binary_join_element_wise(iso_text, "Z", ""), iso_text)
        nanos, impossible = cast_locating_failures(iso_text, pa.timestamp("ns", tz="UTC"))
        iso_values = pc.cast(nanos, utc, safe=False)
        values = pc.if_else(pa.array(epoch), epoch_values, iso_values)
        self.report(
            (~(epoch | iso) | (iso & impossible)) & ~self.absent,
            "not a valid timestamp (ISO-8601 or epoch seconds)",
        )
        as_ms = pc.cast(values, pa.int64())
        outside = _mask(pc.or_(pc.less(as_ms, _EARLIEST_MS), pc.greater_equal(as_ms, _LATEST_MS)))
        self.report(outside, "timestamp outside 1970-2100 (epoch seconds expected, not milliseconds)")
        return _keep(values, ~outside)

    def _check_range(self, values: pa.Array) -> pa.Array:
        spec = self.spec
        checks = (
            (spec.minimum, pc.less, ">="),
            (spec.exclusive_minimum, pc.less_equal, ">"),
            (spec.maximum, pc.greater, "<="),
            (spec.exclusive_maximum, pc.greater_equal, "<"),
        )
        for bound, violates, word in checks:
            if bound is not None:
                bad = _mask(violates(values, bound))
                self.report(bad, f"must be {word} {bound:g}")
                values = _keep(values, ~bad)
        return values


def _decode(raw: pa.Array, field: str, problems: _Problems) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """Raw bytes as (trimmed text, text for the report, undecodable mask); bad UTF-8 is a problem."""
    text, invalid = cast_locating_failures(raw, pa.string())
    if invalid.any():
        # The report still shows such a value, with undecodable bytes replaced.
        shown = pa.array(
            [
                value.decode("utf-8", "replace") if bad and value is not None else None
                for value, bad in zip(raw.to_pylist(), invalid, strict=True)
            ],
            type=pa.string(),
        )
        shown = pc.if_else(pa.array(invalid), shown, text)
        problems.add(field, invalid, "not valid UTF-8", shown)
    else:
        shown = text
    return pc.utf8_trim_whitespace(text), shown, invalid


def _interaction_rules(
    columns: dict[str, pa.Array], value_missing: np.ndarray, shown: dict[str, pa.Array], problems: _Problems
) -> None:
    """`value` means different things per event type (see the interactions contract)."""
    event_type = columns["event_type"]
    value = columns["value"]
    is_type = {name: _mask(pc.equal(event_type, name)) for name in ("purchase", "rating", "view", "cart")}
    missing = value_missing
    report = shown["value"]

    problems.add("value", is_type["purchase"] & missing, "purchase needs a value (the line amount)", report)
    negative = _mask(pc.less(value, 0.0))
    problems.add("value", is_type["purchase"] & negative, "purchase amount must be >= 0", report)
    problems.add("value", is_type["rating"] & missing, "rating needs a value (the rating)", report)
    out_of_scale = _mask(pc.or_(pc.less(value, RATING_MIN), pc.greater(value, RATING_MAX)))
    problems.add(
        "value",
        is_type["rating"] & out_of_scale,
        f"rating must be between {RATING_MIN:g} and {RATING_MAX:g}",
        report,
    )
    quantity = is_type["view"] | is_type["cart"]
    problems.add("value", quantity & _mask(pc.less_equal(value, 0.0)), "quantity must be > 0", report)
    columns["value"] = pc.if_else(pa.array(quantity & missing), pa.scalar(1.0), value)


def _promotion_rules(columns: dict[str, pa.Array], shown: dict[str, pa.Array], problems: _Problems) -> None:
    """A campaign runs forward in time and for at most a year (see the promotions contract)."""
    start = pc.cast(columns["start_date"], pa.int32())
    end = pc.cast(columns["end_date"], pa.int32())
    report = shown.get("end_date", pc.cast(columns["end_date"], pa.string()))
    problems.add("end_date", _mask(pc.less(end, start)), "end_date is before start_date", report)
    too_long = _mask(pc.greater_equal(pc.subtract(end, start), MAX_PROMOTION_DAYS))
    problems.add("end_date", too_long, f"a promotion spans at most {MAX_PROMOTION_DAYS} days", report)


def _chat_reply_rules(columns: dict[str, pa.Array], shown: dict[str, pa.Array], problems: _Problems) -> None:
    """Every placeholder of a template must be a slot the chat model extracts (see the chat-replies contract).
    Template files are small, so one Python check per row costs nothing next to reading the file."""
    templates = columns["template"].to_pylist()
    by_reason: dict[str, np.ndarray] = {}
    for row, template in enumerate(templates):
        reason = template_problem(template) if template is not None else None
        if reason is not None:
            by_reason.setdefault(reason, np.zeros(len(templates), dtype=bool))[row] = True
    report = shown.get("template", columns["template"])
    for reason, mask in by_reason.items():
        problems.add("template", mask, reason, report)


def _rejections_table(problems: _Problems, lines: np.ndarray, blank: np.ndarray) -> pa.Table:
    parts = []
    for field, mask, reason, shown in problems.found:
        indices = np.flatnonzero(mask & ~blank)
        if not len(indices):
            continue
        parts.append(
            pa.table(
                {
                    "line": pa.array(lines[indices], pa.int64()),
                    "field": pa.array([field] * len(indices), pa.string()),
                    "value": pc.fill_null(shown.take(pa.array(indices)), ""),
                    "reason": pa.array([reason] * len(indices), pa.string()),
                },
                schema=REJECTIONS_SCHEMA,
            )
        )
    if not parts:
        return REJECTIONS_SCHEMA.empty_table()
    return pa.concat_tables(parts).sort_by([("line", "ascending")])


def _malformed_table(chunk: Chunk) -> pa.Table:
    if not chunk.malformed:
        return REJECTIONS_SCHEMA.empty_table()
    lines, reasons = zip(*chunk.malformed, strict=True)
    return pa.table(
        {
            "line": pa.array(lines, pa.int64()),
            "field": pa.array([ROW_FIELD] * len(lines), pa.string()),
            "value": pa.array([""] * len(lines), pa.string()),
            "reason": pa.array(reasons, pa.string()),
        },
        schema=REJECTIONS_SCHEMA,
    )


def validate_chunk(contract: FileContract, chunk: Chunk) -> ValidatedChunk:
    raw_table = chunk.columns
    size = raw_table.num_rows
    problems = _Problems(size)
    texts: dict[str, pa.Array] = {}
    shown: dict[str, pa.Array] = {}
    unreadable: dict[str, np.ndarray] = {}
    for name in raw_table.column_names:
        texts[name], shown[name], unreadable[name] = _decode(
            _combined(raw_table.column(name)), name, problems
        )

    blank = np.ones(size, dtype=bool)
    for text in texts.values():
        blank &= _mask(pc.equal(text, ""))
    if not texts:
        blank = np.zeros(size, dtype=bool)

    parsed: dict[str, pa.Array] = {}
    missing: dict[str, np.ndarray] = {}
    for spec in contract.columns:
        text = texts.get(spec.name, pa.nulls(size, pa.string()))
        undecodable = unreadable.get(spec.name, np.zeros(size, dtype=bool))
        parser = _ColumnParser(spec, text, shown.get(spec.name, text), undecodable, problems)
        parsed[spec.name] = parser.parse()
        missing[spec.name] = parser.missing
    if contract.kind == "interactions":
        _interaction_rules(parsed, missing["value"], shown, problems)
    if contract.kind == "promotions":
        _promotion_rules(parsed, shown, problems)
    if contract.kind == "chat-replies":
        _chat_reply_rules(parsed, shown, problems)
    if contract.keep_extra_columns:
        contract_names = {spec.name for spec in contract.columns}
        for name, text in texts.items():
            if name not in contract_names:
                parsed[name] = _keep(text, _mask(pc.not_equal(text, "")))

    keep = ~problems.bad_rows & ~blank
    valid = curated.conform(pa.table(parsed).filter(pa.array(keep)), contract.kind)
    rejections = pa.concat_tables([_malformed_table(chunk), _rejections_table(problems, chunk.lines, blank)])
    rows_rejected = int((problems.bad_rows & ~blank).sum()) + len(chunk.malformed)
    blank_rows = int(blank.sum())
    return ValidatedChunk(
        valid=valid,
        rejections=rejections.sort_by([("line", "ascending")]),
        rows_total=size - blank_rows + len(chunk.malformed),
        rows_rejected=rows_rejected,
        blank_rows=blank_rows,
    )
