"""The local EventBridge scheduler: fires spec.SCHEDULES on time or on demand and records every run.

A schedule targets a function, a training job or a workflow (`spec.Schedule.target`); the local cloud passes
a `TargetRunner` that knows how to run each kind. Each run is a row in the runs table (run_id, schedule,
target_type, target, status running|succeeded|failed, error, result, started_at, finished_at), so
`shelfwise run --wait` — or anyone with the table — can follow it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from shelfwise_infra import spec

from shelfwise_local.scheduling import next_fire_time, scheduled_event

log = logging.getLogger("shelfwise.local")

RUN_RETENTION = timedelta(days=30)
# The handler's result is kept with the run (as JSON text) so `shelfwise run --wait` can show it.
MAX_RESULT_CHARS = 8000
FAILED_STATUSES = {"failed", "rejected", "error"}
# (schedule, the Scheduled Event, run id) -> what the target returned; raising fails the run.
TargetRunner = Callable[[spec.Schedule, dict[str, Any], str], Any]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RunLog:
    """Run records in the runs table."""

    def __init__(self, dynamodb: Any | None = None) -> None:
        self._table = (dynamodb or boto3.resource("dynamodb")).Table(spec.RUNS_TABLE.local_name)

    def started(self, run_id: str, schedule: spec.Schedule, at: datetime, trigger: str) -> None:
        target_type, target = schedule.target
        self._table.put_item(
            Item={
                "run_id": run_id,
                "schedule": schedule.name,
                "target_type": target_type,
                "target": target,
                "trigger": trigger,
                "status": "running",
                "started_at": _iso(at),
                "expires_at": int((at + RUN_RETENTION).timestamp()),
            }
        )

    def finished(self, run_id: str, *, error: str | None, result: Any = None) -> None:
        summary = json.dumps(result, default=str)
        if len(summary) > MAX_RESULT_CHARS:
            summary = summary[:MAX_RESULT_CHARS] + "…"
        self._table.update_item(
            Key={"run_id": run_id},
            UpdateExpression=(
                "SET #status = :status, finished_at = :finished, #error = :error, #result = :result"
            ),
            ExpressionAttributeNames={"#status": "status", "#error": "error", "#result": "result"},
            ExpressionAttributeValues={
                ":status": "failed" if error else "succeeded",
                ":finished": _iso(datetime.now(UTC)),
                ":error": error,
                ":result": summary,
            },
        )

    def get(self, run_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"run_id": run_id}).get("Item")
        if item is None:
            return None
        return {name: int(value) if name == "expires_at" else value for name, value in item.items()}


def reported_failure(result: Any) -> str | None:
    """A handler that returns normally may still report that it did not do its job (a rejected trigger)."""
    if isinstance(result, dict) and result.get("status") in FAILED_STATUSES:
        return str(result.get("message") or f"the function reported status {result['status']}")
    return None


class Scheduler:
    """Fires schedules at their next cron/rate time; `trigger` runs one now, on a worker thread."""

    def __init__(
        self, run_target: TargetRunner, run_log: RunLog, schedules: tuple[spec.Schedule, ...] = spec.SCHEDULES
    ):
        self._run_target = run_target
        self._runs = run_log
        self._schedules = schedules
        self._created_at = datetime.now(UTC)
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.next_runs: dict[str, datetime | None] = {}

    def trigger(self, schedule: spec.Schedule, *, trigger: str = "manual") -> str:
        run_id = f"{schedule.name}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        at = datetime.now(UTC)
        self._runs.started(run_id, schedule, at, trigger)
        worker = threading.Thread(
            target=self._execute, args=(run_id, schedule, at), name=f"run-{run_id}", daemon=True
        )
        with self._lock:
            self._workers = [thread for thread in self._workers if thread.is_alive()]
            self._workers.append(worker)
        worker.start()
        return run_id

    def _execute(self, run_id: str, schedule: spec.Schedule, at: datetime) -> None:
        target_type, target = schedule.target
        log.info("schedule %s: run %s started (%s %s)", schedule.name, run_id, target_type, target)
        error: str | None = None
        result: Any = None
        try:
            result = self._run_target(schedule, scheduled_event(schedule, at), run_id)
            error = reported_failure(result)
            if error:
                log.error("schedule %s: run %s reported a failure: %s", schedule.name, run_id, error)
        except Exception as failure:  # a failed run is recorded, never takes the scheduler down
            error = f"{type(failure).__name__}: {failure}"
            log.exception("schedule %s: run %s failed", schedule.name, run_id)
        try:
            self._runs.finished(run_id, error=error, result=result)
        except Exception:
            log.exception("schedule %s: could not record the end of run %s", schedule.name, run_id)
        if error is None:
            log.info("schedule %s: run %s succeeded", schedule.name, run_id)

    def run_forever(self) -> None:
        now = datetime.now(UTC)
        for schedule in self._schedules:
            self.next_runs[schedule.name] = next_fire_time(
                schedule.expression, now, rate_anchor=self._created_at
            )
        while not self._stop.is_set():
            now = datetime.now(UTC)
            for schedule in self._schedules:
                due = self.next_runs.get(schedule.name)
                if due is not None and due <= now:
                    self.trigger(schedule, trigger="schedule")
                    self.next_runs[schedule.name] = next_fire_time(
                        schedule.expression, now, rate_anchor=self._created_at
                    )
            upcoming = [moment for moment in self.next_runs.values() if moment is not None]
            wait = min([(moment - now).total_seconds() for moment in upcoming] + [1.0])
            self._stop.wait(max(0.05, wait))

    def stop(self, timeout: float = 30.0) -> None:
        """Stop firing and give running runs `timeout` seconds to finish."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
