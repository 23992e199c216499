"""Planned promotions through the forecast workflow against moto: a promotions file is ingested, the run puts
its days into the forecast, the API flags them and the report shades them; unusable campaigns are counted."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import numpy as np
import pyarrow.parquet as pq
import pytest
from moto_platform import local_platform
from shelfwise.ingest.pipeline import IngestTargets, ingest_object
from shelfwise_infra import spec
from shelfwise_local.functions import context_for, load_handler

pytestmark = pytest.mark.integration

BUCKET = spec.DATA_BUCKET.local_name
AS_OF = dt.date(2025, 5, 31)
HORIZON = 14
UPLIFT = 2.0
TARGETS = IngestTargets(
    data_bucket=BUCKET,
    catalog_table=spec.CATALOG_TABLE.local_name,
    user_activity_table=spec.USER_ACTIVITY_TABLE.local_name,
)
INVENTORY = (
    "sku,location,on_hand,on_order,lead_time_days,lead_time_sd_days,unit_cost,order_cost,holding_cost_rate,"
    "service_level,moq,pack_size\n"
    "fizz,north,40,0,5,1,2.0,20,0.2,0.95,1,1\n"
    "fizz,south,40,0,5,1,2.0,20,0.2,0.95,1,1\n"
)


def forecast_day(n: int) -> dt.date:
    return AS_OF + dt.timedelta(days=n)


# Forecast days 3-5 are planned promotion days; days 10-12 are the same weekdays a week later, without.
PROMO_DAYS = [forecast_day(n) for n in (3, 4, 5)]
SAME_WEEKDAYS_WITHOUT = [forecast_day(n) for n in (10, 11, 12)]


def sales_csv() -> str:
    """120 days of a weekly pattern; a week-long promotion every month sold about twice the usual."""
    rng = np.random.default_rng(5)
    weekly = np.array([0.8, 0.9, 0.9, 1.0, 1.2, 1.4, 0.8])
    lines = ["sku,location,date,units,promo"]
    for location, level in (("north", 12.0), ("south", 6.0)):
        for n in range(120):
            day = AS_OF - dt.timedelta(days=119 - n)
            promo = n % 30 < 7
            mean = level * weekly[day.weekday()] * (UPLIFT if promo else 1.0)
            lines.append(f"fizz,{location},{day},{rng.poisson(mean)},{str(promo).lower()}")
    return "\n".join(lines) + "\n"


def promotions_csv() -> str:
    return (
        "sku,location,start_date,end_date,discount_pct\n"
        f"fizz,,{PROMO_DAYS[0]},{PROMO_DAYS[1]},20\n"  # both locations
        f"fizz,north,{PROMO_DAYS[1]},{PROMO_DAYS[2]},25\n"  # overlaps the first at north
        f"ghost,,{forecast_day(1)},{forecast_day(7)},10\n"  # a SKU nobody sells
        f"fizz,east,{forecast_day(1)},{forecast_day(2)},10\n"  # a location the SKU is not sold at
        f"fizz,north,{forecast_day(9)},{forecast_day(2)},10\n"  # end before start: rejected at ingestion
    )


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with local_platform(monkeypatch, "forecast"):
        s3 = boto3.client("s3")
        manifests = {}
        for kind, body in (
            ("sales", sales_csv()),
            ("inventory", INVENTORY),
            ("promotions", promotions_csv()),
        ):
            key = f"incoming/{kind}/{kind}.csv"
            s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode())
            etag = s3.head_object(Bucket=BUCKET, Key=key)["ETag"]
            manifests[kind] = ingest_object(BUCKET, key, etag, TARGETS, s3_client=s3)
        promotions = manifests["promotions"]
        assert (promotions.rows_landed, promotions.rows_rejected) == (4, 1)
        yield s3


def forecast(event: dict[str, Any]) -> dict[str, Any]:
    return load_handler("forecast")(event, context_for(spec.function("forecast")))


def run_workflow(run_id: str) -> dict[str, Any]:
    event = json.loads((spec.EVENTS_DIR / "forecast" / "plan-step.json").read_text(encoding="utf-8"))
    event["run_id"] = run_id
    event["scheduled_event"]["detail"] = {"horizon": str(HORIZON), "shard_size": "1"}
    plan = forecast(event)
    results = [forecast({"step": "shard", "run_id": run_id, "shard": shard}) for shard in plan["shards"]]
    return forecast({"step": "finalize", "run_id": run_id, "plan": plan, "results": results})


def get_forecast(location: str) -> dict[str, Any]:
    event = json.loads((spec.EVENTS_DIR / "forecast_api" / "get-forecast.json").read_text(encoding="utf-8"))
    event = copy.deepcopy(event)
    event["path"], event["pathParameters"] = "/v1/forecasts/fizz", {"sku": "fizz"}
    event["queryStringParameters"] = {"location": location}
    event["multiValueQueryStringParameters"] = {"location": [location]}
    response = load_handler("forecast_api")(event, context_for(spec.function("forecast_api")))
    assert response["statusCode"] == 200, response
    return json.loads(response["body"])


def test_planned_promotion_days_get_the_uplift_and_are_flagged(cloud: Any) -> None:
    summary = run_workflow("promo-run")

    assert summary["promotions"] == {"series_with_promo_days": 2, "promo_days": 5}
    unknown = summary["data_issues"]["promotions_for_unknown_series"]
    assert unknown["count"] == 2 and unknown["examples"] == ["fizz@east", "ghost"]
    # North has both campaigns (days 3-4 and 4-5, day 4 once); south only the one without a location.
    for location, days in (("north", PROMO_DAYS), ("south", PROMO_DAYS[:2])):
        points = {point["date"]: point for point in get_forecast(location)["points"]}
        assert len(points) == HORIZON
        flagged = sorted(date for date, point in points.items() if point["promo"])
        assert flagged == [day.isoformat() for day in days]
        for promo_day, plain_day in zip(days, SAME_WEEKDAYS_WITHOUT, strict=False):
            promo, plain = points[promo_day.isoformat()], points[plain_day.isoformat()]
            assert promo["mean"] > 1.4 * plain["mean"], (location, promo, plain)
            assert promo["hi_95"] > plain["hi_95"]

    report = (
        cloud.get_object(Bucket=BUCKET, Key=f"plans/{forecast_day(1)}/report.html")["Body"].read().decode()
    )
    assert "class='p'" in report and "planned promotions" in report


def test_without_a_promotions_file_no_day_is_flagged(cloud: Any) -> None:
    for key in [
        obj["Key"] for obj in cloud.list_objects_v2(Bucket=BUCKET, Prefix="curated/promotions/")["Contents"]
    ]:
        cloud.delete_object(Bucket=BUCKET, Key=key)
    summary = run_workflow("no-promo-run")

    assert summary["promotions"] == {"series_with_promo_days": 0, "promo_days": 0}
    assert "promotions_for_unknown_series" not in summary["data_issues"]
    points = get_forecast("north")["points"]
    assert not any(point["promo"] for point in points)
    means = {point["date"]: point["mean"] for point in points}
    for promo_day, plain_day in zip(PROMO_DAYS, SAME_WEEKDAYS_WITHOUT, strict=True):
        assert means[promo_day.isoformat()] < 1.3 * means[plain_day.isoformat()]
    # A week in four was promoted: the median day stays near the baseline, the expected day counts the
    # promotions to come, and the plan orders for those.
    assert all(point["expected"] > 1.05 * point["mean"] for point in points)
    plan = pq.read_table(
        io.BytesIO(
            cloud.get_object(Bucket=BUCKET, Key=f"plans/{forecast_day(1)}/plan.parquet")["Body"].read()
        )
    ).to_pylist()
    (north,) = [line for line in plan if line["location"] == "north"]
    lead_time_days = 5
    expected_lead_time_demand = sum(point["expected"] for point in points[:lead_time_days])
    assert north["lead_time_demand_mean"] == pytest.approx(expected_lead_time_demand, abs=0.01)


def test_shards_know_whether_the_retailer_sends_a_promotions_calendar(cloud: Any) -> None:
    # With a calendar, a shard without promotion days in it reads "no promotion" rather than "unknown".
    event = json.loads((spec.EVENTS_DIR / "forecast" / "plan-step.json").read_text(encoding="utf-8"))
    event["run_id"] = "calendar-flag"
    event["scheduled_event"]["detail"] = {"horizon": str(HORIZON), "shard_size": "1"}
    shards = forecast(event)["shards"]
    assert all(shard["promotion_calendar"] for shard in shards)
    for key in [
        obj["Key"] for obj in cloud.list_objects_v2(Bucket=BUCKET, Prefix="curated/promotions/")["Contents"]
    ]:
        cloud.delete_object(Bucket=BUCKET, Key=key)
    event["run_id"] = "no-calendar-flag"
    assert not any(shard["promotion_calendar"] for shard in forecast(event)["shards"])
