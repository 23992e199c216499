"""Progress lines on stdout, so a container log shows where a long job is and how long each step took."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

# A watched job (the demo, a SageMaker log) says something at least this often, even inside one long step.
HEARTBEAT_SECONDS = 20.0


class Progress:
    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout
        self._started = time.perf_counter()
        self._step = 0
        self._last_line = self._started
        self._last_message = "starting"
        self._lock = threading.Lock()

    def step(self, message: str) -> None:
        with self._lock:
            self._step += 1
            self._print(f"[step {self._step:02d} | {self.elapsed:7.2f}s] {message}")
            self._last_message = message

    def warn(self, message: str) -> None:
        """A warning line (the log's `WARNING` filter finds it); it does not count as a step."""
        with self._lock:
            self._print(f"[WARNING | {self.elapsed:7.2f}s] {message}")

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._started

    @contextmanager
    def heartbeat(self, every: float = HEARTBEAT_SECONDS) -> Iterator[None]:
        """While the block runs, a line every `every` seconds without one says the job is still at work."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(min(every, 1.0)):
                with self._lock:
                    if time.perf_counter() - self._last_line >= every:
                        last = self._last_message
                        self._print(f"[still   | {self.elapsed:7.2f}s] working; last step: {last}")

        thread = threading.Thread(target=beat, name="progress-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def _print(self, line: str) -> None:
        print(line, file=self._stream, flush=True)
        self._last_line = time.perf_counter()
