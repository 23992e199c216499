"""Where the handlers' own output goes when the local cloud runs them.

In AWS a function's stdout — Powertools Logger's JSON lines, the EMF documents Metrics prints — lands in
CloudWatch Logs, not on a terminal. Locally it is appended to `<state-dir>/logs/functions.jsonl`, one JSON
document per line, and the terminal keeps the local cloud's own lines, the CLI's output and a one-line echo
of every function record at WARNING or above, so problems are not hidden.

Powertools binds its StreamHandler to whatever `sys.stdout` is when a Logger is created, and Metrics prints
to `sys.stdout` when it flushes, so `sys.stdout` is replaced, before any handler is imported, by a router:
output written while a function runs, or on any thread the CLI did not mark as the console's, goes to the
file; the rest goes to the terminal. A thread started by the local cloud (gateway, queue poller, scheduler,
a handler's own thread pool) starts with an empty context, so it is never the console's by accident.
"""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

FUNCTION_LOG = Path("logs") / "functions.jsonl"
ECHOED_LEVELS = frozenset({"WARNING", "ERROR", "CRITICAL"})
MAX_ECHO_CHARS = 300

_running_function: ContextVar[str | None] = ContextVar("shelfwise_running_function", default=None)
_console_context: ContextVar[bool] = ContextVar("shelfwise_console_context", default=False)


def function_log_path(state_dir: Path) -> Path:
    return state_dir / FUNCTION_LOG


@contextmanager
def running_function(name: str) -> Iterator[None]:
    """Attribute what is written to stdout in this context to function `name` (its import or invocation)."""
    token = _running_function.set(name)
    try:
        yield
    finally:
        _running_function.reset(token)


class FunctionLogFile:
    """Appends whole lines; one `write` per line on an O_APPEND descriptor, so the workflow's worker
    processes can share the file without interleaving."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, line: str) -> None:
        os.write(self._fd, (line + "\n").encode("utf-8", "replace"))


class FunctionOutputRouter(io.TextIOBase):
    """A `sys.stdout` that sends function output to a FunctionLogFile and the console's to `console`."""

    def __init__(self, log_file: FunctionLogFile, *, console: TextIO, echo: TextIO) -> None:
        super().__init__()
        self.log_file = log_file
        self.console = console
        self.echo = echo
        self._partial_lines = threading.local()

    @property
    def encoding(self) -> str:
        return "utf-8"

    def writable(self) -> bool:
        return True

    @staticmethod
    def is_console_output() -> bool:
        return _console_context.get() and _running_function.get() is None

    def write(self, text: str) -> int:
        if self.is_console_output():
            return self.console.write(text)
        # print() writes the text and the newline separately: a line is complete only at its newline.
        pending = getattr(self._partial_lines, "text", "") + text
        *lines, self._partial_lines.text = pending.split("\n")
        for line in lines:
            if line.strip():
                self._record(line)
        return len(text)

    def flush(self) -> None:
        self.console.flush()

    def _record(self, line: str) -> None:
        try:
            document: Any = json.loads(line)
        except json.JSONDecodeError:
            document = None
        if isinstance(document, dict):
            self.log_file.append(line)
            self._echo_if_worrying(document)
        else:
            # A plain print() of a handler: still one JSON document per line, named after its function.
            self.record_document({"message": line})

    def record_document(self, document: dict[str, Any]) -> None:
        """Log a document the function did not write as JSON itself, naming the function it came from."""
        document = {"function": _running_function.get(), **document}
        self.log_file.append(json.dumps(document, default=str))
        self._echo_if_worrying(document)

    def _echo_if_worrying(self, document: dict[str, Any]) -> None:
        function = _running_function.get()
        level = str(document.get("level", "")).upper()
        if level in ECHOED_LEVELS:
            self._echo(function or str(document.get("service") or "function"), level, document.get("message"))

    def _echo(self, function: str, level: str, message: Any) -> None:
        text = " ".join(str(message).split())
        if len(text) > MAX_ECHO_CHARS:
            text = text[:MAX_ECHO_CHARS] + "…"
        self.echo.write(f"{datetime.now():%H:%M:%S} [{function}] {level} {text}\n")
        self.echo.flush()


def send_function_output_to(log_path: Path) -> None:
    """Route this process's function output to `log_path`; the calling context stays on the console.

    Call it before any handler (or anything creating a Powertools Logger) is imported. Calling it again in
    the same process changes nothing, so a reused worker process can call it once per task.
    """
    if isinstance(sys.stdout, FunctionOutputRouter):
        return
    router = FunctionOutputRouter(FunctionLogFile(log_path), console=sys.stdout, echo=sys.stderr)
    sys.stdout = router
    _console_context.set(True)
    show_on_console = warnings.showwarning

    def show_warning(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        # Python warnings raised by a handler (Powertools' "no metrics to publish", say) are function output
        # too: logged as a WARNING record, so the console gets the one-line echo instead of a two-line dump.
        if file is not None or router.is_console_output():
            show_on_console(message, category, filename, lineno, file, line)
            return
        text = f"{category.__name__}: {message}"
        router.record_document({"level": "WARNING", "location": f"{filename}:{lineno}", "message": text})

    warnings.showwarning = show_warning
