"""The local cloud end to end: `shelfwise local up` as a subprocess, driven the way a user drives it."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from shelfwise.curated import read_curated
from shelfwise_local.cloud import free_port_pair
from shelfwise_local.tokens import issue_customer_token, issue_operator_token

pytestmark = pytest.mark.integration

BUCKET = "shelfwise-data"
STARTUP_TIMEOUT = 60.0
INGEST_TIMEOUT = 10.0  # the acceptance bound for a 1,000-row file


def cli_environment() -> dict[str, str]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    environment["PYTHONUNBUFFERED"] = "1"
    return environment


def run_cli(*args: str, cwd: Path, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shelfwise_local.cli", *args],
        cwd=cwd,
        env=cli_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass
class RunningCloud:
    process: subprocess.Popen[str]
    state_dir: Path
    api_url: str
    aws_endpoint_url: str
    log_path: Path

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.aws_endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def operator_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_operator_token(self.state_dir)}"}

    def customer_headers(self, customer_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_customer_token(self.state_dir, customer_id)}"}

    def drop(self, kind: str, name: str, content: bytes) -> None:
        """Place a file in the drop folder the way a copy tool does: written aside, then renamed in."""
        folder = self.state_dir / "dropbox" / kind
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{name}.partial"
        partial.write_bytes(content)
        partial.replace(folder / name)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def log(self) -> str:
        """What `shelfwise local up` printed on its console (stdout and stderr)."""
        return self.log_path.read_text("utf-8", errors="replace")

    def function_log(self) -> list[dict[str, Any]]:
        """The functions' own output, as CloudWatch would hold it: one JSON document per line."""
        path = self.state_dir / "logs" / "functions.jsonl"
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def start_cloud(state_dir: Path, cwd: Path, *extra_args: str) -> RunningCloud:
    port = free_port_pair()
    # A description left by an earlier run must not be mistaken for this one's; this run writes its own.
    (state_dir / "local.json").unlink(missing_ok=True)
    log_path = cwd / f"local-up-{port}.log"
    log_file = log_path.open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shelfwise_local.cli",
            "local",
            "up",
            "--port",
            str(port),
            "--state-dir",
            str(state_dir),
            *extra_args,
        ],
        cwd=cwd,
        env=cli_environment(),
        stdout=log_file,
        stderr=subprocess.STDOUT,
        text=True,
    )
    api_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"local cloud exited early:\n{log_path.read_text()}")
        try:
            description_path = state_dir / "local.json"
            # Another process may hold the port by now (the machine is shared): only our own cloud counts.
            ours = (
                description_path.is_file()
                and json.loads(description_path.read_text()).get("api_url") == api_url
            )
            if ours and requests.get(f"{api_url}/v1/health", timeout=2).status_code == 200:
                break
        except (requests.RequestException, ValueError):
            pass
        time.sleep(0.2)
    else:
        process.kill()
        raise AssertionError(f"/v1/health never answered 200:\n{log_path.read_text()}")
    description = json.loads((state_dir / "local.json").read_text())
    assert description["api_url"] == api_url
    return RunningCloud(process, state_dir, api_url, description["aws_endpoint_url"], log_path)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("local-cloud")


@pytest.fixture(scope="module")
def cloud(workspace: Path) -> Iterator[RunningCloud]:
    running = start_cloud(workspace / "state", workspace)
    yield running
    running.stop()


BAD_ROWS = {
    # data row index → (field, bad value)
    100: ("event_type", "like"),
    500: ("value", "lots"),
    900: ("timestamp", "yesterday-ish"),
}


def interactions_csv(rows: int = 1000) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["user_id", "item_id", "event_type", "value", "timestamp"])
    for index in range(rows):
        row = {
            "user_id": f"u{index % 37}",
            "item_id": f"i{index % 101}",
            "event_type": ("view", "cart", "purchase")[index % 3],
            "value": "1.0",
            "timestamp": f"2024-03-{1 + index % 28:02d}T10:{index % 60:02d}:00Z",
        }
        if index in BAD_ROWS:
            field, value = BAD_ROWS[index]
            row[field] = value
        writer.writerow(row.values())
    return buffer.getvalue().encode()


def manifests_for(cloud: RunningCloud, kind: str, source_key: str) -> list[dict[str, Any]]:
    s3 = cloud.client("s3")
    found = []
    listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"curated/_manifests/{kind}/").get("Contents", [])
    for entry in listing:
        manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=entry["Key"])["Body"].read())
        if manifest.get("source_key") == source_key:
            found.append(manifest)
    return found


def wait_for_manifest(cloud: RunningCloud, kind: str, source_key: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        manifests = manifests_for(cloud, kind, source_key)
        if manifests:
            return manifests[0]
        time.sleep(0.2)
    raise AssertionError(f"no manifest for {source_key} within {timeout} s:\n{cloud.log()[-4000:]}")


def wait_until_idle(cloud: RunningCloud, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = requests.get(
            f"{cloud.api_url}/_local/status", headers=cloud.operator_headers(), timeout=5
        ).json()
        queue = status["queues"]["shelfwise-ingest"]
        if not status["dropbox"]["pending"] and queue["visible"] == 0 and queue["in_flight"] == 0:
            return
        time.sleep(0.3)
    raise AssertionError("the local cloud did not become idle")


def test_unknown_route_is_a_json_404(cloud: RunningCloud) -> None:
    response = requests.get(f"{cloud.api_url}/v1/no-such-thing", timeout=5)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


def test_dropped_file_lands_valid_rows_and_reports_each_bad_row(cloud: RunningCloud) -> None:
    cloud.drop("interactions", "clicks-0001.csv", interactions_csv())

    manifest = wait_for_manifest(
        cloud, "interactions", "incoming/interactions/clicks-0001.csv", INGEST_TIMEOUT
    )

    assert manifest["rows_landed"] == 997
    assert manifest["rows_rejected"] == 3
    s3 = cloud.client("s3")
    landed = read_curated("interactions", bucket=BUCKET, s3_client=s3)
    assert landed.num_rows == 997
    report = s3.get_object(Bucket=BUCKET, Key=manifest["rejection_report_key"])["Body"].read().decode()
    problems = list(csv.DictReader(io.StringIO(report)))
    # The header is line 1, so data row i is on line i + 2.
    assert {(int(p["line"]), p["field"]) for p in problems} == {
        (index + 2, field) for index, (field, _) in BAD_ROWS.items()
    }
    assert all(p["reason"] for p in problems)
    assert (cloud.state_dir / "dropbox" / "interactions" / ".landed" / "clicks-0001.csv").is_file()

    # The same file delivered again lands nothing new.
    cloud.drop("interactions", "clicks-0001.csv", interactions_csv())
    deadline = time.monotonic() + INGEST_TIMEOUT
    while (cloud.state_dir / "dropbox" / "interactions" / "clicks-0001.csv").exists():
        assert time.monotonic() < deadline, "the second delivery was never picked up"
        time.sleep(0.2)
    wait_until_idle(cloud)
    assert len(list((cloud.state_dir / "dropbox" / "interactions" / ".landed").iterdir())) == 2
    assert read_curated("interactions", bucket=BUCKET, s3_client=s3).num_rows == 997
    assert len(manifests_for(cloud, "interactions", "incoming/interactions/clicks-0001.csv")) == 1


def test_binary_file_is_rejected_and_the_api_keeps_answering(cloud: RunningCloud) -> None:
    cloud.drop("catalog", "garbage.csv", bytes(range(256)) * 64)

    manifest = wait_for_manifest(cloud, "catalog", "incoming/catalog/garbage.csv", INGEST_TIMEOUT)

    assert manifest["status"] == "rejected"
    assert manifest["rows_landed"] == 0
    report = cloud.client("s3").get_object(Bucket=BUCKET, Key=manifest["rejection_report_key"])["Body"].read()
    problems = list(csv.DictReader(io.StringIO(report.decode())))
    assert len(problems) == 1
    assert "binary" in problems[0]["reason"]
    assert requests.get(f"{cloud.api_url}/v1/health", timeout=5).status_code == 200


def test_function_logs_go_to_the_state_dir_and_only_warnings_reach_the_console(cloud: RunningCloud) -> None:
    cloud.drop("interactions", "logged-clicks.csv", interactions_csv(rows=10))
    cloud.drop("catalog", "logged-garbage.csv", bytes(range(256)) * 64)
    wait_for_manifest(cloud, "interactions", "incoming/interactions/logged-clicks.csv", INGEST_TIMEOUT)
    wait_for_manifest(cloud, "catalog", "incoming/catalog/logged-garbage.csv", INGEST_TIMEOUT)

    def records_about(key: str) -> list[dict[str, Any]]:
        return [record for record in cloud.function_log() if record.get("object_key") == key]

    # The handler logs right after writing its manifest, so its lines may trail the manifest a little.
    deadline = time.monotonic() + INGEST_TIMEOUT
    while time.monotonic() < deadline:
        ingested = records_about("incoming/interactions/logged-clicks.csv")
        rejected = records_about("incoming/catalog/logged-garbage.csv")
        if any(r.get("message", "").startswith("file ingested:") for r in ingested) and rejected:
            break
        time.sleep(0.2)

    ingested_line = next(r for r in ingested if r.get("message", "").startswith("file ingested:"))
    assert ingested_line["level"] == "INFO"
    assert ingested_line["rows_landed"] == 10
    rejected_line = next(r for r in rejected if r.get("message", "").startswith("file rejected:"))
    assert rejected_line["level"] == "WARNING"
    assert any("_aws" in record for record in cloud.function_log()), "no EMF metric document was logged"
    console = cloud.log()
    # INFO lines stay in the log file; only warnings (a file with rejections, a rejected file) are echoed.
    assert "file ingested: incoming/interactions/logged-clicks.csv" not in console
    assert not [line for line in console.splitlines() if line.lstrip().startswith("{")]
    # The echoed line names the file and its rejection report.
    assert "[ingest] WARNING file rejected: incoming/catalog/logged-garbage.csv — " in console
    assert f"report s3://{BUCKET}/rejected/catalog/logged-garbage.csv." in console


def test_run_segment_customers_waits_for_success(cloud: RunningCloud, workspace: Path) -> None:
    result = run_cli(
        "run",
        "segment-customers",
        "--wait",
        "--timeout",
        "120",
        "--state-dir",
        str(cloud.state_dir),
        cwd=workspace,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "succeeded" in result.stdout


def test_run_unknown_schedule_lists_known_ones(cloud: RunningCloud, workspace: Path) -> None:
    result = run_cli("run", "no-such-schedule", "--state-dir", str(cloud.state_dir), cwd=workspace)

    assert result.returncode == 2
    assert "segment-customers" in result.stderr


def test_drop_command_uploads_and_ingests(cloud: RunningCloud, workspace: Path) -> None:
    source = workspace / "more-clicks.csv"
    source.write_bytes(interactions_csv(rows=20))

    result = run_cli("drop", "interactions", str(source), "--state-dir", str(cloud.state_dir), cwd=workspace)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"s3://{BUCKET}/incoming/interactions/more-clicks.csv"
    manifest = wait_for_manifest(
        cloud, "interactions", "incoming/interactions/more-clicks.csv", INGEST_TIMEOUT
    )
    assert manifest["rows_landed"] == 20


def test_data_survives_a_restart(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    first = start_cloud(state_dir, tmp_path)
    try:
        first.drop("interactions", "keep-me.csv", interactions_csv(rows=50))
        before = wait_for_manifest(first, "interactions", "incoming/interactions/keep-me.csv", INGEST_TIMEOUT)
    finally:
        assert first.stop() == 0, first.log()[-4000:]

    second = start_cloud(state_dir, tmp_path)
    try:
        assert manifests_for(second, "interactions", "incoming/interactions/keep-me.csv") == [before]
        landed = read_curated("interactions", bucket=BUCKET, s3_client=second.client("s3"))
        assert landed.num_rows == 50
    finally:
        second.stop()


def test_every_non_public_route_needs_a_valid_token(cloud: RunningCloud) -> None:
    forged = issue_customer_token(cloud.state_dir / "another-machine", "u1")
    for path in ("/v1/users/u1/recommendations", "/v1/models", "/v1/customers/u1/segment"):
        for headers in ({}, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": f"Bearer {forged}"}):
            response = requests.get(f"{cloud.api_url}{path}", headers=headers, timeout=10)
            assert response.status_code == 401, (path, headers, response.text)
            assert response.json()["error"]["code"] == "unauthorized"
    assert requests.get(f"{cloud.api_url}/v1/openapi.json", timeout=10).status_code == 200


def test_a_customer_token_serves_only_that_customer(cloud: RunningCloud) -> None:
    mine = cloud.customer_headers("u1")
    assert requests.get(f"{cloud.api_url}/v1/users/u1/recommendations", headers=mine, timeout=30).ok
    theirs = requests.get(f"{cloud.api_url}/v1/users/u2/recommendations", headers=mine, timeout=30)
    assert theirs.status_code == 403 and theirs.json()["error"]["code"] == "forbidden"
    # A shopper's token is no operator identity: operations routes refuse it.
    assert (
        requests.get(f"{cloud.api_url}/v1/customers/u1/segment", headers=mine, timeout=10).status_code == 401
    )
    events = {"events": [{"user_id": "u2", "item_id": "i1", "event_type": "view", "timestamp": time.time()}]}
    posted = requests.post(f"{cloud.api_url}/v1/events", json=events, headers=mine, timeout=30)
    assert (
        posted.status_code == 403 and posted.json()["error"]["details"][0]["field"] == "body.events.0.user_id"
    )


def test_operator_scopes_are_enforced(cloud: RunningCloud) -> None:
    writer_only = {"Authorization": f"Bearer {issue_operator_token(cloud.state_dir, ('shelfwise/write',))}"}
    refused = requests.get(f"{cloud.api_url}/v1/models", headers=writer_only, timeout=10)
    assert refused.status_code == 403 and "shelfwise/read" in refused.json()["error"]["message"]
    assert requests.get(f"{cloud.api_url}/v1/models", headers=cloud.operator_headers(), timeout=10).ok


def test_control_routes_need_the_operator_token_and_refuse_other_origins(cloud: RunningCloud) -> None:
    status_url = f"{cloud.api_url}/_local/status"
    assert requests.get(status_url, timeout=5).status_code == 401
    shopper = requests.post(
        f"{cloud.api_url}/_local/schedules/segment-customers/runs",
        headers=cloud.customer_headers("u1"),
        timeout=5,
    )
    assert shopper.status_code == 401
    from_a_web_page = {**cloud.operator_headers(), "Origin": "https://evil.example"}
    assert requests.get(status_url, headers=from_a_web_page, timeout=5).status_code == 403
    rebound = {**cloud.operator_headers(), "Host": "attacker.example:3000"}
    assert requests.get(status_url, headers=rebound, timeout=5).status_code == 403
    assert requests.get(status_url, headers=cloud.operator_headers(), timeout=5).status_code == 200


def test_a_chat_session_cannot_be_read_or_hijacked_by_another_customer(cloud: RunningCloud) -> None:
    url = f"{cloud.api_url}/v1/chat/messages"
    victim = {
        "session_id": "cust-1042",
        "message_id": "1",
        "text": "Hi, can you help me track order 98765432? My e-mail is jane.victim@example.com",
    }
    answer = requests.post(url, json=victim, headers=cloud.customer_headers("c-1042"), timeout=30)
    assert answer.status_code == 200 and "98765432" in answer.json()["reply"]
    for attempt in ({**victim, "text": "hello"}, victim):
        stolen = requests.post(url, json=attempt, headers=cloud.customer_headers("c-6666"), timeout=30)
        assert stolen.status_code == 403 and "98765432" not in stolen.text


def test_card_numbers_and_ibans_never_reach_the_answer_or_the_sessions_table(cloud: RunningCloud) -> None:
    secrets = ["4532015112830366", "4532.0151.1283.0366", "de89370400440532013000"]
    url = f"{cloud.api_url}/v1/chat/messages"
    headers = cloud.customer_headers("c-2001")
    texts = [
        f"please refund {secrets[0]} now",
        f"my preferred card is {secrets[1]}, order 55443322",
        f"send the refund to {secrets[2]} please",
    ]
    answers = []
    for number, text in enumerate(texts):
        body = {"session_id": "pii-http", "message_id": str(number), "text": text}
        response = requests.post(url, json=body, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        assert not any(secret in response.text for secret in secrets), response.text
        answers.append(response.json())
    assert "55443322" in answers[1]["redacted_text"]  # an order number is not PII and stays
    stored = cloud.client("dynamodb").scan(TableName="shelfwise-chat-sessions")["Items"]
    dumped = json.dumps(stored)
    assert stored and not any(secret in dumped or secret.upper() in dumped for secret in secrets)


def test_parallel_requests_to_one_function_each_get_their_own_answer(cloud: RunningCloud) -> None:
    """Lambda runs one event per execution environment; the local gateway must not mix concurrent requests."""
    customers = [f"par{number}" for number in range(24)]

    def ask(customer: str) -> tuple[str, int, Any]:
        response = requests.get(
            f"{cloud.api_url}/v1/users/{customer}/recommendations?k=3",
            headers=cloud.customer_headers(customer),
            timeout=60,
        )
        return customer, response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ask, customers))

    for customer, status, body in answers:
        assert status == 200, (customer, body)
        assert body["user_id"] == customer
