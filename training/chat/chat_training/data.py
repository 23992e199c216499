"""Training data: reading `text,<label>` files with per-row rejections, and the shipped default corpora."""

from __future__ import annotations

import csv
import gzip
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from shelfwise.chat.validation import ChatInputError, validate_message

LABEL_COLUMNS = ("label", "intent", "sentiment", "category")
TEXT_COLUMNS = ("text", "instruction", "utterance", "message")
MAX_LABEL_CHARS = 100
MIN_EXAMPLES_PER_LABEL = 2
MIN_ROWS = 20
SENTIMENT_LABELS = ("negative", "neutral", "positive")


class TrainingDataRefused(Exception):
    """The file cannot train a model; the message says why in words meant for the person who sent it."""


@dataclass(frozen=True)
class Rejection:
    source: str
    row: int
    field: str
    reason: str


@dataclass
class LabelledTexts:
    texts: list[str]
    labels: list[str]
    rejections: list[Rejection]

    @property
    def label_counts(self) -> Counter[str]:
        return Counter(self.labels)


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def training_files(location: Path) -> list[Path]:
    if location.is_file():
        return [location]
    files = sorted(
        path
        for path in location.rglob("*")
        if path.is_file() and (path.suffix in {".csv", ".tsv"} or path.name.endswith((".csv.gz", ".tsv.gz")))
    )
    if not files:
        raise TrainingDataRefused(f"no .csv/.tsv file found in {location}")
    return files


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    with _open_text(path) as handle:
        delimiter = "\t" if ".tsv" in path.name else ","
        reader = csv.DictReader(handle, delimiter=delimiter)
        if reader.fieldnames is None:
            raise TrainingDataRefused(f"{path.name}: the file is empty (a header row is required)")
        # Row 1 is the header, so the first record is row 2, as a spreadsheet would number it.
        yield from enumerate(reader, start=2)


def _pick_column(fieldnames: list[str], candidates: tuple[str, ...], what: str, source: str) -> str:
    lowered = {name.strip().lower(): name for name in fieldnames if name}
    for candidate in candidates:
        if candidate in lowered:
            return lowered[candidate]
    raise TrainingDataRefused(
        f"{source}: no {what} column; the header must have one of {', '.join(candidates)} (found: "
        f"{', '.join(fieldnames)})"
    )


def read_labelled(location: Path, *, label_map: dict[str, str] | None = None) -> LabelledTexts:
    """Every good row of every file at `location`; bad rows become rejections naming row, field and reason."""
    texts: list[str] = []
    labels: list[str] = []
    sources: list[tuple[str, int]] = []
    rejections: list[Rejection] = []
    for path in training_files(location):
        with _open_text(path) as handle:
            header = next(csv.reader(handle, delimiter="\t" if ".tsv" in path.name else ","), None)
        if not header:
            raise TrainingDataRefused(f"{path.name}: the file is empty (a header row is required)")
        text_column = _pick_column(header, TEXT_COLUMNS, "text", path.name)
        label_column = _pick_column(header, LABEL_COLUMNS, "label", path.name)
        for number, row in _rows(path):
            raw_text = row.get(text_column)
            raw_label = (row.get(label_column) or "").strip()
            if label_map is not None:
                raw_label = label_map.get(raw_label, raw_label)
            try:
                text = validate_message(raw_text if raw_text is not None else "", field=text_column)
            except ChatInputError as error:
                rejections.append(Rejection(path.name, number, error.field, error.message))
                continue
            if not raw_label:
                rejections.append(Rejection(path.name, number, label_column, "label is empty"))
                continue
            if len(raw_label) > MAX_LABEL_CHARS or not raw_label.isprintable():
                reason = f"label must be at most {MAX_LABEL_CHARS} printable characters"
                rejections.append(Rejection(path.name, number, label_column, reason))
                continue
            texts.append(text)
            labels.append(raw_label)
            sources.append((path.name, number))
    counts = Counter(labels)
    rare = {label for label, count in counts.items() if count < MIN_EXAMPLES_PER_LABEL}
    if rare:
        keep = [index for index, label in enumerate(labels) if label not in rare]
        for index, label in enumerate(labels):
            if label in rare:
                source, number = sources[index]
                rejections.append(
                    Rejection(
                        source,
                        number,
                        "label",
                        f"label {label!r} has fewer than {MIN_EXAMPLES_PER_LABEL} examples",
                    )
                )
        texts = [texts[index] for index in keep]
        labels = [labels[index] for index in keep]
    data = LabelledTexts(texts, labels, rejections)
    if len(texts) < MIN_ROWS:
        raise TrainingDataRefused(
            f"only {len(texts)} usable rows (at least {MIN_ROWS} are needed); {len(rejections)} rows were "
            "rejected"
            + (
                f", first: row {rejections[0].row} {rejections[0].field}: {rejections[0].reason}"
                if rejections
                else ""
            )
        )
    if len(data.label_counts) < 2:
        raise TrainingDataRefused("at least two different labels are needed to train a classifier")
    return data


def write_rejections(path: Path, rejections: list[Rejection]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["source", "row", "field", "reason"])
        for rejection in rejections:
            writer.writerow([rejection.source, rejection.row, rejection.field, rejection.reason])
