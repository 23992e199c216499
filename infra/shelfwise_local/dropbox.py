"""The drop folder: files placed in `<state-dir>/dropbox/<kind>/` become uploads to `incoming/<kind>/`.

A file is uploaded once its size and modification time stayed the same between two polls (so a file still
being copied is not picked up half-written), then moved to `dropbox/<kind>/.landed/`. Landed files are the
upstream record of everything delivered to the local cloud, kept as long as their `incoming/` object: the
housekeeping sweep (housekeeping.py) removes a copy when retention expires that object.
"""

from __future__ import annotations

import logging
import mimetypes
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from shelfwise_infra import spec

log = logging.getLogger("shelfwise.local")

POLL_SECONDS = 0.5
LANDED_DIR = ".landed"
# Names editors, office suites, browsers and copy tools give to files that are not (yet) the data itself.
_TEMP_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".crdownload", ".download", ".swp", ".swo", ".bak")


def ignored_reason(name: str) -> str | None:
    """Why the drop folder leaves a file with this name alone, or None when it uploads it."""
    if name.startswith("."):
        return "its name starts with '.' (a hidden file)"
    if name.startswith("~$") or name.endswith("~") or (name.startswith("#") and name.endswith("#")):
        return "its name is an editor's lock, backup or autosave file"
    if name.lower().endswith(_TEMP_SUFFIXES):
        return "its name ends like a temporary or partly copied file"
    return None


def incoming_key(kind: str, file_name: str) -> str:
    return f"{spec.INCOMING_PREFIX}{kind}/{file_name}"


def content_type_for(path: Path) -> str:
    if path.suffix.lower() == ".parquet":
        return "application/vnd.apache.parquet"
    if path.suffix.lower() == ".csv":
        return "text/csv"
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def upload_file(s3: Any, kind: str, path: Path) -> str:
    key = incoming_key(kind, path.name)
    # A .csv.gz stays a gzip file (no Content-Encoding), as upstream systems deliver it; ingestion unpacks it.
    content_type = "application/gzip" if path.suffix.lower() == ".gz" else content_type_for(path)
    with path.open("rb") as body:
        s3.put_object(Bucket=spec.DATA_BUCKET.local_name, Key=key, Body=body, ContentType=content_type)
    return key


def _landed_path(directory: Path, name: str) -> Path:
    """Where a landed file is kept; a second delivery of the same name gets a timestamped name."""
    target = directory / name
    if not target.exists():
        return target
    stamp = time.strftime("%Y%m%dT%H%M%S")
    counter = 1
    while True:
        candidate = directory / f"{stamp}-{counter}-{name}"
        if not candidate.exists():
            return candidate
        counter += 1


class Dropbox:
    def __init__(self, root: Path, on_landed: Callable[[str, Path, str], None] | None = None) -> None:
        self.root = root
        self._on_landed = on_landed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_seen: dict[Path, tuple[int, int]] = {}
        self._reported_unknown: set[Path] = set()
        self.landed_count = 0

    def prepare(self) -> None:
        for kind in spec.INGEST_KINDS:
            (self.root / kind / LANDED_DIR).mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        self.prepare()
        self._thread = threading.Thread(target=self._run, name="dropbox", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        s3 = boto3.client("s3")
        while not self._stop.is_set():
            try:
                self.scan_once(s3)
            except Exception:
                log.exception("dropbox scan failed; trying again")
            self._stop.wait(POLL_SECONDS)

    def pending_files(self) -> list[Path]:
        """Files waiting in known kind folders (not yet uploaded)."""
        return [
            path
            for kind in spec.INGEST_KINDS
            if (self.root / kind).is_dir()
            for path in sorted((self.root / kind).iterdir())
            if path.is_file() and ignored_reason(path.name) is None
        ]

    def scan_once(self, s3: Any) -> list[str]:
        """Upload every file whose size is stable since the previous scan; returns the uploaded keys."""
        uploaded: list[str] = []
        if not self.root.is_dir():
            return uploaded
        seen_now: set[Path] = set()
        for entry in sorted(self.root.iterdir()):
            if entry.name.startswith("."):
                continue
            if entry.is_file():
                self._report_unknown(entry, f"{entry.name} is not inside a kind folder")
                continue
            if entry.name not in spec.INGEST_KINDS:
                for stray in entry.iterdir():
                    if stray.is_file():
                        self._report_unknown(stray, f"unknown kind {entry.name!r}")
                continue
            for path in sorted(entry.iterdir()):
                if not path.is_file():
                    continue
                seen_now.add(path)
                stat = path.stat()
                signature = (stat.st_size, stat.st_mtime_ns)
                if self._last_seen.get(path) != signature:
                    self._last_seen[path] = signature
                    continue
                reason = ignored_reason(path.name)
                if reason is not None:
                    # Warned only once the file stopped changing: a copy tool's temporary name that is
                    # renamed a moment later is not worth a line.
                    self._report_ignored(path, reason)
                    continue
                uploaded.append(self._land(s3, entry.name, path))
        self._last_seen = {path: sig for path, sig in self._last_seen.items() if path in seen_now}
        return uploaded

    def _land(self, s3: Any, kind: str, path: Path) -> str:
        key = upload_file(s3, kind, path)
        landed_dir = path.parent / LANDED_DIR
        landed_dir.mkdir(exist_ok=True)
        destination = _landed_path(landed_dir, path.name)
        path.rename(destination)
        self._last_seen.pop(path, None)
        self.landed_count += 1
        log.info("dropbox: %s → s3://%s/%s", path.name, spec.DATA_BUCKET.local_name, key)
        if self._on_landed is not None:
            self._on_landed(kind, destination, key)
        return key

    def _report_ignored(self, path: Path, reason: str) -> None:
        if path in self._reported_unknown:
            return
        self._reported_unknown.add(path)
        log.warning("dropbox: %s not uploaded — %s; rename it if it is data to ingest", path, reason)

    def _report_unknown(self, path: Path, reason: str) -> None:
        if path in self._reported_unknown:
            return
        self._reported_unknown.add(path)
        log.warning(
            "dropbox: %s left in place — %s; known kinds: %s (put files in dropbox/<kind>/)",
            path,
            reason,
            ", ".join(spec.INGEST_KINDS),
        )
