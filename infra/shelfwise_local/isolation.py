"""Functions that process untrusted files run in their own worker process, with a memory cap.

In AWS every Lambda invocation has its own memory and CPU; locally the handlers share one process with the
HTTP gateway, so a hostile file (a gzip that inflates to gigabytes of rows) used to starve every API request
of the interpreter. Here the `ingest` function runs in a long-lived worker process instead:

- the worker caps its address space (`RLIMIT_AS`) at the function's `memory_mb` from the spec (override with
  `SHELFWISE_LOCAL_WORKER_MEMORY_MB`), so running out of memory is a `MemoryError` in the worker, which
  ingestion turns into a rejection report, not a machine that swaps;
- a worker that dies anyway (killed, crashed, past the function's timeout) is replaced, and the objects of
  the batch it was working on are rejected whole by the parent with the reason (`WorkerDied`), so a file is
  never lost in a crash loop;
- the worker dies with the local cloud (`PR_SET_PDEATHSIG` on Linux), as a Lambda sandbox would.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import resource
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from shelfwise_infra import spec

log = logging.getLogger("shelfwise.local")

WORKER_MEMORY_ENV = "SHELFWISE_LOCAL_WORKER_MEMORY_MB"
WORKER_DIED_CODE = "worker_died"
_PR_SET_PDEATHSIG = 1


class WorkerDied(RuntimeError):
    """The worker process ended before answering; `reason` says how, in words for the file's owner."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WorkerInvocationError(RuntimeError):
    """The handler raised in the worker (it is reported like an exception in-process: the batch fails)."""


@dataclass(frozen=True)
class WorkerConfig:
    """What the worker needs to run handlers as the local cloud does (picklable for the spawn context)."""

    function: str
    endpoint_url: str
    functions_dir: str | None
    function_log_path: str | None
    memory_limit_mb: int


def memory_limit_mb(fn: spec.Function) -> int:
    override = os.environ.get(WORKER_MEMORY_ENV)
    return int(override) if override else fn.memory_mb


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        # Without it the worker still exits once its pipe to the parent closes.
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _cap_memory(limit_mb: int) -> None:
    limit = limit_mb * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def worker_main(config: WorkerConfig, connection: Connection) -> None:
    """The worker: cap memory, point at the local cloud, then run invocations until the pipe closes."""
    _die_with_parent()
    # Arrow's default allocator reserves large address ranges up front; the system allocator fails a single
    # oversized allocation instead, which surfaces as a MemoryError the pipeline reports.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    from shelfwise_local import function_logs, functions

    if config.function_log_path is not None:
        function_logs.send_function_output_to(Path(config.function_log_path))
    functions.point_process_at(config.endpoint_url)
    functions.apply_shared_environment()
    directory = Path(config.functions_dir) if config.functions_dir else None
    # Imported before the first file arrives (a warm sandbox), and before the cap, which is for the files.
    with contextlib.suppress(Exception):
        functions.load_handler(config.function, functions_dir=directory)
    _cap_memory(config.memory_limit_mb)
    while True:
        try:
            name, event = connection.recv()
        except (EOFError, OSError):
            return
        try:
            result = functions.invoke(name, event, functions_dir=directory)
        except BaseException as failure:  # reported to the parent, which fails the batch as Lambda would
            connection.send((False, f"{type(failure).__name__}: {failure}"[:2000]))
        else:
            connection.send((True, result))


def describe_exit(exitcode: int | None, limit_mb: int, timed_out: bool, timeout_seconds: int) -> str:
    if timed_out:
        return f"ingestion did not finish within the function's timeout of {timeout_seconds} s"
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        return (
            f"the ingestion worker was stopped by {name} while reading the file (its memory limit is "
            f"{limit_mb} MiB; a kill usually means the machine ran out of memory)"
        )
    return f"the ingestion worker exited with code {exitcode} while reading the file"


class IsolatedFunction:
    """One function's worker process; `invoke` is called from one thread at a time (its queue poller)."""

    def __init__(self, function: str, config: WorkerConfig) -> None:
        self.fn = spec.function(function)
        self.config = config
        self._process: multiprocessing.process.BaseProcess | None = None
        self._connection: Connection | None = None
        self._lock = threading.Lock()

    def _start(self) -> tuple[multiprocessing.process.BaseProcess, Connection]:
        if self._process is None or not self._process.is_alive() or self._connection is None:
            context = multiprocessing.get_context("spawn")
            parent_end, child_end = context.Pipe()
            process = context.Process(
                target=worker_main, args=(self.config, child_end), name=f"worker-{self.fn.name}", daemon=True
            )
            process.start()
            child_end.close()
            self._process, self._connection = process, parent_end
        return self._process, self._connection

    def start(self) -> None:
        with self._lock:
            self._start()

    def invoke(self, event: dict[str, Any]) -> Any:
        with self._lock:
            process, connection = self._start()
            connection.send((self.fn.name, event))
            # A hung worker is as bad as a dead one; the function's own timeout bounds both, as in Lambda.
            answered = connection.poll(self.fn.timeout_seconds)
            try:
                if answered:
                    ok, payload = connection.recv()
                    if ok:
                        return payload
                    raise WorkerInvocationError(payload)
            except (EOFError, OSError):
                pass
            process.kill()
            process.join(10)
            exitcode = process.exitcode
            connection.close()
            self._process = self._connection = None
            reason = describe_exit(
                exitcode, self.config.memory_limit_mb, not answered, self.fn.timeout_seconds
            )
            raise WorkerDied(reason)

    def stop(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
            if self._process is not None:
                self._process.join(5)
                if self._process.is_alive():
                    self._process.kill()
            self._process = self._connection = None


def reject_batch(event: dict[str, Any], reason: str, *, announce: bool = True) -> dict[str, Any]:
    """Reject every object of an ingest batch whose worker died, so none of them is lost; a partial batch
    response with no failures, so the queue lets the messages go."""
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from shelfwise.aws.s3_notifications import notified_objects
    from shelfwise.ingest import outcomes
    from shelfwise.ingest.pipeline import IngestTargets, ingest_object
    from shelfwise.ingest.report import FileError
    from shelfwise.settings import Settings

    settings = Settings.from_env()
    targets = IngestTargets(
        data_bucket=settings.data_bucket,
        catalog_table=settings.catalog_table,
        user_activity_table=settings.user_activity_table,
    )
    for record in event.get("Records", []):
        for dropped in notified_objects(SQSRecord(record)):
            manifest = ingest_object(
                dropped.bucket,
                dropped.key,
                dropped.etag,
                targets,
                failure=FileError(code=WORKER_DIED_CODE, reason=reason),
            )
            log.warning(
                "file rejected: %s — %s; report s3://%s/%s",
                dropped.key,
                reason,
                settings.data_bucket,
                manifest.rejection_report_key,
            )
            if announce:
                outcomes.announce(
                    manifest, data_bucket=settings.data_bucket, table_name=outcomes.ingest_files_table()
                )
    return {"batchItemFailures": []}


Invoker = Callable[[str, dict[str, Any]], Any]


class IsolatingInvoker:
    """What the queue pollers call: isolated functions in their worker, everything else in-process."""

    ISOLATED = ("ingest",)

    def __init__(self, in_process: Invoker, config_for: Callable[[spec.Function], WorkerConfig]) -> None:
        self._in_process = in_process
        self._workers = {
            name: IsolatedFunction(name, config_for(spec.function(name))) for name in self.ISOLATED
        }
        for worker in self._workers.values():
            worker.start()

    def __call__(self, name: str, event: dict[str, Any]) -> Any:
        worker = self._workers.get(name)
        if worker is None:
            return self._in_process(name, event)
        try:
            return worker.invoke(event)
        except WorkerDied as died:
            log.error("%s worker died: %s", name, died.reason)
            return reject_batch(event, died.reason)

    def stop(self) -> None:
        for worker in self._workers.values():
            worker.stop()
