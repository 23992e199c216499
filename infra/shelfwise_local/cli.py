"""The `shelfwise` command line: run the platform locally and work with it.

shelfwise local up [--port 3000] [--state-dir .shelfwise] [--function-logs file|console] [--cors-origin URL]
shelfwise drop KIND FILE [--wait] [--timeout S]
shelfwise run SCHEDULE [--wait] [--timeout S]
shelfwise invoke FUNCTION EVENT.json
shelfwise demo [--port 3000] [--seed 7] [--function-logs file|console] [--cors-origin URL]
shelfwise openapi [--out PATH]
shelfwise redrive
shelfwise token customer CUSTOMER_ID | ops [--scope S]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shelfwise_infra import spec

DEFAULT_STATE_DIR = Path(".shelfwise")
DEFAULT_PORT = 3000
EXIT_FAILED = 1
EXIT_USAGE = 2
# After a training run, how long `run --wait` waits at most for the model registry's verdict.
REGISTRY_WAIT_SECONDS = 300.0


class CommandError(Exception):
    """A problem the user can fix; printed without a stack trace."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _http_json(method: str, url: str, timeout: float = 5.0, *, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(
        url, method=method, data=b"" if method == "POST" else None, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        payload = error.read()
        try:
            return error.code, json.loads(payload or b"null")
        except json.JSONDecodeError:
            return error.code, {"raw": payload.decode("utf-8", "replace")}


def running_cloud(state_dir: Path) -> dict[str, Any] | None:
    """local.json of the local cloud for `state_dir`, if that cloud answers; None otherwise."""
    from shelfwise_local.cloud import read_local_file

    description = read_local_file(state_dir)
    if description is None:
        return None
    try:
        status, _ = _http_json(
            "GET", f"{description['api_url']}/_local/status", timeout=3.0, token=operator_token(state_dir)
        )
    except (urllib.error.URLError, OSError, KeyError):
        return None
    return description if status == 200 else None


def operator_token(state_dir: Path) -> str:
    """A short-lived operator token for the CLI's own calls to the local cloud's control routes."""
    from shelfwise_local.tokens import issue_operator_token

    return issue_operator_token(state_dir, ttl_seconds=3600)


def _require_cloud(state_dir: Path) -> dict[str, Any]:
    description = running_cloud(state_dir)
    if description is None:
        raise CommandError(
            f"no local cloud is running for state dir {state_dir} — start one with "
            f"`shelfwise local up --state-dir {state_dir}`"
        )
    return description


def _route_function_logs(args: argparse.Namespace) -> Path | None:
    """Unless `--function-logs console`, send the handlers' output to the state dir's functions.jsonl.

    Runs before the local cloud and its handlers are imported: Powertools binds its log stream then.
    """
    from shelfwise_local import function_logs

    if args.function_logs == "console":
        return None
    path = function_logs.function_log_path(args.state_dir)
    function_logs.send_function_output_to(path)
    return path


# -- commands --------------------------------------------------------------------------------------------


def _allow_cors_origins(args: argparse.Namespace) -> None:
    """`--cors-origin` → `SHELFWISE_CORS_ALLOWED_ORIGINS` for the functions (and the gateway's preflight),
    which run in this process and read it when they load."""
    from shelfwise.api.http import allowed_origins
    from shelfwise.settings import CORS_ALLOWED_ORIGINS_ENV

    if not args.cors_origin:
        return
    value = ",".join(args.cors_origin)
    try:
        allowed_origins({CORS_ALLOWED_ORIGINS_ENV: value})
    except ValueError as problem:
        raise CommandError(f"--cors-origin: {problem}", EXIT_USAGE) from None
    os.environ[CORS_ALLOWED_ORIGINS_ENV] = value


def command_local_up(args: argparse.Namespace) -> int:
    function_log_path = _route_function_logs(args)
    _allow_cors_origins(args)
    from shelfwise_local.cloud import LocalCloud

    cloud = LocalCloud(
        args.state_dir,
        port=args.port,
        functions_dir=args.functions_dir,
        training_dir=args.training_dir,
        function_log_path=function_log_path,
    )
    try:
        cloud.start()
    except OSError as problem:
        raise CommandError(str(problem)) from problem
    print(cloud.banner(), flush=True)
    cloud.run_until_signalled()
    return 0


def command_drop(args: argparse.Namespace) -> int:
    import boto3

    from shelfwise_local.dropbox import upload_file

    _check_kind(args.kind)
    path: Path = args.file
    if not path.is_file():
        raise CommandError(f"{path} is not a file", EXIT_USAGE)
    description = _require_cloud(args.state_dir)
    s3 = boto3.client(
        "s3",
        endpoint_url=description["aws_endpoint_url"],
        region_name=description["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    if args.wait:
        from shelfwise_local.drop_outcome import drop_and_wait

        return drop_and_wait(
            s3,
            args.kind,
            path,
            state_dir=args.state_dir,
            timeout=args.timeout,
            say=lambda line: print(line, flush=True),
            warn=lambda line: print(f"shelfwise: {line}", file=sys.stderr, flush=True),
        )
    key = upload_file(s3, args.kind, path)
    print(f"s3://{spec.DATA_BUCKET.local_name}/{key}")
    return 0


def _check_kind(kind: str) -> None:
    if kind not in spec.INGEST_KINDS:
        raise CommandError(f"unknown kind {kind!r}; known kinds: {', '.join(spec.INGEST_KINDS)}", EXIT_USAGE)


def command_run(args: argparse.Namespace) -> int:
    try:
        schedule = spec.schedule(args.schedule)
    except KeyError:
        known = "\n".join(f"  {s.name:<24} {s.expression:<22} {s.description}" for s in spec.SCHEDULES)
        raise CommandError(
            f"unknown schedule {args.schedule!r}; known schedules:\n{known}", EXIT_USAGE
        ) from None
    description = _require_cloud(args.state_dir)
    api_url = description["api_url"]
    token = operator_token(args.state_dir)
    status, payload = _http_json("POST", f"{api_url}/_local/schedules/{args.schedule}/runs", token=token)
    if status != 202:
        raise CommandError(f"the local cloud refused to start {args.schedule}: {json.dumps(payload)}")
    run_id = payload["run_id"]
    target_type, target = schedule.target
    print(f"started {args.schedule} ({target_type} {target}): run {run_id}", flush=True)
    if not args.wait:
        return 0
    deadline = time.monotonic() + args.timeout
    record = _follow_run(api_url, run_id, deadline, token)
    if record is None:
        print(f"run {run_id} did not finish within {args.timeout:g} s", file=sys.stderr)
        return EXIT_FAILED
    if record["status"] == "failed":
        print(f"run {run_id} failed: {record.get('error')}", file=sys.stderr)
        return EXIT_FAILED
    print(f"run {run_id} succeeded")
    if target_type == "training_job":
        return _await_registry(description, record, deadline)
    return 0


def _follow_run(api_url: str, run_id: str, deadline: float, token: str) -> dict[str, Any] | None:
    while time.monotonic() < deadline:
        status, record = _http_json("GET", f"{api_url}/_local/runs/{run_id}", token=token)
        if status == 200 and record.get("status") in {"succeeded", "failed"}:
            print(json.dumps(record, indent=2, default=str))
            return record
        time.sleep(0.5)
    return None


def _await_registry(description: dict[str, Any], record: dict[str, Any], deadline: float) -> int:
    """A training run is only useful once the model registry has promoted or rejected what it wrote."""
    import boto3

    from shelfwise_local.training import describe_registry_item, wait_for_registry_item

    try:
        result = json.loads(record.get("result") or "null")
        job_name = result["training_job_name"]
        archive = result["model_archive"]
    except (json.JSONDecodeError, TypeError, KeyError):
        print("the run record names no model archive; nothing to wait for", file=sys.stderr)
        return EXIT_FAILED
    print(f"model archive {archive}; waiting for the model registry ...", flush=True)
    table = boto3.resource(
        "dynamodb",
        endpoint_url=description["aws_endpoint_url"],
        region_name=description["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).Table(spec.MODELS_TABLE.local_name)
    timeout = max(0.0, min(REGISTRY_WAIT_SECONDS, deadline - time.monotonic()))
    item = wait_for_registry_item(table, job_name, timeout)
    if item is None:
        print(
            f"the model registry wrote no item for {job_name} within {timeout:g} s "
            "(is functions/model_registry deployed? see the local cloud's console and "
            "STATE_DIR/logs/functions.jsonl)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    print(f"model registry: {describe_registry_item(item)}")
    return 0


def _resolve_event_file(name: str) -> Path:
    candidate = Path(name)
    for path in (candidate, spec.EVENTS_DIR / candidate, spec.REPO_ROOT / candidate):
        if path.is_file():
            return path
    raise CommandError(
        f"no event file {name!r} (looked here, in {spec.EVENTS_DIR} and in {spec.REPO_ROOT})", EXIT_USAGE
    )


def command_invoke(args: argparse.Namespace) -> int:
    from shelfwise_local import functions

    try:
        spec.function(args.function)
    except KeyError as unknown:
        raise CommandError(str(unknown).strip("'\""), EXIT_USAGE) from None
    event_path = _resolve_event_file(args.event)
    try:
        event = json.loads(event_path.read_text("utf-8"))
    except json.JSONDecodeError as problem:
        raise CommandError(f"{event_path} is not valid JSON: {problem}", EXIT_USAGE) from None
    description = running_cloud(args.state_dir)
    if description is not None:
        functions.point_process_at(description["aws_endpoint_url"])
        functions.apply_shared_environment()
        result = functions.invoke(args.function, event, functions_dir=args.functions_dir)
    else:
        result = _invoke_on_private_moto(args.function, event, args.functions_dir)
    print(json.dumps(result, indent=2, default=str))
    return 0


def _invoke_on_private_moto(name: str, event: dict[str, Any], functions_dir: Path | None) -> Any:
    """No local cloud is running: an in-process moto with the spec's resources, gone when the call returns."""
    from moto import mock_aws

    from shelfwise_local import functions
    from shelfwise_local.resources import create_all
    from shelfwise_local.s3_events import complete_moto_s3_events

    complete_moto_s3_events()
    os.environ.pop("AWS_ENDPOINT_URL", None)  # mock_aws intercepts calls to AWS endpoints, not custom ones
    os.environ.update(functions.FAKE_CREDENTIALS)
    functions.apply_shared_environment()
    with mock_aws():
        create_all()
        return functions.invoke(name, event, functions_dir=functions_dir)


def command_demo(args: argparse.Namespace) -> int:
    function_log_path = _route_function_logs(args)
    _allow_cors_origins(args)
    from shelfwise_local.demo_run import run_demo

    return run_demo(
        state_dir=args.state_dir,
        port=args.port,
        seed=args.seed,
        functions_dir=args.functions_dir,
        training_dir=args.training_dir,
        function_log_path=function_log_path,
    )


def command_redrive(args: argparse.Namespace) -> int:
    """Dead-letter queue messages back to their queues (`aws sqs start-message-move-task` in AWS)."""
    import boto3

    from shelfwise_local.recovery import redrive_dead_letters
    from shelfwise_local.resources import QueueInfo, queue_arn

    description = _require_cloud(args.state_dir)
    sqs = boto3.client(
        "sqs",
        endpoint_url=description["aws_endpoint_url"],
        region_name=description["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    queues = {
        queue_id: QueueInfo(
            name=queue["name"],
            url=queue["url"],
            arn=queue_arn(queue["name"]),
            dlq_name=queue["dlq_name"],
            dlq_url=queue["dlq_url"],
            dlq_arn=queue_arn(queue["dlq_name"]),
        )
        for queue_id, queue in description["queues"].items()
    }
    for name, count in redrive_dead_letters(sqs, queues).items():
        print(f"{name}: moved {count} message(s) back from {name}-dlq")
    return 0


def command_openapi(args: argparse.Namespace) -> int:
    from shelfwise_local.openapi import build_openapi

    document = json.dumps(build_openapi(), indent=2) + "\n"
    if args.out is None:
        sys.stdout.write(document)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(document, "utf-8")
        print(f"wrote {args.out}")
    return 0


def command_token(args: argparse.Namespace) -> int:
    from shelfwise_local.tokens import ALL_OPERATOR_SCOPES, DevKeys

    keys = DevKeys.load_or_create(args.state_dir)
    ttl_seconds = int(args.ttl_hours * 3600)
    if ttl_seconds <= 0:
        raise CommandError("--ttl-hours must be positive", EXIT_USAGE)
    if args.audience == "customer":
        if not args.subject:
            raise CommandError(
                "a customer token needs the customer id: shelfwise token customer C123", EXIT_USAGE
            )
        print(keys.customer_token(args.subject, ttl_seconds=ttl_seconds))
        return 0
    scopes = tuple(args.scope or ALL_OPERATOR_SCOPES)
    unknown = sorted(set(scopes) - set(ALL_OPERATOR_SCOPES))
    if unknown:
        raise CommandError(
            f"unknown scope {', '.join(unknown)}; known: {', '.join(ALL_OPERATOR_SCOPES)}", EXIT_USAGE
        )
    print(keys.operator_token(scopes, ttl_seconds=ttl_seconds))
    return 0


# -- argument parsing ------------------------------------------------------------------------------------


def _add_state_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="local cloud state (default: .shelfwise)"
    )


def _add_functions_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--functions-dir", type=Path, default=None, help=argparse.SUPPRESS)


def _add_training_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--training-dir", type=Path, default=None, help=argparse.SUPPRESS)


def _add_function_logs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--function-logs",
        choices=("file", "console"),
        default="file",
        help="where the functions' JSON logs and metrics go: STATE_DIR/logs/functions.jsonl (default; "
        "warnings and errors are echoed on the console) or the console",
    )


def _add_cors_origin(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="URL",
        help="a shop origin allowed to call the API from a browser, e.g. http://localhost:8080 (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shelfwise", description="Run and work with shelfwise locally.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    local = commands.add_parser("local", help="the local cloud")
    local_commands = local.add_subparsers(dest="local_command", required=True, metavar="ACTION")
    up = local_commands.add_parser("up", help="start the whole platform on this machine (Ctrl-C stops it)")
    up.add_argument("--port", type=int, default=DEFAULT_PORT, help="HTTP API port (default: 3000)")
    _add_state_dir(up)
    _add_functions_dir(up)
    _add_training_dir(up)
    _add_function_logs(up)
    _add_cors_origin(up)
    up.set_defaults(handler=command_local_up)

    drop = commands.add_parser("drop", help="upload a file to incoming/KIND/ of the running local cloud")
    drop.add_argument("kind", help=f"one of: {', '.join(spec.INGEST_KINDS)}")
    drop.add_argument("file", type=Path)
    drop.add_argument(
        "--wait",
        action="store_true",
        help="wait for ingestion and print the outcome: rows landed and rejected, the rejection report; "
        "exit 1 when the file is rejected whole, 3 when no outcome arrives in time",
    )
    drop.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait with --wait (default: 300)"
    )
    _add_state_dir(drop)
    drop.set_defaults(handler=command_drop)

    run = commands.add_parser(
        "run", help="fire a schedule now (a function, a training job or a workflow, as in AWS)"
    )
    run.add_argument("schedule", help=f"one of: {', '.join(s.name for s in spec.SCHEDULES)}")
    run.add_argument(
        "--wait", action="store_true", help="wait for the run to finish; non-zero exit on failure"
    )
    run.add_argument(
        "--timeout", type=float, default=900.0, help="seconds to wait with --wait (default: 900)"
    )
    _add_state_dir(run)
    run.set_defaults(handler=command_run)

    invoke = commands.add_parser("invoke", help="run one function on one event file and print its result")
    invoke.add_argument("function", help=f"one of: {', '.join(f.name for f in spec.FUNCTIONS)}")
    invoke.add_argument("event", help="event JSON file (a path, or a name under events/)")
    _add_state_dir(invoke)
    _add_functions_dir(invoke)
    invoke.set_defaults(handler=command_invoke)

    demo = commands.add_parser("demo", help="start the local cloud with a generated demo shop")
    demo.add_argument("--port", type=int, default=DEFAULT_PORT)
    demo.add_argument("--seed", type=int, default=7)
    _add_state_dir(demo)
    _add_functions_dir(demo)
    _add_training_dir(demo)
    _add_function_logs(demo)
    _add_cors_origin(demo)
    demo.set_defaults(handler=command_demo)

    token = commands.add_parser(
        "token",
        help="print a bearer token for the local cloud: a shopper's (customer ID) or an operator's (ops)",
        description="Prints only the token, signed with the development keys in STATE_DIR/keys/. "
        "Use it as `Authorization: Bearer <token>`.",
    )
    token.add_argument("audience", choices=("customer", "ops"))
    token.add_argument("subject", nargs="?", help="the customer id (customer tokens only)")
    token.add_argument(
        "--scope",
        action="append",
        help="operator scope, repeatable (default: shelfwise/read, shelfwise/write and shelfwise/server)",
    )
    token.add_argument("--ttl-hours", type=float, default=168.0, help="validity (default: 168 hours)")
    _add_state_dir(token)
    token.set_defaults(handler=command_token)

    redrive = commands.add_parser(
        "redrive", help="move the dead-letter queues' messages back to their queues for another try"
    )
    _add_state_dir(redrive)
    redrive.set_defaults(handler=command_redrive)

    openapi = commands.add_parser("openapi", help="print or write the OpenAPI document of the HTTP API")
    openapi.add_argument("--out", type=Path, default=None)
    openapi.set_defaults(handler=command_openapi)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except CommandError as problem:
        print(f"shelfwise: {problem}", file=sys.stderr)
        return problem.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
