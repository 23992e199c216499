"""Domain modules log through the function's Powertools Logger: JSON records with its correlation id.

Each check runs in a fresh interpreter, because a child logger takes its service name from the environment
when its module is first imported, as in a Lambda sandbox.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

LOGGING_MODULES = ["shelfwise.forecast.engine", "shelfwise.stock"]


def run(code: str, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("POWERTOOLS_")}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**env, **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@pytest.mark.parametrize("module", LOGGING_MODULES)
def test_a_domain_record_is_a_json_line_of_the_function_with_its_correlation_id(module: str) -> None:
    result = run(
        f"""
        import importlib
        from aws_lambda_powertools import Logger

        handler_logger = Logger()  # what functions/<name>/app.py creates
        handler_logger.append_keys(correlation_id="req-42")
        importlib.import_module("{module}").logger.warning("stock list unreadable")
        """,
        POWERTOOLS_SERVICE_NAME="forecast",
    )
    (line,) = result.stdout.splitlines()
    record = json.loads(line)
    assert record["message"] == "stock list unreadable"
    assert record["level"] == "WARNING"
    assert record["service"] == "forecast"
    assert record["correlation_id"] == "req-42"


def test_outside_lambda_the_forecast_engine_still_logs_through_standard_logging() -> None:
    # Benchmarks and the training jobs configure stdlib logging and have no Powertools Logger of their own.
    result = run(
        """
        import logging
        logging.basicConfig(level=logging.INFO, format="plain %(levelname)s %(message)s")
        from shelfwise.forecast.engine import logger
        logger.info("forecast progress: 1/2 series")
        """
    )
    assert "plain INFO forecast progress: 1/2 series" in result.stderr
