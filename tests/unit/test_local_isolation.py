"""Functions reading dropped files run in a memory-capped worker process that may die without taking the
local cloud (or the file) with it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from shelfwise_local.isolation import (
    IsolatedFunction,
    WorkerConfig,
    WorkerDied,
    WorkerInvocationError,
    describe_exit,
)

HANDLER = """
import os, signal

def handler(event, context):
    mode = event["mode"]
    if mode == "allocate":
        try:
            block = bytearray(event["bytes"])
        except MemoryError:
            return {"memory_error": True}
        return {"memory_error": False, "size": len(block)}
    if mode == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "raise":
        raise ValueError("broken handler")
    return {"pid": os.getpid()}
"""
CAP_MB = 1024


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[IsolatedFunction]:
    (tmp_path / "ingest").mkdir()
    (tmp_path / "ingest" / "app.py").write_text(HANDLER, "utf-8")
    isolated = IsolatedFunction(
        "ingest",
        WorkerConfig(
            function="ingest",
            endpoint_url="http://127.0.0.1:9",
            functions_dir=str(tmp_path),
            function_log_path=None,
            memory_limit_mb=CAP_MB,
        ),
    )
    yield isolated
    isolated.stop()


def test_memory_past_the_cap_is_a_memory_error_in_the_worker(worker: IsolatedFunction) -> None:
    assert worker.invoke({"mode": "allocate", "bytes": 64 * 1024 * 1024}) == {
        "memory_error": False,
        "size": 64 * 1024 * 1024,
    }
    assert worker.invoke({"mode": "allocate", "bytes": 2 * CAP_MB * 1024 * 1024}) == {"memory_error": True}


def test_a_dead_worker_is_reported_and_replaced(worker: IsolatedFunction) -> None:
    first = worker.invoke({"mode": "pid"})["pid"]

    with pytest.raises(WorkerDied) as died:
        worker.invoke({"mode": "die"})

    assert "SIGKILL" in died.value.reason and f"{CAP_MB} MiB" in died.value.reason
    assert worker.invoke({"mode": "pid"})["pid"] != first


def test_a_handler_exception_fails_the_invocation_but_keeps_the_worker(worker: IsolatedFunction) -> None:
    first = worker.invoke({"mode": "pid"})["pid"]

    with pytest.raises(WorkerInvocationError, match="ValueError: broken handler"):
        worker.invoke({"mode": "raise"})

    assert worker.invoke({"mode": "pid"})["pid"] == first


def test_exit_descriptions_name_the_cause() -> None:
    assert "timeout of 900 s" in describe_exit(None, 4096, True, 900)
    assert "exited with code 3" in describe_exit(3, 4096, False, 900)
