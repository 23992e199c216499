"""Loading and invoking the real Lambda handlers in this process.

Each function folder holds a single `app.py`; it is imported by file path under a unique module name
(`shelfwise_fn_<name>`) so that two functions' `app` modules never collide. The function's environment from
the platform spec is applied before the import, because Powertools reads its settings (service name, log
level, namespace) when the module creates its Logger, Tracer and Metrics.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from shelfwise_infra import spec

from shelfwise_local.function_logs import running_function

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"

# No X-Ray daemon runs locally; everything else is the function's own environment.
LOCAL_ONLY_ENVIRONMENT = {"POWERTOOLS_TRACE_DISABLED": "true"}
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}

Handler = Callable[[dict[str, Any], Any], Any]

_import_lock = threading.Lock()
_loaded: dict[str, ModuleType] = {}
# A Lambda execution environment handles one event at a time, and handlers rely on it: Powertools' resolver
# keeps the current event on the module-level app, so two threads in one handler answer each other's
# requests. Locally each function is one execution environment: its events queue rather than interleave.
_function_locks: dict[str, threading.Lock] = {}


class FunctionNotFoundError(LookupError):
    """The spec names a function whose `functions/<name>/app.py` does not exist (yet)."""


def point_process_at(endpoint_url: str) -> None:
    """Make every boto3 client created in this process talk to the local cloud at `endpoint_url`."""
    os.environ.update(FAKE_CREDENTIALS)
    os.environ["AWS_ENDPOINT_URL"] = endpoint_url


def function_environment(fn: spec.Function) -> dict[str, str]:
    environment = spec.local_environment(fn)
    environment.update(LOCAL_ONLY_ENVIRONMENT)
    return environment


@contextmanager
def _temporary_environment(values: Mapping[str, str]) -> Iterator[None]:
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def apply_shared_environment() -> None:
    """Set what every function has in common (resource names, stage) for the whole process.

    Handlers read resource names at invocation time, possibly from several threads at once, so these stay
    set; only the per-function Powertools service name is switched, and only while importing.
    """
    for fn in spec.FUNCTIONS:
        shared = {k: v for k, v in function_environment(fn).items() if k != "POWERTOOLS_SERVICE_NAME"}
        os.environ.update(shared)


def load_handler(name: str, *, functions_dir: Path | None = None) -> Handler:
    """Import `functions/<name>/app.py` once (with the function's environment) and return its handler."""
    fn = spec.function(name)
    directory = functions_dir or spec.FUNCTIONS_DIR
    path = directory / name / "app.py"
    module_name = f"shelfwise_fn_{name}"
    with _import_lock:
        module = _loaded.get(module_name)
        if module is None or Path(module.__file__ or "") != path:
            if not path.is_file():
                raise FunctionNotFoundError(f"function {name!r} has no handler file at {path}")
            module_spec = importlib.util.spec_from_file_location(module_name, path)
            if module_spec is None or module_spec.loader is None:
                raise FunctionNotFoundError(f"cannot load {path} as a Python module")
            module = importlib.util.module_from_spec(module_spec)
            with _temporary_environment(function_environment(fn)), running_function(name):
                sys.modules[module_name] = module
                try:
                    module_spec.loader.exec_module(module)
                except BaseException:
                    sys.modules.pop(module_name, None)
                    raise
            _loaded[module_name] = module
    handler = getattr(module, "handler", None)
    if not callable(handler):
        raise FunctionNotFoundError(f"{path} defines no callable `handler(event, context)`")
    return handler


def forget_loaded_functions() -> None:
    """Drop imported handlers so the next load re-imports them (tests that swap the functions folder)."""
    with _import_lock:
        for module_name in list(_loaded):
            sys.modules.pop(module_name, None)
        _loaded.clear()


@dataclass
class LocalLambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    started_at: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/[{self.function_version}]{self.aws_request_id.replace('-', '')}"

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self.started_at
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


def context_for(fn: spec.Function) -> LocalLambdaContext:
    return LocalLambdaContext(
        function_name=f"shelfwise-{fn.name}",
        memory_limit_in_mb=fn.memory_mb,
        timeout_seconds=fn.timeout_seconds,
    )


def invoke(name: str, event: dict[str, Any], *, functions_dir: Path | None = None) -> Any:
    """Run one function's handler on one event, as Lambda would, and return what it returned."""
    with _import_lock:
        lock = _function_locks.setdefault(name, threading.Lock())
    with lock, running_function(name):
        handler = load_handler(name, functions_dir=functions_dir)
        return handler(event, context_for(spec.function(name)))
