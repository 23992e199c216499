"""Plan, fan out, finalize — the Step Functions workflow of a `spec.Workflow`, run locally.

In AWS a state machine invokes the workflow's function with `{"step": "plan"}`, then a Distributed Map runs
`{"step": "shard"}` once per shard (retrying each failed shard, catching what still fails into
`{"shard", "error"}` so one bad shard never fails the run), then `{"step": "finalize"}`. Here plan and
finalize run in this process and the shards in a process pool, each worker pointing boto3 at the local cloud
and loading the same handler file.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shelfwise_infra import spec

log = logging.getLogger("shelfwise.local")

Invoker = Callable[[str, dict[str, Any]], Any]
ShardCall = Callable[..., Any]
# Shard results and errors end up in the finalize event; keep an error message readable, not a dump.
MAX_ERROR_CHARS = 2000


class WorkflowPlanError(ValueError):
    """The plan step did not return `{"shards": [...]}`."""


@dataclass(frozen=True)
class ShardWorker:
    """What a pool worker needs to invoke the function on one shard (picklable for the spawn context)."""

    endpoint_url: str
    functions_dir: str | None
    # Where the local cloud sends function output (None: the console); the workers append to the same file.
    function_log_path: str | None = None


def invoke_shard_in_worker(worker: ShardWorker, function: str, event: dict[str, Any]) -> Any:
    """Runs in a pool process: point boto3 at the local cloud, load the handler, invoke it."""
    from shelfwise_local import function_logs, functions

    if worker.function_log_path is not None:
        function_logs.send_function_output_to(Path(worker.function_log_path))
    functions.point_process_at(worker.endpoint_url)
    functions.apply_shared_environment()
    directory = Path(worker.functions_dir) if worker.functions_dir else None
    return functions.invoke(function, event, functions_dir=directory)


def shard_error(failure: BaseException) -> str:
    text = f"{type(failure).__name__}: {failure}"
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + "…"


def process_pool(max_concurrency: int) -> ProcessPoolExecutor:
    workers = max(1, min(os.cpu_count() or 1, max_concurrency))
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def run_shards(
    workflow: spec.Workflow,
    run_id: str,
    shards: list[Any],
    *,
    executor: Executor,
    call: ShardCall,
    call_args: tuple[Any, ...] = (),
    progress: Callable[[int, int, int], None] | None = None,
) -> list[Any]:
    """Every shard's result in plan order; a shard failing `1 + shard_retries` times gives {shard, error}.

    `call(*call_args, function, event)` runs one shard in `executor`.
    """
    results: list[Any] = [None] * len(shards)
    attempts = [0] * len(shards)
    pending: dict[Future[Any], int] = {}
    done_count = failed_count = 0

    def submit(index: int) -> None:
        attempts[index] += 1
        event = {"step": "shard", "run_id": run_id, "shard": shards[index]}
        pending[executor.submit(call, *call_args, workflow.function, event)] = index

    for index in range(len(shards)):
        submit(index)
    while pending:
        finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
        for future in finished:
            index = pending.pop(future)
            failure = future.exception()
            if failure is None:
                results[index] = future.result()
            elif attempts[index] <= workflow.shard_retries:
                log.warning(
                    "%s: shard %d failed (attempt %d of %d), retrying: %s",
                    workflow.name,
                    index,
                    attempts[index],
                    workflow.shard_retries + 1,
                    shard_error(failure),
                )
                submit(index)
                continue
            else:
                results[index] = {"shard": shards[index], "error": shard_error(failure)}
                failed_count += 1
                log.error("%s: shard %d failed for good: %s", workflow.name, index, shard_error(failure))
            done_count += 1
            if progress is not None:
                progress(done_count, len(shards), failed_count)
    return results


def run_workflow(
    workflow: spec.Workflow,
    run_id: str,
    scheduled_event: dict[str, Any],
    *,
    invoke: Invoker,
    executor_factory: Callable[[int], Executor],
    call: ShardCall,
    call_args: tuple[Any, ...] = (),
) -> dict[str, Any]:
    """Plan in-process, shards through the executor, finalize in-process; returns what finalize returned."""
    plan = invoke(workflow.function, {"step": "plan", "run_id": run_id, "scheduled_event": scheduled_event})
    shards = plan.get("shards") if isinstance(plan, dict) else None
    if not isinstance(shards, list):
        raise WorkflowPlanError(
            f"the plan step of {workflow.name} returned no 'shards' list: {str(plan)[:MAX_ERROR_CHARS]}"
        )
    log.info("%s: run %s planned %d shards", workflow.name, run_id, len(shards))

    def report(done: int, total: int, failed: int) -> None:
        log.info("%s: %d/%d shards done, %d failed", workflow.name, done, total, failed)

    if shards:
        with executor_factory(workflow.max_concurrency) as executor:
            results = run_shards(
                workflow,
                run_id,
                shards,
                executor=executor,
                call=call,
                call_args=call_args,
                progress=report,
            )
    else:
        results = []
    finalized = invoke(
        workflow.function, {"step": "finalize", "run_id": run_id, "plan": plan, "results": results}
    )
    failed = sum(1 for result in results if isinstance(result, dict) and set(result) == {"shard", "error"})
    log.info("%s: run %s finalized (%d shards, %d failed)", workflow.name, run_id, len(shards), failed)
    summary: dict[str, Any] = {"shards": len(shards), "failed_shards": failed, "finalize": finalized}
    if isinstance(finalized, dict) and "status" in finalized:
        # A finalize step that reports a failed status fails the run, as a function target's would.
        summary["status"] = finalized["status"]
        if "message" in finalized:
            summary["message"] = finalized["message"]
    return summary
