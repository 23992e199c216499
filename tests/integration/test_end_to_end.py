"""The three product flows end to end through a real `shelfwise local up`, driven as a retailer drives it:
files into the drop folder, `shelfwise run ... --wait`, then the HTTP API.

- recommendations: catalog + interactions -> train-recommender -> promoted model behind the API, reacting to
  events posted a moment ago;
- forecast: sales + inventory -> forecast workflow -> plan, per-SKU forecasts and the HTML report;
- chat: the retailer's own `text,intent` file -> train-chat -> answers with the retailer's intents.

One local cloud serves the whole module; the shop is the demo generator's at a small size.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from shelfwise.ingest.activity import MAX_RECENT
from shelfwise_local.demo import generate_shop
from shelfwise_local.demo_run import print_examples
from shelfwise_local.tokens import DevKeys
from test_local_cloud import RunningCloud, run_cli, start_cloud, wait_for_manifest

pytestmark = pytest.mark.integration

# In AWS every route but /v1/health needs the usage plan's key; the local gateway accepts any, so a client
# written against the local cloud sends one all the same.
INGEST_TIMEOUT = 120.0
RUN_TIMEOUT = 600.0
SWAP_TIMEOUT = 90.0  # the serving functions look for a newly promoted version every 30 s
K = 10
PROMOTED = re.compile(r"model registry: (?P<model>\w+) version (?P<version>\S+) promoted")


@dataclass(frozen=True)
class Shop:
    files: dict[str, Path]
    catalog: list[dict[str, str]]
    interactions: list[dict[str, str]]
    sales: list[dict[str, str]]
    inventory: list[dict[str, str]]


@dataclass
class Api:
    base_url: str
    session: requests.Session

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(f"{self.base_url}{path}", params=params, timeout=60)

    def post(self, path: str, body: dict[str, Any]) -> requests.Response:
        return self.session.post(f"{self.base_url}{path}", json=body, timeout=60)


def read_rows(path: Path) -> list[dict[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("end-to-end")


@pytest.fixture(scope="module")
def shop(workspace: Path) -> Shop:
    # Shoppers with sharp category tastes, enough for the model to beat popularity and pass the registry's
    # gate whatever the ingestion pseudonyms (random per local cloud) do to the job's hold-out split: the
    # gate's lift ranged 1.03-1.58 over 15 pseudonym draws with 60 shoppers, 1.28-1.51 with 120. And a
    # handful of SKUs with four months of daily sales (enough for cross-validation).
    files = generate_shop(
        workspace / "shop",
        seed=7,
        n_items=120,
        n_users=120,
        interaction_days=60,
        mean_views_per_user=30.0,
        n_skus=4,
        sales_days=120,
    )
    return Shop(
        files, *(read_rows(files[kind]) for kind in ("catalog", "interactions", "sales", "inventory"))
    )


@pytest.fixture(scope="module")
def cloud(workspace: Path) -> Iterator[RunningCloud]:
    running = start_cloud(workspace / "state", workspace)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def api(cloud: RunningCloud) -> Iterator[Api]:
    with requests.Session() as session:
        # The retailer's servers: an operator token with the server scope acts for every customer.
        session.headers.update(cloud.operator_headers())
        yield Api(cloud.api_url, session)


def deliver(cloud: RunningCloud, kind: str, path: Path) -> dict[str, Any]:
    """Drop a file and wait until ingestion has landed it; every row of the generated shop is valid."""
    cloud.drop(kind, path.name, path.read_bytes())
    manifest = wait_for_manifest(cloud, kind, f"incoming/{kind}/{path.name}", INGEST_TIMEOUT)
    assert manifest["rows_landed"] > 0 and manifest["rows_rejected"] == 0, manifest
    return manifest


def run_schedule(cloud: RunningCloud, name: str) -> str:
    result = run_cli(
        "run", name, "--wait", "--timeout", str(RUN_TIMEOUT), "--state-dir", str(cloud.state_dir),
        cwd=cloud.state_dir.parent, timeout=RUN_TIMEOUT + 60,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output + "\n--- local cloud log ---\n" + cloud.log()[-6000:]
    return result.stdout


def promoted_version(output: str, model_name: str) -> str:
    match = PROMOTED.search(output)
    assert match is not None, f"the run names no promoted version:\n{output}"
    assert match["model"] == model_name
    return match["version"]


def eventually(probe: Callable[[], Any], accept: Callable[[Any], bool], timeout: float) -> Any:
    """The last answer of `probe`, polled until `accept` holds or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if accept(answer) or time.monotonic() >= deadline:
            return answer
        time.sleep(1.0)


# -- recommendations ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recommender_version(cloud: RunningCloud, shop: Shop) -> str:
    deliver(cloud, "catalog", shop.files["catalog"])
    deliver(cloud, "interactions", shop.files["interactions"])
    output = run_schedule(cloud, "train-recommender")
    return promoted_version(output, "recommender")


def history_by_user(shop: Shop) -> dict[str, set[str]]:
    history: dict[str, set[str]] = defaultdict(set)
    for row in shop.interactions:
        history[row["user_id"]].add(row["item_id"])
    return history


def test_training_promotes_a_recommender_listed_by_the_models_endpoint(
    api: Api, recommender_version: str
) -> None:
    response = api.get("/v1/models")

    assert response.status_code == 200
    listed = {(m["model_name"], m["version"]): m for m in response.json()["models"]}
    assert listed[("recommender", recommender_version)]["status"] == "promoted"
    assert listed[("recommender", recommender_version)]["metrics"]["ndcg_lift_over_popularity"] >= 1.0


def test_known_user_gets_k_new_items_from_the_promoted_model(
    api: Api, shop: Shop, recommender_version: str
) -> None:
    history = history_by_user(shop)
    events_per_user: dict[str, int] = defaultdict(int)
    for row in shop.interactions:
        events_per_user[row["user_id"]] += 1
    # A long-time shopper: more events than the recent activity kept online, so their older
    # interactions are only in the model's training history, and must stay left out all the same.
    user = max(sorted(history), key=lambda u: events_per_user[u])
    assert events_per_user[user] > MAX_RECENT

    response = eventually(
        lambda: api.get(f"/v1/users/{user}/recommendations", k=K),
        lambda r: r.status_code != 200 or r.json()["model_version"] == recommender_version,
        SWAP_TIMEOUT,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user_id"] == user
    assert body["model_version"] == recommender_version
    recommended = [item["item_id"] for item in body["items"]]
    assert len(recommended) == K == len(set(recommended))
    assert not set(recommended) & history[user]
    assert set(recommended) <= {row["item_id"] for row in shop.catalog}


def test_events_of_a_new_shopper_personalize_their_next_recommendations(
    api: Api, shop: Shop, recommender_version: str
) -> None:
    user = "e2e-brand-new-shopper"
    category_of = {row["item_id"]: row["category"] for row in shop.catalog}
    popularity: dict[str, int] = defaultdict(int)
    for row in shop.interactions:
        popularity[row["item_id"]] += 1
    by_category: dict[str, list[str]] = defaultdict(list)
    for item_id in sorted(popularity, key=lambda item: (-popularity[item], item)):
        by_category[category_of[item_id]].append(item_id)
    # The shopper browses the less-visited half of a well-stocked category, unlike the popular answer.
    category = max(by_category, key=lambda name: (len(by_category[name]), name))
    viewed = by_category[category][-4:]

    before = eventually(
        lambda: api.get(f"/v1/users/{user}/recommendations", k=K),
        lambda r: r.status_code != 200 or r.json()["model_version"] == recommender_version,
        SWAP_TIMEOUT,
    )
    assert before.status_code == 200, before.text
    assert {item["reason"] for item in before.json()["items"]} == {"popular right now (no history yet)"}

    moment = datetime.now(UTC) - timedelta(minutes=2)
    posted = api.post(
        "/v1/events",
        {
            "events": [
                {
                    "user_id": user,
                    "item_id": item_id,
                    "event_type": "view",
                    "timestamp": (moment + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
                for n, item_id in enumerate(viewed)
            ]
        },
    )
    assert posted.status_code == 200, posted.text
    assert posted.json()["accepted"] == len(viewed)

    after = api.get(f"/v1/users/{user}/recommendations", k=K)

    assert after.status_code == 200, after.text
    body = after.json()
    assert body["model_version"] == recommender_version
    recommended = [item["item_id"] for item in body["items"]]
    assert len(recommended) == K
    assert recommended != [item["item_id"] for item in before.json()["items"]]
    assert not set(recommended) & set(viewed)
    # Reasons name the viewed items by their catalog titles, and carry their ids to link them.
    title_of = {row["item_id"]: row["title"] for row in shop.catalog}
    assert [item["title"] for item in body["items"]] == [title_of[item_id] for item_id in recommended]
    reasons = [item["reason"] for item in body["items"]]
    viewed_reasons = {f"because you viewed {title_of[item_id]}" for item_id in viewed}
    assert any(reason in viewed_reasons for reason in reasons), reasons
    for item in body["items"]:
        if item["reason"] in viewed_reasons:
            [source] = item["reason_item_ids"]
            assert item["reason"] == f"because you viewed {title_of[source]}" and source in viewed


def test_similar_items_of_a_known_item_and_404_for_an_unknown_one(
    api: Api, shop: Shop, recommender_version: str
) -> None:
    item = shop.interactions[0]["item_id"]

    similar = api.get(f"/v1/items/{item}/similar", k=K)
    unknown = api.get("/v1/items/NO-SUCH-ITEM-42/similar", k=K)

    assert similar.status_code == 200, similar.text
    assert similar.json()["model_version"] == recommender_version
    assert len(similar.json()["items"]) == K
    assert item not in {entry["item_id"] for entry in similar.json()["items"]}
    assert unknown.status_code == 404
    assert unknown.json()["error"]["details"][0]["field"] == "path.item_id"


# -- forecast and replenishment ----------------------------------------------------------------------------

PLAN_FIELDS = {
    "sku", "location", "abc", "xyz", "service_level", "lead_time_demand_mean", "lead_time_demand_sd",
    "safety_stock", "reorder_point", "eoq", "inventory_position", "order_qty", "reason",
}  # fmt: skip


@pytest.fixture(scope="module")
def forecast_run(cloud: RunningCloud, shop: Shop) -> str:
    deliver(cloud, "sales", shop.files["sales"])
    deliver(cloud, "inventory", shop.files["inventory"])
    deliver(cloud, "promotions", shop.files["promotions"])
    output = run_schedule(cloud, "forecast")
    record = json.loads(output[output.index("{") : output.rindex("}") + 1])
    summary = json.loads(record["result"])
    assert summary["shards"] >= 1 and summary["failed_shards"] == 0, summary
    return output


def last_sales_date(shop: Shop) -> date:
    return max(date.fromisoformat(row["date"]) for row in shop.sales)


def test_forecast_run_publishes_a_plan_for_every_stocked_sku(api: Api, shop: Shop, forecast_run: str) -> None:
    response = api.get("/v1/replenishment/plan")

    assert response.status_code == 200, response.text
    body = response.json()
    assert date.fromisoformat(body["date"]) == last_sales_date(shop) + timedelta(days=1)
    assert body["items"]
    for line in body["items"]:
        assert set(line) >= PLAN_FIELDS, line
    lines = {(line["sku"], line["location"]): line for line in body["items"]}
    stocked = {(row["sku"], row["location"]) for row in shop.inventory}
    assert stocked <= set(lines)
    planned = [line for line in lines.values() if line["order_qty"] is not None]
    assert planned
    inventory = {(row["sku"], row["location"]): row for row in shop.inventory}
    for line in planned:
        stock = inventory[(line["sku"], line["location"])]
        position = float(stock["on_hand"]) + float(stock["on_order"])
        assert line["inventory_position"] == pytest.approx(position), line
        # The API rounds each figure to 4 decimals.
        assert line["reorder_point"] == pytest.approx(
            line["lead_time_demand_mean"] + line["safety_stock"], abs=2e-4
        ), line
        assert line["reason"]
        if position > line["reorder_point"]:
            assert line["order_qty"] == 0, line
            continue
        # At or below the reorder point: an order of whole packs, at least the MOQ, that lifts the
        # position back over the reorder point.
        pack, moq = float(stock["pack_size"]), float(stock["moq"])
        assert line["order_qty"] >= max(moq, pack), line
        assert line["order_qty"] / pack == pytest.approx(round(line["order_qty"] / pack)), line
        assert position + line["order_qty"] >= line["reorder_point"], line


def test_sku_forecast_covers_28_days_from_the_day_after_the_last_sale(
    api: Api, shop: Shop, forecast_run: str
) -> None:
    sold = {(row["sku"], row["location"]) for row in shop.sales}
    sku, location = next(
        (row["sku"], row["location"]) for row in shop.inventory if (row["sku"], row["location"]) in sold
    )

    response = api.get(f"/v1/forecasts/{sku}", location=location)
    unknown = api.get("/v1/forecasts/NO-SUCH-SKU", location=location)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["sku"], body["location"]) == (sku, location)
    days = [date.fromisoformat(point["date"]) for point in body["points"]]
    first = last_sales_date(shop) + timedelta(days=1)
    assert days == [first + timedelta(days=n) for n in range(28)]
    for point in body["points"]:
        assert point["lo_95"] <= point["lo_80"] <= point["mean"] <= point["hi_80"] <= point["hi_95"]
        assert point["lo_95"] >= 0
    assert unknown.status_code == 404


def test_a_planned_promotion_shows_in_the_sku_forecast(api: Api, shop: Shop, forecast_run: str) -> None:
    campaign = read_rows(shop.files["promotions"])[0]
    location = campaign["location"] or next(
        r["location"] for r in shop.inventory if r["sku"] == campaign["sku"]
    )
    start, end = date.fromisoformat(campaign["start_date"]), date.fromisoformat(campaign["end_date"])

    response = api.get(f"/v1/forecasts/{campaign['sku']}", location=location)

    assert response.status_code == 200, response.text
    points = response.json()["points"]
    flagged = [date.fromisoformat(point["date"]) for point in points if point["promo"]]
    assert flagged == [start + timedelta(days=n) for n in range((end - start).days + 1)]
    promo_mean = sum(p["mean"] for p in points if p["promo"]) / len(flagged)
    other_mean = sum(p["mean"] for p in points if not p["promo"]) / (len(points) - len(flagged))
    assert promo_mean > other_mean


def test_replenishment_report_is_an_html_page(api: Api, shop: Shop, forecast_run: str) -> None:
    response = api.get("/v1/replenishment/report")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    page = response.text
    assert "<html" in page.lower()
    assert shop.inventory[0]["sku"] in page


# -- chat --------------------------------------------------------------------------------------------------

RETAILER_INTENTS: dict[str, tuple[str, ...]] = {
    "gift_wrapping": (
        "can you gift wrap my order",
        "I want this wrapped as a present",
        "do you offer gift wrapping",
        "please add gift wrap to the parcel",
        "is gift wrapping available for this item",
        "wrap it as a gift please",
        "how much does gift wrapping cost",
        "could the present be wrapped with a ribbon",
        "I need the box gift wrapped for a birthday",
        "add wrapping paper and a ribbon",
        "can you put it in gift paper",
        "gift wrap option for my purchase",
        "I'd like decorative wrapping on the present",
        "wrap the birthday present nicely",
        "is there a gift wrap service",
    ),
    "loyalty_points": (
        "how many loyalty points do I have",
        "check my reward points balance",
        "when do my loyalty points expire",
        "can I pay with my reward points",
        "my points were not added after the purchase",
        "how do I earn more loyalty points",
        "redeem my points for a discount",
        "what is my rewards balance",
        "points missing from my loyalty account",
        "how many points do I get per euro",
        "use loyalty points at checkout",
        "transfer my reward points to my partner",
        "loyalty programme points question",
        "do points expire at the end of the year",
        "I want to spend my bonus points",
    ),
    "store_hours": (
        "what time does the shop open",
        "when do you close today",
        "are you open on sunday",
        "opening hours of the city centre store",
        "is the store open on public holidays",
        "what are your opening times",
        "until when is the shop open tonight",
        "what time do you open on saturday morning",
        "are you open late on thursday",
        "store hours for the weekend",
        "when does the outlet open",
        "is the branch open right now",
        "closing time of the store near the station",
        "holiday opening hours please",
        "do you open early on mondays",
    ),
    "click_and_collect": (
        "can I pick up my order in store",
        "is click and collect available",
        "collect my parcel at the shop",
        "where do I pick up my click and collect order",
        "my order is ready for collection, where do I go",
        "can someone else collect my order in store",
        "how long do you keep click and collect orders",
        "I want to collect in store instead of delivery",
        "pick up from the store near me",
        "collection point for my online order",
        "reserve online and collect in the shop",
        "do I need ID to collect my order",
        "store pickup option at checkout",
        "when can I collect my order from the store",
        "change delivery to in-store pickup",
    ),
}


def retailer_intents_csv() -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["text", "intent"])
    for intent, utterances in RETAILER_INTENTS.items():
        writer.writerows((text, intent) for text in utterances)
    return buffer.getvalue().encode()


@pytest.fixture(scope="module")
def chat_version(cloud: RunningCloud, workspace: Path) -> str:
    intents_file = workspace / "retailer-intents.csv"
    intents_file.write_bytes(retailer_intents_csv())
    deliver(cloud, "chat-training", intents_file)
    output = run_schedule(cloud, "train-chat")
    return promoted_version(output, "chat")


def chat(api: Api, text: str, session_id: str) -> requests.Response:
    return api.post("/v1/chat/messages", {"text": text, "session_id": session_id})


def test_retrained_chat_answers_with_the_retailers_intents(api: Api, chat_version: str) -> None:
    assert chat_version != "default"

    response = eventually(
        lambda: chat(api, "Could you gift wrap the scarf I ordered? It's a present.", "e2e-chat-gift"),
        lambda r: r.status_code != 200 or r.json()["model_version"] == chat_version,
        SWAP_TIMEOUT,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == chat_version
    assert body["intent"] == "gift_wrapping"
    assert {intent for intent, _ in body["top_intents"]} <= set(RETAILER_INTENTS)
    hours = chat(api, "Is the store open on Sunday afternoon?", "e2e-chat-hours")
    assert hours.status_code == 200, hours.text
    assert hours.json()["intent"] == "store_hours"


def test_chat_redacts_an_email_address(api: Api, chat_version: str) -> None:
    address = "jane.doe@example.com"

    response = eventually(
        lambda: chat(api, f"How many loyalty points do I have? My e-mail is {address}", "e2e-chat-email"),
        lambda r: r.status_code != 200 or r.json()["model_version"] == chat_version,
        SWAP_TIMEOUT,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert address not in body["redacted_text"]
    assert "[EMAIL]" in body["redacted_text"]
    assert address not in response.text


# -- what a newcomer copies from the demo --------------------------------------------------------------------


def test_the_demos_printed_curl_lines_answer_with_their_tokens(
    cloud: RunningCloud,
    shop: Shop,
    recommender_version: str,
    forecast_run: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_schedule(cloud, "segment-customers")
    for name, value in {
        "AWS_ENDPOINT_URL": cloud.aws_endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    print_examples(cloud.api_url, shop.files, DevKeys.load_or_create(cloud.state_dir))
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()]
    exports = [line for line in lines if line.startswith("export ")]
    curls = [line for line in lines if line.startswith("curl ")]
    assert len(exports) == 2 and len(curls) >= 10
    for curl in curls:
        # -f: an HTTP error fails the command; the report's `> report.html` is dropped.
        checked = curl.replace("curl -s ", "curl -sSf -o /dev/null ", 1).split(" > ")[0]
        result = subprocess.run(
            ["bash", "-c", "\n".join([*exports, checked])], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, f"{curl}\n{result.stderr}"
