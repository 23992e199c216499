"""Function output goes to the state dir's functions.jsonl; the console keeps its own lines and warnings."""

from __future__ import annotations

import contextvars
import io
import json
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from shelfwise_local import function_logs, functions

HANDLER = """
import json, threading, warnings

def log(level, message):
    print(json.dumps({"level": level, "message": message, "service": "shelfwise-api"}))

def handler(event, context):
    log("INFO", "recommendations served")
    log("WARNING", "catalog is\\nempty")
    print("a plain print")
    helper = threading.Thread(target=log, args=("ERROR", "merge failed"))
    helper.start()
    helper.join()
    warnings.warn("no metrics to publish")
    return "ok"
"""


@pytest.fixture
def functions_dir(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "functions" / "api").mkdir(parents=True)
    (tmp_path / "functions" / "api" / "app.py").write_text(HANDLER)
    functions.forget_loaded_functions()
    yield tmp_path / "functions"
    functions.forget_loaded_functions()


def test_function_output_lands_in_the_file_and_the_console_keeps_its_own_lines(
    tmp_path: Path, functions_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    console, echo = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", console)
    monkeypatch.setattr(sys, "stderr", echo)
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)
    log_path = function_logs.function_log_path(tmp_path / "state")

    def cli_session() -> None:
        function_logs.send_function_output_to(log_path)
        print("landed: 3 files")
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            assert functions.invoke("api", {}, functions_dir=functions_dir) == "ok"
        print("try: curl ...")

    # A context of its own, so the console marking does not outlive the test.
    contextvars.copy_context().run(cli_session)

    records = [json.loads(line) for line in log_path.read_text("utf-8").splitlines()]
    assert [record["message"] for record in records] == [
        "recommendations served",
        "catalog is\nempty",
        "a plain print",
        "merge failed",
        "UserWarning: no metrics to publish",
    ]
    assert records[2]["function"] == "api"
    assert console.getvalue() == "landed: 3 files\ntry: curl ...\n"
    echoed = [line.split(" ", 1)[1] for line in echo.getvalue().splitlines()]
    assert echoed == [
        "[api] WARNING catalog is empty",
        "[shelfwise-api] ERROR merge failed",  # the handler's own thread: named by its service
        "[api] WARNING UserWarning: no metrics to publish",
    ]
