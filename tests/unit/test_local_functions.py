"""Loading handlers by file path with their own environment, and the Lambda context they get."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from shelfwise_infra import spec
from shelfwise_local import functions


@pytest.fixture
def functions_dir(tmp_path: Path) -> Iterator[Path]:
    for name in ("api", "segments"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "app.py").write_text(
            "import os\n"
            "SERVICE_AT_IMPORT = os.environ['POWERTOOLS_SERVICE_NAME']\n"
            "TRACING_DISABLED_AT_IMPORT = os.environ.get('POWERTOOLS_TRACE_DISABLED')\n"
            "def handler(event, context):\n"
            "    return {'service': SERVICE_AT_IMPORT, 'module': __name__, 'event': event,\n"
            "            'function': context.function_name, 'memory': context.memory_limit_in_mb,\n"
            "            'remaining_ms': context.get_remaining_time_in_millis(),\n"
            "            'arn': context.invoked_function_arn, 'request_id': context.aws_request_id,\n"
            "            'tracing_disabled': TRACING_DISABLED_AT_IMPORT}\n"
        )
    functions.forget_loaded_functions()
    yield tmp_path
    functions.forget_loaded_functions()


def test_each_function_is_imported_with_its_own_service_name(functions_dir: Path) -> None:
    api = functions.invoke("api", {"n": 1}, functions_dir=functions_dir)
    segments = functions.invoke("segments", {"n": 2}, functions_dir=functions_dir)

    assert api["service"] == "shelfwise-api"
    assert segments["service"] == "shelfwise-segments"
    assert api["module"] == "shelfwise_fn_api"
    assert segments["module"] == "shelfwise_fn_segments"
    assert api["event"] == {"n": 1}
    # The per-function name is only set while importing; the process keeps its own.
    assert os.environ.get("POWERTOOLS_SERVICE_NAME") != "shelfwise-segments"


def test_context_reflects_the_spec(functions_dir: Path) -> None:
    result = functions.invoke("segments", {}, functions_dir=functions_dir)
    fn = spec.function("segments")

    assert result["function"] == "shelfwise-segments"
    assert result["memory"] == fn.memory_mb
    assert 0 < result["remaining_ms"] <= fn.timeout_seconds * 1000
    assert result["arn"].endswith(":function:shelfwise-segments")
    assert result["tracing_disabled"] == "true"  # no X-Ray daemon locally


def test_each_invocation_gets_a_new_request_id(functions_dir: Path) -> None:
    first = functions.invoke("api", {}, functions_dir=functions_dir)
    second = functions.invoke("api", {}, functions_dir=functions_dir)

    assert first["request_id"] != second["request_id"]


def test_remaining_time_counts_down_to_zero() -> None:
    context = functions.LocalLambdaContext(function_name="f", memory_limit_in_mb=128, timeout_seconds=0)

    assert context.get_remaining_time_in_millis() == 0


def test_missing_handler_file_is_reported(tmp_path: Path) -> None:
    functions.forget_loaded_functions()

    with pytest.raises(functions.FunctionNotFoundError, match="no handler file"):
        functions.load_handler("api", functions_dir=tmp_path)


def test_unknown_function_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="unknown function"):
        functions.load_handler("nope", functions_dir=tmp_path)
