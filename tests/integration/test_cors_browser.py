"""CORS as a shop's browser sees it: headless Chromium, driven by Playwright, calls the local cloud from pages
on two origins. The shop's origin (given with `shelfwise local up --cors-origin`) may call the API, with an
`Authorization` header, so the browser sends a real preflight first; any other origin is refused by the
browser itself.

Uses the system's Chromium (`/usr/bin/chromium`, Debian's `chromium` package; `.ci/run` installs it) and never
downloads one. Without it the test is skipped locally and fails in CI (`CI=true`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from test_local_cloud import RunningCloud, start_cloud

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGE = "<!doctype html><title>shop</title><p>chat widget test page</p>\n"

# Runs in the page: the widget's call, reporting what the page's script can see of the answer.
FETCH = """async ({url, method, headers, body}) => {
    try {
        const response = await fetch(url, {method, headers, body});
        return {ok: true, status: response.status, body: await response.json()};
    } catch (error) {
        return {ok: false, error: String(error)};
    }
}"""


def require_chromium() -> None:
    if CHROMIUM.is_file():
        return
    reason = f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """Two origins serving the same page: the shop (allowed) and a stranger (not allowed)."""
    root = tmp_path_factory.mktemp("pages")
    (root / "index.html").write_text(PAGE, encoding="utf-8")
    servers = [
        ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(root))) for _ in range(2)
    ]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    shop, stranger = (f"http://127.0.0.1:{server.server_address[1]}" for server in servers)
    yield shop, stranger
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def cloud(pages: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    require_chromium()
    workspace = tmp_path_factory.mktemp("cors")
    shop, _ = pages
    running = start_cloud(
        workspace / "state", workspace, "--cors-origin", "https://shop.example", "--cors-origin", shop
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser(cloud: RunningCloud) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def shopper_token(state_dir: Path) -> str:
    try:
        from shelfwise_local.tokens import issue_customer_token
    except ImportError:  # a local cloud without authentication ignores the header
        return "local"
    return issue_customer_token(state_dir, "C-browser")


def call_from(browser: Any, origin: str, request: dict[str, Any]) -> dict[str, Any]:
    page = browser.new_page()
    try:
        page.goto(f"{origin}/index.html")
        return page.evaluate(FETCH, request)
    finally:
        page.close()


def chat_request(cloud: RunningCloud) -> dict[str, Any]:
    return {
        "url": f"{cloud.api_url}/v1/chat/messages",
        "method": "POST",
        # Authorization and a JSON content type make this a non-simple request: the browser preflights it.
        "headers": {
            "Authorization": f"Bearer {shopper_token(cloud.state_dir)}",
            "Content-Type": "application/json",
        },
        "body": '{"text": "Where is my order 12345?"}',
    }


def test_the_shops_page_calls_the_chat_api_with_a_token(
    browser: Any, cloud: RunningCloud, pages: tuple[str, str]
) -> None:
    shop, _ = pages
    result = call_from(browser, shop, chat_request(cloud))
    assert result["ok"], result
    assert result["status"] == 200, result
    assert result["body"]["intent"] and result["body"]["session_id"]


def test_a_page_from_another_origin_is_refused_by_the_browser(
    browser: Any, cloud: RunningCloud, pages: tuple[str, str]
) -> None:
    _, stranger = pages
    result = call_from(browser, stranger, chat_request(cloud))
    assert not result["ok"], result
    assert "Failed to fetch" in result["error"]
    # Simple requests (no preflight) are refused too: the function adds no CORS headers for that origin.
    simple = call_from(browser, stranger, {"url": f"{cloud.api_url}/v1/health", "method": "GET"})
    assert not simple["ok"], simple


def test_the_shop_reads_simple_answers_too(browser: Any, cloud: RunningCloud, pages: tuple[str, str]) -> None:
    shop, _ = pages
    result = call_from(browser, shop, {"url": f"{cloud.api_url}/v1/health", "method": "GET"})
    assert (result["ok"], result.get("status")) == (True, 200), result


def test_the_preflight_is_answered_like_api_gateways(cloud: RunningCloud, pages: tuple[str, str]) -> None:
    shop, stranger = pages
    url = f"{cloud.api_url}/v1/chat/messages"
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    allowed = requests.options(url, headers={"Origin": shop, **preflight}, timeout=5)
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == shop
    assert allowed.headers["Access-Control-Allow-Methods"] == "POST"
    assert allowed.headers["Access-Control-Allow-Headers"] == "Authorization,Content-Type,X-Api-Key"
    # API Gateway's mock integration answers other origins with the first configured one.
    other = requests.options(url, headers={"Origin": stranger, **preflight}, timeout=5)
    assert other.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    unknown = requests.options(f"{cloud.api_url}/v1/nowhere", headers={"Origin": shop}, timeout=5)
    assert unknown.status_code == 404
