"""The demo shop: contract-shaped, realistic (long tails, seasonality, promotions, tastes), reproducible."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from shelfwise.ingest.contracts import CONTRACTS
from shelfwise.ingest.reader import TableFile
from shelfwise.ingest.validate import validate_chunk
from shelfwise_infra import spec
from shelfwise_local.cloud import free_port_pair
from shelfwise_local.demo import (
    CATALOG_COLUMNS,
    INTERACTION_COLUMNS,
    INVENTORY_COLUMNS,
    LOCATIONS,
    PROMOTION_COLUMNS,
    SALES_COLUMNS,
    generate_shop,
)
from shelfwise_local.demo_run import choose_demo_hyperparameters
from shelfwise_local.training import local_hyperparameters
from shelfwise_recommender.hyperparameters import read_hyperparameters

TODAY = date(2026, 3, 2)  # a Monday
YESTERDAY = TODAY - timedelta(days=1)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return generate_shop(tmp_path_factory.mktemp("shop"), seed=7, today=TODAY)


@pytest.fixture(scope="module")
def catalog(shop: dict[str, Path]) -> pd.DataFrame:
    return pd.read_csv(shop["catalog"], dtype={"item_id": str})


@pytest.fixture(scope="module")
def interactions(shop: dict[str, Path]) -> pd.DataFrame:
    frame = pd.read_csv(shop["interactions"], dtype={"user_id": str, "item_id": str})
    frame["ts"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame


@pytest.fixture(scope="module")
def sales(shop: dict[str, Path]) -> pd.DataFrame:
    return pd.read_csv(shop["sales"], dtype={"sku": str}, parse_dates=["date"])


@pytest.fixture(scope="module")
def inventory(shop: dict[str, Path]) -> pd.DataFrame:
    return pd.read_csv(shop["inventory"], dtype={"sku": str})


def test_files_follow_the_contract_columns(shop: dict[str, Path]) -> None:
    assert set(shop) == {"catalog", "interactions", "sales", "inventory", "promotions"}
    assert shop["interactions"].read_bytes()[:2] == b"\x1f\x8b"  # gzip
    expected = {
        "catalog": CATALOG_COLUMNS,
        "interactions": INTERACTION_COLUMNS,
        "sales": SALES_COLUMNS,
        "inventory": INVENTORY_COLUMNS,
        "promotions": PROMOTION_COLUMNS,
    }
    for kind, columns in expected.items():
        assert tuple(pd.read_csv(shop[kind], nrows=1).columns) == columns, kind
        # Every column of the contract, in its order, but for optional ones the demo shop leaves out.
        contract = tuple(column.name for column in CONTRACTS[kind].columns)
        left_out = set(contract) - set(columns)
        assert tuple(name for name in contract if name in columns) == columns, kind
        assert not left_out & set(CONTRACTS[kind].required_columns), kind


def test_catalog_has_categories_brands_and_category_typical_prices(catalog: pd.DataFrame) -> None:
    assert len(catalog) == 3000
    assert catalog["item_id"].is_unique
    assert catalog["category"].nunique() == 12
    assert catalog.groupby("category")["brand"].nunique().min() >= 4
    assert (catalog["price"] > 0).all()
    medians = catalog.groupby("category")["price"].median()
    assert medians["electronics"] > 4 * medians["grocery"]
    # Log-normal within a category: a long right tail above the median.
    electronics = catalog.loc[catalog["category"] == "electronics", "price"]
    assert electronics.quantile(0.95) > 1.8 * electronics.median()


def test_interactions_cover_six_months_ending_yesterday(interactions: pd.DataFrame) -> None:
    days = interactions["ts"].dt.date
    assert days.max() == YESTERDAY
    assert days.min() == TODAY - timedelta(days=182)
    assert interactions["timestamp"].str.endswith("Z").all()


def test_funnel_is_about_ten_views_to_three_carts_to_one_purchase(interactions: pd.DataFrame) -> None:
    counts = interactions["event_type"].value_counts()
    assert set(counts.index) == {"view", "cart", "purchase", "rating"}
    assert 2.8 < counts["view"] / counts["cart"] < 3.9
    assert 2.4 < counts["cart"] / counts["purchase"] < 3.6
    assert 150_000 < len(interactions) < 600_000
    assert interactions["user_id"].nunique() == 5000


def test_values_follow_the_event_type(interactions: pd.DataFrame, catalog: pd.DataFrame) -> None:
    browse = interactions[interactions["event_type"].isin(["view", "cart"])]
    assert (browse["value"] == 1).all()
    ratings = interactions.loc[interactions["event_type"] == "rating", "value"]
    assert set(ratings.unique()) <= {1, 2, 3, 4, 5}
    purchases = interactions[interactions["event_type"] == "purchase"].merge(catalog, on="item_id")
    quantity = purchases["value"] / purchases["price"]
    assert np.allclose(quantity, np.round(quantity), atol=1e-6)
    assert quantity.round().between(1, 3).all()


def test_user_activity_and_item_popularity_are_long_tailed(interactions: pd.DataFrame) -> None:
    per_user = interactions.groupby("user_id").size().sort_values(ascending=False)
    assert per_user.iloc[: len(per_user) // 10].sum() / per_user.sum() > 0.35
    assert per_user.median() < per_user.mean()
    views = interactions[interactions["event_type"] == "view"].groupby("item_id").size()
    views = views.sort_values(ascending=False)
    assert views.iloc[: len(views) // 10].sum() / views.sum() > 0.4


def test_users_have_category_tastes_a_recommender_can_learn(
    interactions: pd.DataFrame, catalog: pd.DataFrame
) -> None:
    events = interactions.merge(catalog[["item_id", "category"]], on="item_id")
    sizes = events.groupby("user_id")["item_id"].transform("size")
    active = events[sizes >= 30]
    per_category = active.groupby(["user_id", "category"]).size()
    top_share = per_category.groupby(level=0).max() / per_category.groupby(level=0).sum()
    # Without tastes the favourite of 12 categories would hold about 1/6 of a user's events.
    assert top_share.mean() > 0.4
    # What a user buys comes from the categories they browse.
    views = events[events["event_type"] == "view"].groupby(["user_id", "category"]).size()
    buys = events[events["event_type"] == "purchase"].groupby(["user_id", "category"]).size()
    favourite = views.groupby(level=0).idxmax().map(lambda key: key[1])
    bought_favourite = buys.reset_index().assign(fav=lambda f: f["user_id"].map(favourite))
    share = (bought_favourite["category"] == bought_favourite["fav"]).mean()
    assert share > 0.3


def test_weekends_are_busier_and_traffic_grows(interactions: pd.DataFrame) -> None:
    daily = interactions.groupby(interactions["ts"].dt.date).size()
    weekday = pd.to_datetime(pd.Series(daily.index)).dt.weekday.to_numpy()
    assert daily[weekday >= 5].mean() > 1.15 * daily[weekday < 5].mean()
    first_month, last_month = daily.iloc[:28].mean(), daily.iloc[-28:].mean()
    assert last_month > first_month


def test_sales_cover_two_years_of_every_series(sales: pd.DataFrame) -> None:
    assert sales["sku"].nunique() == 400
    assert set(sales["location"]) == set(LOCATIONS)
    per_series = sales.groupby(["sku", "location"])["date"].agg(["min", "max", "nunique"])
    assert len(per_series) == 800
    assert (per_series["min"].dt.date == TODAY - timedelta(days=730)).all()
    assert (per_series["max"].dt.date == YESTERDAY).all()
    assert (per_series["nunique"] == 730).sum() == 799  # one series has an export gap
    assert (sales["units"] >= 0).all()
    assert (sales["units"] == sales["units"].round()).all()


def test_sales_have_one_gap_of_missing_days_and_one_row_sent_twice(sales: pd.DataFrame) -> None:
    days = sales.groupby(["sku", "location"])["date"].nunique()
    (gappy,) = days[days < 730].index
    assert days[gappy] == 720 and gappy[1] == "WH-NORTH"
    present = set(sales.loc[(sales["sku"] == gappy[0]) & (sales["location"] == gappy[1]), "date"].dt.date)
    missing = sorted({TODAY - timedelta(days=n) for n in range(1, 731)} - present)
    assert (missing[-1] - missing[0]).days == 9  # ten consecutive days, in the middle of the history
    assert missing[0] == TODAY - timedelta(days=365)

    repeated = sales[sales.duplicated(keep=False)]
    assert len(repeated) == 2 and repeated.index[1] == repeated.index[0] + 1  # resent right after
    assert not sales.drop_duplicates().duplicated(["sku", "location", "date"]).any()


def test_promotions_are_flagged_discounted_and_lift_sales(sales: pd.DataFrame) -> None:
    share = sales["promo"].mean()
    assert 0.03 < share < 0.2
    per_series = sales.groupby(["sku", "location", "promo"])["units"].mean().unstack()
    lifted = per_series.dropna()
    assert (lifted[True].sum() / lifted[False].sum()) > 1.4
    prices = sales.groupby(["sku", "promo"])["price"].mean().unstack().dropna()
    assert (prices[True] < prices[False]).all()


def test_sales_have_weekly_seasonality_and_slow_movers(sales: pd.DataFrame) -> None:
    weekday_mean = sales.groupby(sales["date"].dt.weekday)["units"].mean()
    assert weekday_mean[[5, 6]].mean() > 1.1 * weekday_mean[[0, 1, 2, 3]].mean()
    zero_share = (sales["units"] == 0).groupby([sales["sku"], sales["location"]]).mean()
    assert (zero_share > 0.5).sum() >= 40  # intermittent demand exists
    assert (zero_share < 0.05).sum() >= 200  # and so do fast movers


def test_inventory_positions_match_the_sales_series_but_for_one_each_way(
    inventory: pd.DataFrame, sales: pd.DataFrame, catalog: pd.DataFrame
) -> None:
    keys = set(map(tuple, inventory[["sku", "location"]].to_numpy()))
    sold = set(map(tuple, sales[["sku", "location"]].drop_duplicates().to_numpy()))
    (stocked_never_sold,) = keys - sold
    (sold_not_stocked,) = sold - keys
    assert stocked_never_sold[0] not in set(sales["sku"]) and stocked_never_sold[0] in set(catalog["item_id"])
    assert sold_not_stocked == (sorted(sales["sku"].unique())[-1], "WH-SOUTH")
    assert len(inventory) == 800 and not inventory.duplicated(["sku", "location"]).any()
    given = inventory["service_level"].dropna()
    assert given.between(0, 1, inclusive="neither").all()
    assert 0.1 < inventory["service_level"].isna().mean() < 0.3  # blank: the class default applies
    assert (inventory["moq"] % inventory["pack_size"] == 0).all()
    assert (inventory["pack_size"] >= 1).all()
    assert (inventory["lead_time_sd_days"] < inventory["lead_time_days"]).all()
    assert (inventory["unit_cost"] > 0).all()
    assert inventory["holding_cost_rate"].between(0.1, 0.4).all()


def test_planned_promotions_are_week_long_campaigns_of_best_sellers_in_the_next_four_weeks(
    shop: dict[str, Path], sales: pd.DataFrame
) -> None:
    planned = pd.read_csv(
        shop["promotions"], dtype={"sku": str, "location": str}, parse_dates=["start_date", "end_date"]
    )
    assert len(planned) == 4 and planned["sku"].is_unique
    # Sales end yesterday: every campaign lies within the 28 forecast days that start today.
    assert (planned["start_date"] >= pd.Timestamp(TODAY)).all()
    assert (planned["end_date"] <= pd.Timestamp(TODAY + timedelta(days=27))).all()
    assert ((planned["end_date"] - planned["start_date"]).dt.days == 6).all()
    assert (planned["discount_pct"] == 20).all()
    # Blank location = both warehouses, as the campaigns in the history; one is for WH-NORTH only.
    assert planned["location"].isna().sum() == 3 and set(planned["location"].dropna()) == {"WH-NORTH"}
    recent = sales[sales["date"] >= pd.Timestamp(TODAY - timedelta(days=90))].groupby("sku")["units"].sum()
    assert set(planned["sku"]) <= set(recent.sort_values(ascending=False).index[:15])
    # Like history's campaigns, where promotion days sell well above the rest.
    promo_mean = sales.loc[sales["sku"].isin(planned["sku"]) & sales["promo"], "units"].mean()
    plain_mean = sales.loc[sales["sku"].isin(planned["sku"]) & ~sales["promo"], "units"].mean()
    assert promo_mean > 1.4 * plain_mean


def test_every_row_passes_ingestion_validation(tmp_path: Path) -> None:
    small = generate_shop(tmp_path, seed=3, today=TODAY, n_items=400, n_users=300, n_skus=30, sales_days=90)
    for kind, path in small.items():
        contract = CONTRACTS[kind]
        for chunk in TableFile(path).chunks():
            validated = validate_chunk(contract, chunk)
            assert validated.rows_rejected == 0, (kind, validated.rejections.to_pylist()[:3])
            assert validated.valid.num_rows == validated.rows_total > 0


def test_without_data_issues_every_series_is_complete_and_stocked(tmp_path: Path) -> None:
    sizes = {"n_items": 300, "n_users": 200, "n_skus": 20, "sales_days": 60, "today": TODAY}
    clean = generate_shop(tmp_path / "clean", seed=5, data_issues=False, **sizes)
    messy = generate_shop(tmp_path / "messy", seed=5, **sizes)
    sales = pd.read_csv(clean["sales"], dtype={"sku": str})
    inventory = pd.read_csv(clean["inventory"], dtype={"sku": str})
    assert (sales.groupby(["sku", "location"]).size() == 60).all() and not sales.duplicated().any()
    assert inventory["service_level"].notna().all() and len(inventory) == 40
    # The issues are planted into the same shop, not a different one.
    assert clean["catalog"].read_bytes() == messy["catalog"].read_bytes()
    messy_sales = pd.read_csv(messy["sales"], dtype={"sku": str})
    assert len(messy_sales) == len(sales) - 10 + 1


def _digest(paths: dict[str, Path]) -> dict[str, str]:
    return {kind: hashlib.sha256(path.read_bytes()).hexdigest() for kind, path in paths.items()}


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    sizes = {"n_items": 300, "n_users": 200, "n_skus": 20, "sales_days": 60, "today": TODAY}
    first = _digest(generate_shop(tmp_path / "a", seed=11, **sizes))
    again = _digest(generate_shop(tmp_path / "b", seed=11, **sizes))
    other = _digest(generate_shop(tmp_path / "c", seed=12, **sizes))
    assert first == again
    assert all(first[kind] != other[kind] for kind in first)


def test_more_skus_than_items_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_skus"):
        generate_shop(tmp_path, n_items=10, n_skus=20)


# -- `make demo`: serving first, training in the background ----------------------------------------------

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_SECONDS = 600.0

# Stands in for the recommender job: says it is fitting, then waits until the test lets it finish, so the test
# knows the job is running while it checks what the demo printed.
SLOW_RECOMMENDER = """
import os, sys, time
from pathlib import Path

print("[step 01] fitting (held until the test releases it)", flush=True)
while not Path(os.environ["DEMO_TEST_GATE"]).exists():
    time.sleep(0.2)
Path(os.environ["SM_OUTPUT_FAILURE"]).write_text("released by the test")
sys.exit(1)
"""


def test_make_demo_and_make_up_pass_the_port() -> None:
    for target, command in (("demo", "shelfwise demo --port 3999"), ("up", "shelfwise local up --port 3999")):
        # --no-print-directory: under `make test` this is a sub-make, which would add directory lines.
        dry_run = subprocess.run(
            ["make", "--no-print-directory", "-n", target, "PORT=3999"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        assert command in dry_run.stdout.splitlines()[-1], dry_run.stdout


def _wait_for(path: Path, text: str, process: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        if text in content:
            return content
        assert process.poll() is None, f"the demo exited early:\n{content}"
        time.sleep(0.5)
    raise AssertionError(f"no {text!r} within {timeout:g} s:\n{content}")


@pytest.mark.integration
def test_the_demo_serves_working_curl_lines_while_the_recommender_still_trains(tmp_path: Path) -> None:
    training_dir = tmp_path / "training"
    for job in ("recommender", "chat"):
        (training_dir / job).mkdir(parents=True)
        (training_dir / job / "train.py").write_text(SLOW_RECOMMENDER)
    gate = tmp_path / "release"
    out, err = tmp_path / "demo.out", tmp_path / "demo.err"
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    environment.update({"PYTHONUNBUFFERED": "1", "DEMO_TEST_GATE": str(gate)})
    port = free_port_pair()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        demo = subprocess.Popen(
            [
                *(sys.executable, "-m", "shelfwise_local.cli", "demo", "--port", str(port)),
                *("--state-dir", str(tmp_path / "state"), "--training-dir", str(training_dir)),
            ],
            cwd=tmp_path,
            env=environment,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    try:
        printed = _wait_for(out, "[demo] recommender training: started", demo, STARTUP_TIMEOUT_SECONDS)
        _wait_for(err, "held until the test releases it", demo, 180.0)
        # The calls to try were printed before the recommender job ran, and it has not finished.
        assert printed.index("curl -s") < printed.index("[demo] recommender training: started")
        assert "recommender training: done" not in out.read_text(encoding="utf-8")
        assert "[demo] forecast: succeeded" in printed

        lines = [line.strip() for line in printed.splitlines()]
        exports = [line for line in lines if line.startswith("export ")]
        curls = [line for line in lines if line.startswith("curl ")]
        assert len(exports) == 2 and len(curls) >= 10
        for curl in curls:
            # -f: an HTTP error fails the command; the report's `> report.html` is dropped.
            checked = curl.replace("curl -s ", "curl -sSf ", 1).split(" > ")[0]
            result = subprocess.run(
                ["bash", "-c", "\n".join([*exports, checked])], capture_output=True, text=True, timeout=60
            )
            assert result.returncode == 0, f"{curl}\n{result.stderr}"
            if "/recommendations" in curl:
                answer = json.loads(result.stdout)
                # No recommender version yet: the popular items answer.
                assert answer["model_version"] is None and answer["items"], answer
    finally:
        gate.touch()
        os.killpg(demo.pid, signal.SIGKILL)
        demo.wait(timeout=30)


def test_the_demo_trains_the_fast_recommender_unless_the_state_dir_chose_one(tmp_path: Path) -> None:
    job = spec.training_job("recommender")
    choose_demo_hyperparameters(tmp_path)
    chosen = local_hyperparameters(tmp_path, job)
    assert chosen == {"model": "ease_lowrank"}
    (tmp_path / "chosen.json").write_text(json.dumps(chosen), encoding="utf-8")
    assert read_hyperparameters(tmp_path / "chosen.json").model == "ease_lowrank"

    own = tmp_path / "own"
    (own / "hyperparameters").mkdir(parents=True)
    (own / "hyperparameters" / "recommender.json").write_text('{"half_life_days": 0}', encoding="utf-8")
    choose_demo_hyperparameters(own)
    assert local_hyperparameters(own, job) == {"half_life_days": "0"}
