"""Plan → shards (retried, failures caught) → finalize, as the Step Functions workflow runs it."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

import pytest
from shelfwise_infra import spec
from shelfwise_local.workflows import WorkflowPlanError, run_shards, run_workflow

WORKFLOW = spec.Workflow(name="toy", description="test", function="toyfn", max_concurrency=3, shard_retries=2)


class FlakyShards:
    """Shard function: `flaky` shards fail on their first attempt, `broken` ones always."""

    def __init__(self, flaky: frozenset[int] = frozenset(), broken: frozenset[int] = frozenset()) -> None:
        self.flaky = flaky
        self.broken = broken
        self.attempts: Counter[int] = Counter()
        self._lock = threading.Lock()

    def __call__(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        assert function == "toyfn" and event["step"] == "shard" and event["run_id"] == "run-1"
        number = event["shard"]["n"]
        with self._lock:
            self.attempts[number] += 1
            attempt = self.attempts[number]
        if number in self.broken:
            raise RuntimeError(f"shard {number} cannot be forecast")
        if number in self.flaky and attempt == 1:
            raise TimeoutError("first try timed out")
        return {"n": number, "forecasts": number * 10}


def threads(max_concurrency: int) -> Executor:
    return ThreadPoolExecutor(max_workers=max_concurrency)


def test_results_come_back_in_plan_order_after_retrying_a_flaky_shard() -> None:
    shards = [{"n": n} for n in range(6)]
    call = FlakyShards(flaky=frozenset({2}))
    progress: list[tuple[int, int, int]] = []

    with threads(3) as executor:
        results = run_shards(
            WORKFLOW, "run-1", shards, executor=executor, call=call, progress=lambda *p: progress.append(p)
        )

    assert results == [{"n": n, "forecasts": n * 10} for n in range(6)]
    assert call.attempts[2] == 2 and call.attempts[0] == 1
    assert progress[-1] == (6, 6, 0) and len(progress) == 6


def test_a_shard_that_always_fails_is_tried_retries_plus_one_times_and_reported_not_raised() -> None:
    shards = [{"n": n} for n in range(4)]
    call = FlakyShards(broken=frozenset({1}))
    progress: list[tuple[int, int, int]] = []

    with threads(2) as executor:
        results = run_shards(
            WORKFLOW, "run-1", shards, executor=executor, call=call, progress=lambda *p: progress.append(p)
        )

    assert call.attempts[1] == WORKFLOW.shard_retries + 1
    assert results[1] == {"shard": {"n": 1}, "error": "RuntimeError: shard 1 cannot be forecast"}
    assert [r["n"] for i, r in enumerate(results) if i != 1] == [0, 2, 3]
    assert progress[-1] == (4, 4, 1)


class ToyFunction:
    """Plan and finalize steps of the workflow function, run in-process."""

    def __init__(self, shards: Any) -> None:
        self.shards = shards
        self.events: list[dict[str, Any]] = []

    def __call__(self, function: str, event: dict[str, Any]) -> Any:
        self.events.append(event)
        if event["step"] == "plan":
            return {"run_id": event["run_id"], "shards": self.shards, "as_of": "2024-03-01"}
        assert event["step"] == "finalize"
        return {"status": "succeeded", "items": sum(r.get("forecasts", 0) for r in event["results"])}


def test_workflow_plans_fans_out_and_finalizes_with_every_result() -> None:
    function = ToyFunction([{"n": 1}, {"n": 2}, {"n": 3}])
    scheduled = {"detail-type": "Scheduled Event"}

    summary = run_workflow(
        WORKFLOW,
        "run-1",
        scheduled,
        invoke=function,
        executor_factory=threads,
        call=FlakyShards(broken=frozenset({3})),
    )

    plan_event, finalize_event = function.events
    assert plan_event == {"step": "plan", "run_id": "run-1", "scheduled_event": scheduled}
    assert finalize_event["plan"]["as_of"] == "2024-03-01"
    assert finalize_event["results"][:2] == [{"n": 1, "forecasts": 10}, {"n": 2, "forecasts": 20}]
    assert finalize_event["results"][2]["shard"] == {"n": 3}
    assert summary == {
        "shards": 3,
        "failed_shards": 1,
        "finalize": {"status": "succeeded", "items": 30},
        "status": "succeeded",
    }


def test_a_plan_with_no_shards_still_finalizes() -> None:
    function = ToyFunction([])

    summary = run_workflow(
        WORKFLOW, "run-1", {}, invoke=function, executor_factory=threads, call=FlakyShards()
    )

    assert [event["step"] for event in function.events] == ["plan", "finalize"]
    assert function.events[1]["results"] == []
    assert summary["shards"] == 0


def test_a_plan_without_a_shard_list_fails_the_run_before_any_shard_runs() -> None:
    function = ToyFunction("everything")
    call = FlakyShards()

    with pytest.raises(WorkflowPlanError, match="no 'shards' list"):
        run_workflow(WORKFLOW, "run-1", {}, invoke=function, executor_factory=threads, call=call)
    assert not call.attempts
