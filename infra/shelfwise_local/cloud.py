"""The local cloud: moto as the local AWS, the platform's resources, and everything that makes the handlers
run as they do in AWS — the HTTP gateway, the SQS event-source mapping, the drop folder, the scheduler —
with state snapshotted to disk so data survives a restart.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer
from shelfwise_infra import spec
from shelfwise_infra.retention import Retention

from shelfwise_local import functions, recovery
from shelfwise_local.authorization import LocalAuthorizers
from shelfwise_local.deployment_settings import apply_forecast_settings, forecast_settings_path
from shelfwise_local.dropbox import Dropbox
from shelfwise_local.event_sources import QueuePoller, mappings_from_spec, queue_depths
from shelfwise_local.gateway import GatewayBackend, make_gateway
from shelfwise_local.housekeeping import Housekeeping, apply_lifecycle, housekeeping_interval
from shelfwise_local.isolation import IsolatingInvoker, WorkerConfig, memory_limit_mb
from shelfwise_local.resources import QueueInfo, configure_notifications, create_all, resource_description
from shelfwise_local.routing import Router
from shelfwise_local.s3_events import complete_moto_s3_events
from shelfwise_local.scheduler import RunLog, Scheduler
from shelfwise_local.snapshot import (
    ChangeCounter,
    dead_letter_fingerprint,
    dead_letter_queue_names,
    restore_snapshot,
    take_snapshot,
)
from shelfwise_local.tokens import (
    KEYS_DIR,
    PSEUDONYM_KEY_FILE,
    DevKeys,
    put_pseudonym_key,
    put_signing_keys,
)
from shelfwise_local.training import local_hyperparameters, run_training_job
from shelfwise_local.workflows import ShardWorker, invoke_shard_in_worker, process_pool, run_workflow

log = logging.getLogger("shelfwise.local")

HOST = "127.0.0.1"
LOCAL_FILE = "local.json"
SNAPSHOT_EVERY_SECONDS = 3.0
DRAIN_AT_SHUTDOWN_SECONDS = 30.0


def configure_console_logging() -> None:
    if log.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s [local] %(levelname)s %(message)s", "%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def free_port_pair() -> int:
    """A port p with p and p + 1 free: the API and the local AWS endpoint of a cloud started on p."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            port = probe.getsockname()[1]
        if port_is_free(port + 1):
            return port
    raise RuntimeError("no free port pair")


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the servers do: connections of a previous run lingering in TIME_WAIT do not make a port busy.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def read_local_file(state_dir: Path) -> dict[str, Any] | None:
    path = state_dir / LOCAL_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text("utf-8"))


class LocalCloud:
    def __init__(
        self,
        state_dir: Path,
        port: int = 3000,
        functions_dir: Path | None = None,
        training_dir: Path | None = None,
        function_log_path: Path | None = None,
    ) -> None:
        self.state_dir = state_dir.resolve()
        # Where the handlers' output goes (see function_logs.py); None when it is printed on the console.
        self.function_log_path = function_log_path
        self.port = port
        self.functions_dir = functions_dir.resolve() if functions_dir else None
        # Tests swap the training code: `<training_dir>/<job>/train.py` instead of the spec's entrypoint.
        self.training_dir = training_dir.resolve() if training_dir else None
        self.training_work_dir = self.state_dir / "training"
        self.snapshot_dir = self.state_dir / "snapshot"
        self.dropbox = Dropbox(self.state_dir / "dropbox")
        self.queues: dict[str, QueueInfo] = {}
        self.endpoint_url = ""
        self.api_url = f"http://{HOST}:{port}"
        self._moto: ThreadedMotoServer | None = None
        self._changes: ChangeCounter | None = None
        self._snapshot_generation = -1
        self._dead_letters: tuple[str, ...] = ()
        self._snapshot_lock = threading.Lock()
        self._last_snapshot: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        configure_console_logging()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if apply_forecast_settings(self.state_dir) is not None:
            log.info("forecast settings from %s", forecast_settings_path(self.state_dir))
        if not port_is_free(self.port):
            raise OSError(f"port {self.port} on {HOST} is in use; choose another with --port")
        self._start_moto()
        self.queues = create_all(with_notifications=False)
        state_predates_pseudonyms = not (self.state_dir / KEYS_DIR / PSEUDONYM_KEY_FILE).is_file()
        self.keys = DevKeys.load_or_create(self.state_dir)
        put_signing_keys(boto3.client("secretsmanager"), self.keys)
        put_pseudonym_key(boto3.client("secretsmanager"), self.keys)
        restored = restore_snapshot(self.snapshot_dir, s3=boto3.client("s3"), sqs=boto3.client("sqs"))
        if restored["objects"] or restored["items"]:
            log.info("restored %(objects)d objects and %(items)d items from the snapshot", restored)
            if state_predates_pseudonyms:
                log.warning(
                    "%s was written before customer ids were pseudonymized: its curated data, activity and "
                    "segments hold raw customer ids that no pseudonym matches. Start from a new state dir "
                    "(stop, remove it, `make demo`); see docs/privacy.md",
                    self.state_dir,
                )
        # Notifications only after the restore, so restored objects are not announced as new uploads.
        configure_notifications(boto3.client("s3"))
        self._discard_test_events()
        assert self._changes is not None
        self._snapshot_generation = self._changes.generation
        self._load_functions()
        self._recover_interrupted_work()
        self._start_housekeeping()

        self.run_log = RunLog()
        self.scheduler = Scheduler(self.run_target, self.run_log)
        # Functions that read dropped files run in a memory-capped worker process (isolation.py).
        self.queue_invoker = IsolatingInvoker(self.invoke, self._worker_config)
        self.poller = QueuePoller(mappings_from_spec(self.queues), self.queue_invoker)
        self.gateway = make_gateway(HOST, self.port, self._gateway_backend())
        self._spawn("gateway", self.gateway.serve_forever)
        self.poller.start()
        self.dropbox.start()
        self._spawn("scheduler", self.scheduler.run_forever)
        self._spawn("snapshots", self._snapshot_loop)
        self._write_local_file()

    def _start_moto(self) -> None:
        moto_port = self.port + 1 if port_is_free(self.port + 1) else 0
        complete_moto_s3_events()
        self._moto = ThreadedMotoServer(ip_address=HOST, port=moto_port, verbose=False)
        self._moto.start()
        server = self._moto._server
        assert server is not None
        self._changes = ChangeCounter(server.app)
        server.app = self._changes  # werkzeug's request handler calls `server.app` per request
        host, bound_port = self._moto.get_host_and_port()
        self.endpoint_url = f"http://{host}:{bound_port}"
        functions.point_process_at(self.endpoint_url)
        functions.apply_shared_environment()

    def _discard_test_events(self) -> None:
        """Applying a notification configuration makes S3 send one `s3:TestEvent` to each queue. AWS does that
        once, at deploy time; the local cloud applies the configuration at every start, so the queues (new
        and empty at this point) are purged rather than feeding the function a test event per restart."""
        sqs = boto3.client("sqs")
        for info in self.queues.values():
            sqs.purge_queue(QueueUrl=info.url)

    def _load_functions(self) -> None:
        for fn in spec.FUNCTIONS:
            try:
                functions.load_handler(fn.name, functions_dir=self.functions_dir)
            except functions.FunctionNotFoundError as missing:
                log.warning(
                    "%s — its routes, queues and schedules answer with errors until it exists", missing
                )
            except Exception:
                log.exception("function %s failed to import; it will be retried on first use", fn.name)

    def _recover_interrupted_work(self) -> None:
        """Finish what an unclean stop cut off (recovery.py); runs before the pollers and the drop folder."""
        released = recovery.release_interrupted_attempts(boto3.client("dynamodb"))
        if released:
            log.warning("released %d ingestion attempt(s) the previous run left unfinished", released)
        try:
            result = self.invoke("reconcile", recovery.startup_reconcile_event())
        except Exception:
            log.exception("start-up reconciliation failed; the reconcile-ingest schedule will try again")
            result = None
        if isinstance(result, dict) and result.get("redriven"):
            log.warning(
                "re-drove %d dropped file(s) left without a manifest: %s",
                result["redriven"],
                ", ".join(result.get("redriven_keys", [])),
            )
        # After reconciling: a re-uploaded file is announced by its upload and needs no re-drive on top.
        recovery.reupload_lost_drops(self.dropbox.root, boto3.client("s3"))
        announced = recovery.announce_unlogged_outcomes(boto3.client("s3"))
        if announced:
            log.warning(
                "announced %d landed file(s) whose outcome was cut off: %s", len(announced), announced
            )

    def _start_housekeeping(self) -> None:
        """Retention as in AWS (housekeeping.py): the lifecycle rules, a sweep now, then one periodically."""
        apply_lifecycle(boto3.client("s3"), Retention.from_environment())
        self.housekeeping = Housekeeping(
            s3=boto3.client("s3"),
            dynamodb=boto3.client("dynamodb"),
            dropbox_root=self.dropbox.root,
            every_seconds=housekeeping_interval(),
        )
        try:
            self.housekeeping.run_once()
        except Exception:
            log.exception("start-up housekeeping sweep failed; the periodic sweep will try again")
        self._spawn("housekeeping", lambda: self.housekeeping.run_forever(self._stop))

    def _spawn(self, name: str, target: Any) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        """Graceful shutdown: stop intake, let queued work finish, take the final snapshot, stop moto."""
        log.info("shutting down")
        self._stop.set()
        self.dropbox.stop()
        self.wait_until_idle(DRAIN_AT_SHUTDOWN_SECONDS)
        self.poller.stop()
        self.queue_invoker.stop()
        self.scheduler.stop()
        self.gateway.shutdown()
        self.gateway.server_close()
        saved = self.snapshot(force=True)
        log.info("final snapshot: %(objects)d objects, %(items)d items", saved)
        if self._moto is not None:
            self._moto.stop()

    def run_until_signalled(self) -> None:
        """Serve in the foreground until SIGINT or SIGTERM, then shut down gracefully."""
        stop_requested = threading.Event()

        def request_stop(signum: int, frame: Any) -> None:
            stop_requested.set()

        previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not stop_requested.wait(0.5):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stop()

    # -- function invocation ----------------------------------------------------------------------------

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        return functions.invoke(name, event, functions_dir=self.functions_dir)

    def run_target(self, schedule: spec.Schedule, event: dict[str, Any], run_id: str) -> Any:
        """What a schedule's EventBridge rule starts in AWS: a Lambda, a training job or a state machine."""
        kind, name = schedule.target
        if kind == "function":
            return self.invoke(name, event)
        if kind == "training_job":
            return self.run_training_job(spec.training_job(name))
        return self.run_workflow(spec.workflow(name), run_id, event)

    def run_training_job(self, job: spec.TrainingJob) -> dict[str, Any]:
        entrypoint = self.training_dir / job.name / "train.py" if self.training_dir else None
        return run_training_job(
            job,
            s3=boto3.client("s3"),
            bucket=spec.DATA_BUCKET.local_name,
            work_dir=self.training_work_dir,
            entrypoint=entrypoint,
            hyperparameters=local_hyperparameters(self.state_dir, job),
        )

    def _worker_config(self, fn: spec.Function) -> WorkerConfig:
        return WorkerConfig(
            function=fn.name,
            endpoint_url=self.endpoint_url,
            functions_dir=str(self.functions_dir) if self.functions_dir else None,
            function_log_path=str(self.function_log_path.resolve()) if self.function_log_path else None,
            memory_limit_mb=memory_limit_mb(fn),
        )

    def run_workflow(self, workflow: spec.Workflow, run_id: str, event: dict[str, Any]) -> dict[str, Any]:
        worker = ShardWorker(
            endpoint_url=self.endpoint_url,
            functions_dir=str(self.functions_dir) if self.functions_dir else None,
            function_log_path=str(self.function_log_path.resolve()) if self.function_log_path else None,
        )
        return run_workflow(
            workflow,
            run_id,
            event,
            invoke=self.invoke,
            executor_factory=process_pool,
            call=invoke_shard_in_worker,
            call_args=(worker,),
        )

    # -- snapshots ---------------------------------------------------------------------------------------

    def snapshot(self, *, force: bool = False) -> dict[str, int]:
        assert self._changes is not None
        with self._snapshot_lock:
            generation = self._changes.generation
            dead_letters = dead_letter_fingerprint()
            unchanged = generation == self._snapshot_generation and dead_letters == self._dead_letters
            if not force and unchanged:
                return {"objects": 0, "items": 0}
            # One moment of S3 and DynamoDB: writes wait while it is read (see snapshot.py).
            with self._changes.writes_paused():
                generation = self._changes.generation
                saved = take_snapshot(
                    self.snapshot_dir, s3=boto3.client("s3"), queues=dead_letter_queue_names()
                )
            self._snapshot_generation = generation
            self._dead_letters = dead_letters
            self._last_snapshot = {"taken_at": datetime.now(UTC).isoformat(), **saved}
            return saved

    def _snapshot_loop(self) -> None:
        while not self._stop.wait(SNAPSHOT_EVERY_SECONDS):
            try:
                self.snapshot()
            except Exception:
                log.exception("snapshot failed; will try again")

    # -- state for the CLI and the control endpoints -----------------------------------------------------

    def wait_until_idle(self, timeout: float) -> bool:
        """Wait until the drop folder is empty, no function is running and the trigger queues are empty."""
        deadline = time.monotonic() + timeout
        quiet_polls = 0
        while time.monotonic() < deadline:
            depths = queue_depths(self.queues)
            queued = sum(
                depths[info.name]["visible"] + depths[info.name]["in_flight"] for info in self.queues.values()
            )
            idle = queued == 0 and not self.poller.busy and not self.dropbox.pending_files()
            # Idle twice in a row: a message sent by S3 right after an upload is not missed.
            quiet_polls = quiet_polls + 1 if idle else 0
            if quiet_polls >= 2:
                return True
            time.sleep(0.25)
        return False

    def status(self) -> dict[str, Any]:
        next_runs = self.scheduler.next_runs
        return {
            "api_url": self.api_url,
            "aws_endpoint_url": self.endpoint_url,
            "region": functions.REGION,
            "resources": resource_description(self.queues),
            "schedules": [
                {
                    "name": schedule.name,
                    "expression": schedule.expression,
                    "target_type": schedule.target[0],
                    "target": schedule.target[1],
                    "next_run": next_runs[schedule.name].isoformat()
                    if next_runs.get(schedule.name)
                    else None,
                }
                for schedule in spec.SCHEDULES
            ],
            "queues": queue_depths(self.queues),
            "dropbox": {"pending": [str(path) for path in self.dropbox.pending_files()]},
            "last_snapshot": self._last_snapshot,
            "last_housekeeping": self.housekeeping.last_sweep,
        }

    def _start_run(self, name: str) -> str | None:
        try:
            schedule = spec.schedule(name)
        except KeyError:
            return None
        return self.scheduler.trigger(schedule)

    def _gateway_backend(self) -> GatewayBackend:
        return GatewayBackend(
            router=Router(spec.ROUTES),
            invoke=self.invoke,
            start_run=self._start_run,
            get_run=self.run_log.get,
            status=self.status,
            known_schedules=lambda: [schedule.name for schedule in spec.SCHEDULES],
            authorizers=LocalAuthorizers(self.keys, self.invoke),
        )

    def local_description(self) -> dict[str, Any]:
        return {
            "api_url": self.api_url,
            "aws_endpoint_url": self.endpoint_url,
            "region": functions.REGION,
            "state_dir": str(self.state_dir),
            "dropbox": str(self.dropbox.root),
            **resource_description(self.queues),
        }

    def _write_local_file(self) -> None:
        path = self.state_dir / LOCAL_FILE
        temporary = path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(self.local_description(), indent=2) + "\n", "utf-8")
        temporary.replace(path)

    def banner(self) -> str:
        description = self.local_description()
        lines = [
            "shelfwise local cloud is up",
            f"  API            {self.api_url}   (try {self.api_url}/v1/health)",
            f"  AWS endpoint   {self.endpoint_url}   (region {functions.REGION}, any credentials)",
            f"  drop folder    {self.dropbox.root}/<{'|'.join(spec.INGEST_KINDS)}>/",
            f"  bucket         {', '.join(description['buckets'].values())}",
            f"  tables         {', '.join(description['tables'].values())}",
            f"  queues         {', '.join(q['name'] for q in description['queues'].values())} (+ DLQs)",
            f"  event bus      {description['event_bus']}",
            f"  schedules      {', '.join(s.name for s in spec.SCHEDULES)}  (shelfwise run NAME)",
            f"  state          {self.state_dir}  (local.json, snapshot/)",
            f"  function logs  {self._function_logs_hint()}",
            "Ctrl-C stops it; data is kept for the next start.",
        ]
        return "\n".join(lines)

    def _function_logs_hint(self) -> str:
        if self.function_log_path is None:
            return "on this console (--function-logs console)"
        return f"tail -f {self.function_log_path} | jq   (warnings and errors are echoed here)"
