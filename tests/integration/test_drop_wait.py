"""`shelfwise drop KIND FILE --wait` against a real `shelfwise local up`: the sender is told the outcome."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import test_local_cloud as local

pytestmark = pytest.mark.integration

BUCKET = local.BUCKET
CATALOG_HEADER = "item_id,title,category,brand,price"


def catalog_csv(rows: int, bad: dict[int, str]) -> bytes:
    lines = [CATALOG_HEADER]
    for index in range(rows):
        lines.append(bad.get(index, f"sku-{index},Mug {index},kitchen,Acme,{5 + index}.99"))
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("drop-wait")


@pytest.fixture(scope="module")
def cloud(workspace: Path) -> Iterator[local.RunningCloud]:
    running = local.start_cloud(workspace / "state", workspace)
    yield running
    running.stop()


def drop_wait(cloud: local.RunningCloud, workspace: Path, kind: str, path: Path) -> Any:
    return local.run_cli(
        "drop",
        kind,
        str(path),
        "--wait",
        "--timeout",
        "60",
        "--state-dir",
        str(cloud.state_dir),
        cwd=workspace,
    )


def console_line(cloud: local.RunningCloud, fragment: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in cloud.log().splitlines():
            if fragment in line:
                return line
        time.sleep(0.2)
    raise AssertionError(f"no console line with {fragment!r}:\n{cloud.log()[-3000:]}")


def test_partial_rejection_prints_counts_and_the_report_then_redelivery_says_already(
    cloud: local.RunningCloud, workspace: Path
) -> None:
    source = workspace / "new.csv"
    source.write_bytes(catalog_csv(20, {3: "sku-3,Mug,kitchen,Acme,abc", 11: ",Pan,kitchen,Acme,5"}))

    result = drop_wait(cloud, workspace, "catalog", source)

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"s3://{BUCKET}/incoming/catalog/new.csv"
    assert lines[1] == "incoming/catalog/new.csv: landed with rejections — 18 of 20 rows landed, 2 rejected"
    report_line = next(line for line in lines if line.startswith("rejection report: "))
    assert report_line.startswith(f"rejection report: s3://{BUCKET}/rejected/catalog/new.csv.")
    assert "line 5, price:" in result.stdout  # data row 3 is on line 5
    assert "line 13, item_id:" in result.stdout
    local_copy = Path(next(line for line in lines if "local copy: " in line).split("local copy: ")[1])
    assert local_copy.read_text("utf-8").startswith('"line","field","value","reason"')
    assert any(line.startswith(f"manifest: s3://{BUCKET}/curated/_manifests/catalog/") for line in lines)
    # The local cloud's console names the file and its report too.
    echoed = console_line(cloud, "file ingested with rejections: incoming/catalog/new.csv")
    assert f"report s3://{BUCKET}/rejected/catalog/new.csv." in echoed

    again = drop_wait(cloud, workspace, "catalog", source)

    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.splitlines()[1] == (
        "already delivered before; incoming/catalog/new.csv: landed with rejections — "
        "18 of 20 rows landed, 2 rejected"
    )
    assert [line for line in again.stdout.splitlines() if line.startswith("manifest: ")] == [
        line for line in lines if line.startswith("manifest: ")
    ]


def test_a_file_rejected_whole_exits_non_zero_and_says_why(
    cloud: local.RunningCloud, workspace: Path
) -> None:
    source = workspace / "prices.csv"
    source.write_bytes(b"sku,title,category,brand,price\nsku-1,Mug,kitchen,Acme,5\n")

    result = drop_wait(cloud, workspace, "catalog", source)

    assert result.returncode == 1, result.stdout + result.stderr
    headline = "incoming/catalog/prices.csv: rejected whole — missing required column(s): item_id"
    assert headline in result.stdout
    assert "the file" not in result.stdout.split("rejection report:")[0]
    assert "line 1, (header): missing required column(s): item_id" in result.stdout
    echoed = console_line(cloud, "file rejected: incoming/catalog/prices.csv")
    assert "WARNING" in echoed and f"report s3://{BUCKET}/rejected/catalog/prices.csv." in echoed


def test_without_wait_only_the_uri_is_printed(cloud: local.RunningCloud, workspace: Path) -> None:
    source = workspace / "quiet.csv"
    source.write_bytes(catalog_csv(2, {}))

    result = local.run_cli("drop", "catalog", str(source), "--state-dir", str(cloud.state_dir), cwd=workspace)

    assert (result.returncode, result.stdout.strip()) == (0, f"s3://{BUCKET}/incoming/catalog/quiet.csv")


def test_a_hidden_file_in_the_drop_folder_is_named_on_the_console(cloud: local.RunningCloud) -> None:
    folder = cloud.state_dir / "dropbox" / "catalog"
    (folder / ".hidden.csv").write_bytes(catalog_csv(2, {}))

    line = console_line(cloud, ".hidden.csv not uploaded")

    assert "starts with '.'" in line
    assert (folder / ".hidden.csv").exists()


def test_operators_list_the_files_with_their_outcome(cloud: local.RunningCloud, workspace: Path) -> None:
    source = workspace / "listed.csv"
    source.write_bytes(catalog_csv(3, {0: "sku-0,Mug,kitchen,Acme,free"}))
    assert drop_wait(cloud, workspace, "catalog", source).returncode == 0
    from shelfwise_local.tokens import issue_operator_token

    token = issue_operator_token(cloud.state_dir)
    response = requests.get(
        f"{cloud.api_url}/v1/ingest/files",
        params={"kind": "catalog", "status": "partially_rejected"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )

    assert response.status_code == 200, response.text
    listed = {entry["source_key"]: entry for entry in response.json()["files"]}
    entry = listed["incoming/catalog/listed.csv"]
    assert (entry["rows_landed"], entry["rows_rejected"]) == (2, 1)
    report = requests.get(entry["rejection_report_url"], timeout=10)
    assert report.status_code == 200 and "free" in report.text
    unauthenticated = requests.get(f"{cloud.api_url}/v1/ingest/files", timeout=10)
    assert unauthenticated.status_code == 401, json.dumps(unauthenticated.json())
