"""The forecast workflow end to end against moto: ingested sales and inventory with every bad-input case in,
plan / shard / finalize through the real handler, then the plan, forecasts and report served by the API."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import numpy as np
import pytest
from moto_platform import local_platform
from shelfwise.forecast.replenishment import DEFAULT_SERVICE_LEVELS
from shelfwise.ingest.pipeline import IngestTargets, ingest_object
from shelfwise_infra import spec
from shelfwise_local.functions import context_for, load_handler
from shelfwise_local.routing import proxy_response_to_http

pytestmark = pytest.mark.integration

BUCKET = spec.DATA_BUCKET.local_name
AS_OF = dt.date(2025, 5, 31)
PLAN_DATE = AS_OF + dt.timedelta(days=1)
HORIZON = 7
TARGETS = IngestTargets(
    data_bucket=BUCKET,
    catalog_table=spec.CATALOG_TABLE.local_name,
    user_activity_table=spec.USER_ACTIVITY_TABLE.local_name,
)
INVENTORY_HEADER = (
    "sku,location,on_hand,on_order,lead_time_days,lead_time_sd_days,unit_cost,order_cost,"
    "holding_cost_rate,service_level,moq,pack_size"
)


def days_before(n: int) -> dt.date:
    return AS_OF - dt.timedelta(days=n)


def sales_csv() -> str:
    rng = np.random.default_rng(3)
    lines = ["sku,location,date,units,promo"]
    weekly = np.array([0.6, 0.8, 0.9, 1.0, 1.3, 1.8, 0.6])
    for location, level in (("north", 10.0), ("south", 4.0)):
        for n in range(100):
            day = days_before(99 - n)
            lines.append(f"steady,{location},{day},{rng.poisson(level * weekly[day.weekday()])},false")
    for n in range(100):  # a three-week hole in the middle: filled with zero sales
        if not 40 <= n < 61:
            lines.append(f"gappy,north,{days_before(99 - n)},{rng.poisson(5)},false")
    for n in range(60):  # sold, but nobody keeps stock records for it
        lines.append(f"no-stock,north,{days_before(59 - n)},{rng.poisson(3)},false")
    lines.append(f"single,north,{AS_OF},4,false")
    lines.extend(f"zeros,north,{days_before(29 - n)},0,false" for n in range(30))
    return "\n".join(lines) + "\n"


def corrections_csv() -> str:
    # A second delivery repeating two days of `steady` (duplicates), plus rows ingestion must refuse.
    return (
        "sku,location,date,units\n"
        f"steady,north,{days_before(3)},2\n"
        f"steady,north,{days_before(2)},1\n"
        f"returns,north,{days_before(1)},-3\n"
        f"typo,north,{days_before(1)},seven\n"
    )


def inventory_csv() -> str:
    rows = [
        "steady,north,5,0,7,1.5,4.0,30,0.25,0.95,12,6",  # 5 on hand for ~70 over lead time: order
        "steady,south,500,0,7,1.5,4.0,30,0.25,0.95,1,1",  # plenty: no order
        "gappy,north,10,20,5,1,2.0,20,0.2,,1,1",  # no service level: its ABC/XYZ class's applies
        "single,north,0,0,3,0.5,1.0,10,0.2,0.9,1,1",
        "zeros,north,3,0,3,0.5,1.0,10,0.2,0.9,1,1",
        "ghost,north,8,0,3,0.5,1.0,10,0.2,0.9,1,1",  # stocked, never sold
        "steady,north,5,0,7,1.5,4.0,30,0.25,0.95,12,6",  # the same record twice
    ]
    return INVENTORY_HEADER + "\n" + "\n".join(rows) + "\n"


# Titles for two of the SKUs; the others have none and show their code alone.
CATALOG_CSV = (
    "item_id,title,category,brand,price\n"
    'steady,"Spaghetti n.5, 500 g",pasta,Acme,1.20\n'
    "gappy,Fusilli 1 kg,pasta,Acme,2.10\n"
)


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with local_platform(monkeypatch, "forecast"):
        s3 = boto3.client("s3")
        for key, body in (
            ("incoming/sales/sales.csv", sales_csv()),
            ("incoming/sales/corrections.csv", corrections_csv()),
            ("incoming/inventory/inventory.csv", inventory_csv()),
            ("incoming/catalog/catalog.csv", CATALOG_CSV),
        ):
            s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode())
            ingest_object(BUCKET, key, s3.head_object(Bucket=BUCKET, Key=key)["ETag"], TARGETS, s3_client=s3)
        yield s3


def forecast(event: dict[str, Any]) -> dict[str, Any]:
    return load_handler("forecast")(event, context_for(spec.function("forecast")))


def api(event: dict[str, Any]) -> dict[str, Any]:
    return load_handler("forecast_api")(event, context_for(spec.function("forecast_api")))


def load_event(folder: str, name: str) -> dict[str, Any]:
    return json.loads((spec.EVENTS_DIR / folder / name).read_text(encoding="utf-8"))


def plan_event(run_id: str, **detail: str) -> dict[str, Any]:
    event = load_event("forecast", "plan-step.json")
    event["run_id"] = run_id
    event["scheduled_event"]["detail"] = {"horizon": str(HORIZON), "shard_size": "2", **detail}
    return event


def run_workflow(run_id: str, *, fail_shards: frozenset[int] = frozenset(), **detail: str) -> dict[str, Any]:
    """What the state machine does: plan, every shard (a failed one as `{"shard", "error"}`), finalize."""
    plan = forecast(plan_event(run_id, **detail))
    results = []
    for shard in plan["shards"]:
        if shard["index"] in fail_shards:
            results.append({"shard": shard, "error": "Lambda.Unknown: out of memory"})
        else:
            results.append(forecast({"step": "shard", "run_id": run_id, "shard": shard}))
    return forecast({"step": "finalize", "run_id": run_id, "plan": plan, "results": results})


def get_request(name: str, *, query: dict[str, str] | None, path: str | None = None) -> dict[str, Any]:
    event = copy.deepcopy(load_event("forecast_api", name))
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} if query else None
    if path is not None:
        event["path"] = f"/v1/forecasts/{path}"
        event["pathParameters"] = {"sku": path}
    return event


def body(response: dict[str, Any]) -> dict[str, Any]:
    return json.loads(response["body"])


def read_json(s3: Any, key: str) -> Any:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


@pytest.fixture
def finished_run(cloud: Any) -> tuple[Any, dict[str, Any]]:
    return cloud, run_workflow("run-1")


def test_run_plans_every_series_and_inventory_row_and_reports_each_data_issue(finished_run) -> None:
    s3, summary = finished_run

    assert summary["as_of"] == AS_OF.isoformat() and summary["plan_date"] == PLAN_DATE.isoformat()
    assert summary["series"] == 6 and summary["failed_shards"] == []
    issues = summary["data_issues"]
    assert issues["gaps_filled_with_zero"]["examples"] == ["gappy@north"]
    assert issues["gaps_filled_with_zero"]["days"] == 21
    assert issues["duplicate_rows_summed"] == {"count": 1, "examples": ["steady@north"], "rows": 2}
    assert issues["single_day_history"]["examples"] == ["single@north"]
    assert issues["all_zero_sales"]["examples"] == ["zeros@north"]
    assert issues["inventory_without_sales"]["examples"] == ["ghost@north"]
    assert issues["sales_without_inventory"]["examples"] == ["no-stock@north"]
    assert issues["duplicate_inventory_rows"]["examples"] == ["steady@north"]
    rejected = issues["rejected_at_ingestion"]
    assert rejected["rows"] == 2 and all(problem.startswith("units") for problem in rejected["problems"])

    plan = read_json(s3, "plans/latest.json")
    assert plan["plan_date"] == PLAN_DATE.isoformat() and plan["run_id"] == "run-1"
    csv_lines = s3.get_object(Bucket=BUCKET, Key=f"plans/{PLAN_DATE}/plan.csv")["Body"].read().decode()
    assert len(csv_lines.strip().splitlines()) == 1 + 7  # header + 6 series + the stocked-but-unsold one
    stored = read_json(s3, f"plans/{PLAN_DATE}/summary.json")
    assert stored["plan"] == summary["plan"] and summary["plan"]["lines"] == 7
    assert summary["service_levels"] == {"from_inventory_row": 4, "class_default": 1}


def test_a_blank_service_level_takes_the_class_default_and_a_given_one_overrides_it(finished_run) -> None:
    lines = {
        (item["sku"], item["location"]): item
        for item in body(api(get_request("get-plan-latest.json", query=None)))["items"]
    }

    gappy = lines[("gappy", "north")]
    assert gappy["service_level"] == DEFAULT_SERVICE_LEVELS[gappy["abc"] + gappy["xyz"]]
    assert f"service (class {gappy['abc']}{gappy['xyz']} default)" in gappy["reason"]
    steady = lines[("steady", "north")]
    assert steady["service_level"] == 0.95
    assert "at 95.0% service (set on the inventory row, overriding the class" in steady["reason"]


def test_plan_api_serves_the_latest_plan_with_orders_and_reasons(finished_run) -> None:
    response = api(get_request("get-plan-latest.json", query=None))

    assert response["statusCode"] == 200
    plan = body(response)
    assert plan["date"] == PLAN_DATE.isoformat()
    lines = {(item["sku"], item["location"]): item for item in plan["items"]}
    assert len(lines) == 7
    short_of_stock = lines[("steady", "north")]
    assert short_of_stock["order_qty"] > 0 and short_of_stock["order_qty"] % 6 == 0
    assert short_of_stock["order_qty"] >= 12 and short_of_stock["abc"] in {"A", "B", "C"}
    assert short_of_stock["reorder_point"] > short_of_stock["inventory_position"] == 5
    assert short_of_stock["reason"].startswith("order ")
    assert lines[("steady", "south")]["order_qty"] == 0
    assert lines[("zeros", "north")]["order_qty"] == 0
    assert lines[("ghost", "north")]["order_qty"] is None
    assert "no sales history" in lines[("ghost", "north")]["reason"]
    assert "no inventory record" in lines[("no-stock", "north")]["reason"]


def test_plan_api_pages_and_rejects_bad_and_unknown_dates(finished_run) -> None:
    first = body(
        api(get_request("get-plan-by-date.json", query={"date": PLAN_DATE.isoformat(), "limit": "4"}))
    )
    assert len(first["items"]) == 4 and first["next_cursor"]
    rest = body(
        api(
            get_request(
                "get-plan-by-date.json",
                query={"date": PLAN_DATE.isoformat(), "limit": "4", "cursor": first["next_cursor"]},
            )
        )
    )
    assert len(rest["items"]) == 3
    assert {i["sku"] for i in first["items"]}.isdisjoint({i["sku"] for i in rest["items"]} - {"steady"})

    bad = api(get_request("get-plan-bad-date.json", query={"date": "2025-13-40"}))
    assert bad["statusCode"] == 422
    assert body(bad)["error"]["details"][0]["field"] == "query.date"
    unknown = api(get_request("get-plan-by-date.json", query={"date": "2020-01-01"}))
    assert unknown["statusCode"] == 404 and "2020-01-01" in body(unknown)["error"]["message"]


def test_forecast_api_serves_points_from_the_day_after_the_last_observation(finished_run) -> None:
    response = api(get_request("get-forecast.json", query={"location": "north"}, path="steady"))

    assert response["statusCode"] == 200
    served = body(response)
    assert (served["sku"], served["location"]) == ("steady", "north")
    assert served["model"] and served["model"] != "none"
    dates = [point["date"] for point in served["points"]]
    assert dates[0] == PLAN_DATE.isoformat() and len(dates) == HORIZON
    for point in served["points"]:
        assert 0 <= point["lo_95"] <= point["lo_80"] <= point["mean"] <= point["hi_80"] <= point["hi_95"]
        assert point["expected"] >= 0

    single = body(api(get_request("get-forecast.json", query=None, path="single")))
    assert single["location"] == "north" and single["points"][0]["mean"] > 0
    zeros = body(api(get_request("get-forecast.json", query=None, path="zeros")))
    assert {point["hi_95"] for point in zeros["points"]} == {0.0}


def test_forecast_api_asks_for_a_location_when_a_sku_has_several(finished_run) -> None:
    ambiguous = api(get_request("get-forecast-ambiguous-location.json", query=None, path="steady"))
    assert ambiguous["statusCode"] == 422
    detail = body(ambiguous)["error"]["details"][0]
    assert detail["field"] == "query.location" and "north, south" in detail["message"]

    wrong = api(get_request("get-forecast.json", query={"location": "east"}, path="steady"))
    assert wrong["statusCode"] == 404 and "north, south" in body(wrong)["error"]["message"]
    unknown = api(get_request("get-forecast.json", query=None, path="no-such-sku"))
    assert unknown["statusCode"] == 404


def test_report_is_served_as_html_with_plots_and_the_plan(finished_run) -> None:
    response = api(get_request("get-report.json", query=None))

    assert response["statusCode"] == 200
    content_type = (response.get("multiValueHeaders") or {}).get("Content-Type") or [
        (response.get("headers") or {}).get("Content-Type")
    ]
    assert content_type[0].startswith("text/html")
    html = response["body"]
    assert html.startswith("<!doctype html>") and "<script" not in html
    assert html.count("<svg") >= 3 and "steady" in html and "ghost" in html
    plan = body(api(get_request("get-plan-latest.json", query=None)))
    ordering = [item for item in plan["items"] if (item["order_qty"] or 0) > 0]
    assert ordering, "the fixture has lines that need an order"
    for item in ordering:  # every line that needs an order has its plot
        assert f"<b>{item['sku']} @ {item['location']}</b> " in html
    assert f"All {len(ordering)} lines that need an order are plotted." in html
    missing = api(get_request("get-report.json", query={"date": "2020-01-01"}))
    assert missing["statusCode"] == 404

    served = proxy_response_to_http(response)  # what the local gateway sends to the browser
    assert served.status == 200 and served.body.decode("utf-8") == html
    assert ("Content-Type", "text/html; charset=utf-8") in served.headers


def test_the_report_plot_cap_comes_from_the_schedule_and_the_report_counts_what_it_left_out(
    cloud: Any,
) -> None:
    summary = run_workflow("run-capped", report_max_plots="0")

    html = api(get_request("get-report.json", query=None))["body"]
    orders = summary["plan"]["needing_order"]
    assert orders > 0 and "<svg" not in html
    assert f"{orders} lines need an order; 0 are plotted" in html
    assert f"{orders} are left out: this report plots at most 0 series" in html


def test_a_failed_shard_is_reported_and_its_series_stay_in_the_plan(cloud: Any) -> None:
    summary = run_workflow("run-failing", fail_shards=frozenset({0}))

    assert summary["failed_shards"][0]["shard"] == 0
    assert "out of memory" in summary["failed_shards"][0]["error"]
    plan = body(api(get_request("get-plan-latest.json", query=None)))
    failed = [item for item in plan["items"] if item["reason"].startswith("no forecast: shard 0 failed")]
    assert len(failed) == summary["failed_shards"][0]["series"] == 2
    assert all(item["order_qty"] is None for item in failed)
    assert len(plan["items"]) == 7


def test_a_later_run_scores_the_earlier_runs_forecasts_against_new_sales(cloud: Any) -> None:
    run_workflow("run-early", as_of=days_before(5).isoformat())

    summary = run_workflow("run-late")

    accuracy = summary["accuracy"]
    assert [entry["plan_date"] for entry in accuracy] == [days_before(4).isoformat()]
    assert accuracy[0]["days"] == 5 and accuracy[0]["actual_units"] > 0
    assert 0 <= accuracy[0]["coverage_95"] <= 1 and accuracy[0]["wape"] is not None


def test_invalid_schedule_settings_are_rejected_with_the_field_named(cloud: Any) -> None:
    result = forecast(plan_event("run-bad", horizon="soon"))

    assert result["status"] == "rejected" and result["shards"] == []
    assert result["errors"][0]["field"] == "scheduled_event.detail.horizon"
    passed_on = forecast({"step": "finalize", "run_id": "run-bad", "plan": result, "results": []})
    assert passed_on["status"] == "rejected"


def test_every_shard_failing_still_yields_a_plan_that_says_why(cloud: Any) -> None:
    summary = run_workflow("run-all-failed", fail_shards=frozenset({0, 1, 2}))

    assert len(summary["failed_shards"]) == 3 and summary["series_forecast"] == 0
    plan = body(api(get_request("get-plan-latest.json", query=None)))
    reasons = {(item["sku"], item["location"]): item["reason"] for item in plan["items"]}
    assert len(reasons) == 7
    assert all(
        reason.startswith("no forecast: shard") for key, reason in reasons.items() if key[0] != "ghost"
    )
    assert api(get_request("get-report.json", query=None))["statusCode"] == 200


def test_a_shop_without_sales_gets_a_plan_of_its_inventory_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    with local_platform(monkeypatch, "forecast"):
        s3 = boto3.client("s3")
        key = "incoming/inventory/inventory.csv"
        s3.put_object(Bucket=BUCKET, Key=key, Body=inventory_csv().encode())
        ingest_object(BUCKET, key, s3.head_object(Bucket=BUCKET, Key=key)["ETag"], TARGETS, s3_client=s3)

        summary = run_workflow("run-empty")

        assert summary["shards"] == 0 and summary["series"] == 0
        assert summary["data_issues"]["inventory_without_sales"]["count"] == 6
        plan = summary["plan"]
        assert {k: plan[k] for k in ("lines", "needing_order", "order_units", "not_planned")} == {
            "lines": 6, "needing_order": 0, "order_units": 0, "not_planned": 6
        }  # fmt: skip
        assert plan["order_value"] == 0.0 and plan["currency"] == "EUR"


@pytest.mark.parametrize("cursor", ["garbage", "steady#nowhere", "#", "steady#", "", "x" * 300])
def test_a_cursor_the_plan_did_not_hand_out_is_a_400(finished_run, cursor: str) -> None:
    response = api(
        get_request("get-plan-by-date.json", query={"date": PLAN_DATE.isoformat(), "cursor": cursor})
    )
    assert response["statusCode"] == 400
    error = body(response)["error"]
    assert (error["code"], error["details"][0]["field"]) == ("invalid_cursor", "query.cursor")
    assert error["request_id"]


def test_plan_report_api_and_workbook_show_titles_values_and_totals(finished_run) -> None:
    s3, summary = finished_run
    plan = body(api(get_request("get-plan-latest.json", query=None)))
    by_key = {(item["sku"], item["location"]): item for item in plan["items"]}
    steady = by_key[("steady", "north")]
    assert steady["title"] == "Spaghetti n.5, 500 g" and by_key[("ghost", "north")]["title"] is None
    assert steady["order_qty"] > 0 and steady["order_qty"] == int(steady["order_qty"])
    assert steady["order_value"] == pytest.approx(steady["order_qty"] * 4.0)
    totals = plan["totals"]
    ordered = [item for item in plan["items"] if (item["order_qty"] or 0) > 0]
    assert totals["currency"] == "EUR" and totals["needing_order"] == len(ordered)
    assert totals["order_value"] == pytest.approx(sum(item["order_value"] for item in ordered))
    north = [item for item in ordered if item["location"] == "north"]
    assert totals["by_location"]["north"]["order_units"] == sum(item["order_qty"] for item in north)
    assert summary["plan"]["order_value"] == totals["order_value"]

    forecast_answer = body(api(get_request("get-forecast.json", query={"location": "north"}, path="steady")))
    assert forecast_answer["title"] == "Spaghetti n.5, 500 g"

    html = api(get_request("get-report.json", query=None))["body"]
    assert "Spaghetti n.5, 500 g" in html and "Orders to place" in html
    assert f"{totals['order_value']:,.2f}" in html and "order value (EUR)" in html
    ticks = re.findall(r"text-anchor='middle'>(\d{1,2}) ([A-Z][a-z]{2})</text>", html)
    assert {month for _, month in ticks} >= {PLAN_DATE.strftime("%b")}  # the time axis is dated
    assert f"<td>{steady['order_qty']:,.0f}</td>" in html  # whole units, no trailing .0

    from openpyxl import load_workbook

    key = f"plans/{PLAN_DATE.isoformat()}/plan.xlsx"
    workbook = load_workbook(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()))
    rows = list(workbook["Plan"].iter_rows(values_only=True))
    assert rows[0][:6] == ("SKU", "Title", "Location", "Order qty", "Unit cost (EUR)", "Order value (EUR)")
    assert rows[1][:4] == ("steady", "Spaghetti n.5, 500 g", "north", steady["order_qty"])
    last = list(workbook["Totals"].iter_rows(values_only=True))[-1]
    assert last[0] == "All locations" and last[4] == pytest.approx(totals["order_value"])


def test_currency_and_days_of_supply_come_from_the_deployment_and_are_reported(
    cloud: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHELFWISE_CURRENCY", "usd")
    monkeypatch.setenv("SHELFWISE_MAX_DAYS_OF_SUPPLY", "5")
    summary = run_workflow("run-settings")
    assert summary["settings"]["currency"] == "USD" and summary["settings"]["max_days_of_supply"] == 5
    plan = body(api(get_request("get-plan-latest.json", query=None)))
    assert plan["totals"]["currency"] == "USD"
    steady = next(i for i in plan["items"] if (i["sku"], i["location"]) == ("steady", "north"))
    # 5 days x ~10 units/day is below what the reorder point needs: the cap is named, and overruled.
    assert "capped at 5 days of supply" in steady["reason"]
    assert "raised to what the reorder point needs" in steady["reason"]
    html = api(get_request("get-report.json", query=None))["body"]
    assert "order value (USD)" in html

    monkeypatch.setenv("SHELFWISE_CURRENCY", "dollars")
    with pytest.raises(ValueError, match="SHELFWISE_CURRENCY"):
        run_workflow("run-bad-currency")


def test_a_shelf_life_from_the_inventory_file_caps_the_order_and_a_bad_one_is_rejected(cloud: Any) -> None:
    # A newer stock file for `steady@north` with a shelf life far shorter than the 90-day cap, and a row whose
    # shelf life is not a positive number of days.
    key = "incoming/inventory/with-shelf-life.csv"
    csv = (
        INVENTORY_HEADER + ",shelf_life_days\n"
        "steady,north,5,0,7,1.5,4.0,30,0.25,0.95,1,1,14\n"
        "gappy,north,10,20,5,1,2.0,20,0.2,,1,1,-2\n"
    )
    cloud.put_object(Bucket=BUCKET, Key=key, Body=csv.encode())
    etag = cloud.head_object(Bucket=BUCKET, Key=key)["ETag"]
    assert ingest_object(BUCKET, key, etag, TARGETS, s3_client=cloud).rows_rejected == 1
    report = cloud.list_objects_v2(Bucket=BUCKET, Prefix="rejected/inventory/")["Contents"]
    rejections = cloud.get_object(Bucket=BUCKET, Key=report[0]["Key"])["Body"].read().decode()
    assert "shelf_life_days" in rejections

    run_workflow("run-shelf-life")
    plan = body(api(get_request("get-plan-latest.json", query=None)))
    steady = next(i for i in plan["items"] if (i["sku"], i["location"]) == ("steady", "north"))
    assert "14 days of shelf life" in steady["reason"]
