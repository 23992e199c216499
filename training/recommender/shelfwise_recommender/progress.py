"""Progress lines on stdout, so a container log shows where a long job is and how long each step took."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout
        self._started = time.perf_counter()
        self._step = 0

    def step(self, message: str) -> None:
        self._step += 1
        elapsed = time.perf_counter() - self._started
        print(f"[step {self._step:02d} | {elapsed:7.2f}s] {message}", file=self._stream, flush=True)

    def warn(self, message: str) -> None:
        """A warning line (the log's `WARNING` filter finds it); it does not count as a step."""
        elapsed = time.perf_counter() - self._started
        print(f"[WARNING | {elapsed:7.2f}s] {message}", file=self._stream, flush=True)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._started
