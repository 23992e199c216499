"""Forecasting a shard: dates, horizon, interval order, model choice, promotions and calibration."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from shelfwise.forecast.config import ForecastConfig
from shelfwise.forecast.engine import forecast_shard, forecasts_to_arrow
from shelfwise.forecast.replenishment import plan_replenishment
from shelfwise.forecast.schema import FORECAST_COLUMNS, FORECAST_SCHEMA

START = pd.Timestamp("2024-01-01")


def daily_sales(sku: str, units: np.ndarray, promo: np.ndarray | None = None) -> pd.DataFrame:
    dates = pd.date_range(START, periods=len(units), freq="D")
    return pd.DataFrame(
        {
            "sku": sku,
            "location": "store-1",
            "date": dates.date,
            "units": np.asarray(units, dtype=float),
            "promo": np.zeros(len(units), bool) if promo is None else promo,
        }
    )


def weekly_pattern(days: int, rng: np.random.Generator, level: float = 8.0) -> np.ndarray:
    shape = np.array([0.6, 0.8, 0.9, 1.0, 1.3, 1.8, 0.6])
    return rng.poisson(level * shape[np.arange(days) % 7]).astype(float)


@pytest.fixture(scope="module")
def mixed_shard() -> tuple[pd.DataFrame, pd.DataFrame, list[tuple[int, int]]]:
    rng = np.random.default_rng(7)
    data = pd.concat(
        [
            daily_sales("weekly", weekly_pattern(150, rng)),
            daily_sales("sparse", (rng.random(150) < 0.2) * rng.integers(1, 4, 150)),
            daily_sales("single", np.array([3.0])).assign(date=dt.date(2024, 5, 29)),
            daily_sales("nothing", np.zeros(20)),
        ]
    )
    calls: list[tuple[int, int]] = []
    forecasts, summary = forecast_shard(
        data, ForecastConfig(horizon=14), progress=lambda d, t: calls.append((d, t))
    )
    return forecasts, summary, calls


def test_every_series_gets_a_forecast_from_the_day_after_the_last_date(mixed_shard) -> None:
    forecasts, summary, _ = mixed_shard
    last_date = pd.Timestamp(START + pd.Timedelta(days=149))
    assert set(summary["unique_id"]) == {
        "weekly|store-1",
        "sparse|store-1",
        "single|store-1",
        "nothing|store-1",
    }
    for _, rows in forecasts.groupby("unique_id"):
        assert list(rows["ds"]) == list(pd.date_range(last_date + pd.Timedelta(days=1), periods=14))
    assert set(forecasts["unique_id"]) == set(summary["unique_id"])


def test_each_bound_is_the_mean_plus_one_spread_per_series_and_lows_are_cut_only_below_zero(
    mixed_shard,
) -> None:
    """Bounds are mean + q x dispersion x sqrt(mean + 1): per series and level one constant spread, read
    back here from the stored bounds; a low bound of 0 must be where that spread reaches below zero."""
    forecasts, _, _ = mixed_shard
    assert list(forecasts.columns) == list(FORECAST_COLUMNS)
    cut, kept = 0, 0
    upper_spread: dict[tuple[str, int], float] = {}
    for unique_id, rows in forecasts[forecasts["model"] != "zero"].groupby("unique_id"):
        mean = rows["mean"].to_numpy()
        root = np.sqrt(mean + 1.0)
        for level in (80, 95):
            upper = (rows[f"hi_{level}"].to_numpy() - mean) / root
            np.testing.assert_allclose(upper, upper[0], rtol=1e-9, err_msg=f"{unique_id} hi_{level}")
            upper_spread[(unique_id, level)] = float(upper[0])
            low = rows[f"lo_{level}"].to_numpy()
            positive = low > 0
            if not positive.any():
                cut += len(low)
                continue
            lower = (mean - low) / root
            np.testing.assert_allclose(lower[positive], lower[positive][0], rtol=1e-9)
            assert (mean[~positive] - lower[positive][0] * root[~positive] <= 1e-9).all(), unique_id
            cut, kept = cut + int((~positive).sum()), kept + int(positive.sum())
    assert cut and kept, "the shard should have both cut and uncut low bounds"
    # The weekly seller's pooled errors give a 95% spread strictly wider than its 80% one.
    assert upper_spread[("weekly|store-1", 95)] > upper_spread[("weekly|store-1", 80)] > 0
    nothing = forecasts[forecasts["unique_id"] == "nothing|store-1"]
    interval_columns = [column for column in FORECAST_COLUMNS if column.startswith(("lo_", "hi_"))]
    assert (nothing[["mean", *interval_columns]].to_numpy() == 0.0).all()


def test_summary_states_the_treatment_of_each_series(mixed_shard) -> None:
    _, summary, calls = mixed_shard
    by_id = summary.set_index("unique_id")
    assert by_id.loc["nothing|store-1", "model"] == "zero"
    assert by_id.loc["single|store-1", "model"] == "mean"
    assert by_id.loc["sparse|store-1", "demand_class"] in {"intermittent", "lumpy"}
    assert "cross-validation" in by_id.loc["weekly|store-1", "treatment"]
    assert by_id["treatment"].notna().all()
    assert calls[-1] == (4, 4)


def test_zero_series_forecasts_zero_with_empty_intervals(mixed_shard) -> None:
    forecasts, _, _ = mixed_shard
    nothing = forecasts[forecasts["unique_id"] == "nothing|store-1"]
    assert (nothing[["mean", "lo_95", "hi_95"]] == 0).all().all()


def test_cross_validation_picks_the_model_that_fits_the_planted_pattern() -> None:
    rng = np.random.default_rng(3)
    days = np.arange(160)
    seasonal = 50 + 40 * (days % 7 == 5) - 30 * (days % 7 == 6) + rng.normal(0, 0.5, 160)
    flat_noise = rng.poisson(20, 160).astype(float)
    data = pd.concat([daily_sales("seasonal", seasonal), daily_sales("flat", flat_noise)])
    config = ForecastConfig(smooth_models=("seasonal_naive", "mean"), horizon=7)
    _, summary = forecast_shard(data, config)
    chosen = summary.set_index("unique_id")["model"]
    assert chosen["seasonal|store-1"] == "seasonal_naive"
    assert chosen["flat|store-1"] == "mean"


def test_future_promotion_days_get_the_uplift_seen_in_history() -> None:
    rng = np.random.default_rng(11)
    promo = np.zeros(180, bool)
    promo[rng.choice(180, 40, replace=False)] = True
    units = rng.poisson(np.where(promo, 15.0, 5.0)).astype(float)
    data = daily_sales("pasta", units, promo)
    horizon_dates = pd.date_range(START + pd.Timedelta(days=180), periods=14)
    calendar = pd.DataFrame(
        {
            "sku": "pasta",
            "location": "store-1",
            "date": horizon_dates.date,
            "promo": [d.day % 2 == 0 for d in horizon_dates],
        }
    )
    forecasts, summary = forecast_shard(data, ForecastConfig(horizon=14), future_promo=calendar)
    with_promo = forecasts[[d.day % 2 == 0 for d in forecasts["ds"]]]["mean"].mean()
    without = forecasts[[d.day % 2 == 1 for d in forecasts["ds"]]]["mean"].mean()
    assert 2.0 < with_promo / without < 4.0
    assert summary["future_promo_days"].iloc[0] == 7
    _, no_calendar = forecast_shard(data, ForecastConfig(horizon=14))
    assert np.isnan(no_calendar["future_promo_days"].iloc[0])


def test_intervals_cover_future_demand_at_about_their_stated_level() -> None:
    rng = np.random.default_rng(5)
    history, future = 200, 28
    levels = rng.uniform(2, 30, 40)
    data, actual = [], []
    for index, level in enumerate(levels):
        units = weekly_pattern(history + future, rng, level)
        data.append(daily_sales(f"sku{index}", units[:history]))
        actual.append(units[history:])
    forecasts, _ = forecast_shard(pd.concat(data), ForecastConfig(horizon=future))
    forecasts = forecasts.sort_values(["unique_id", "ds"])
    truth = np.concatenate([actual[int(uid.split("|")[0][3:])] for uid in forecasts["unique_id"].unique()])
    inside_95 = np.mean((truth >= forecasts["lo_95"]) & (truth <= forecasts["hi_95"]))
    inside_80 = np.mean((truth >= forecasts["lo_80"]) & (truth <= forecasts["hi_80"]))
    assert 0.90 <= inside_95 <= 0.99
    assert 0.72 <= inside_80 <= 0.88


def test_long_format_input_is_accepted_and_missing_columns_named() -> None:
    long = pd.DataFrame({"unique_id": "x|y", "ds": pd.date_range(START, periods=30), "y": 1.0})
    forecasts, _ = forecast_shard(long, ForecastConfig(horizon=3))
    assert len(forecasts) == 3
    with pytest.raises(ValueError, match="ds"):
        forecast_shard(pd.DataFrame({"unique_id": ["a"], "y": [1.0]}))


def test_shard_forecasts_feed_the_replenishment_plan(mixed_shard) -> None:
    forecasts, _, _ = mixed_shard
    stock = {"location": "store-1", "on_hand": 5.0, "on_order": 0.0, "lead_time_days": 3.0}
    stock |= {"lead_time_sd_days": 0.5, "unit_cost": 2.0, "order_cost": 10.0, "holding_cost_rate": 0.2}
    stock |= {"service_level": 0.95, "moq": 0, "pack_size": 6}
    stored = forecasts_to_arrow(forecasts)
    assert stored.schema == FORECAST_SCHEMA
    plan = plan_replenishment([stock | {"sku": "weekly"}, stock | {"sku": "sparse"}], stored).plan.to_pylist()
    rows = {row["sku"]: row for row in plan}
    assert set(rows) == {"weekly", "sparse", "single", "nothing"}
    weekly = rows["weekly"]
    # About 8 units a day over 3 days: ~24 expected, well above the 5 on hand, so an order in whole packs.
    assert 15 < weekly["lead_time_demand_mean"] < 35
    assert weekly["order_qty"] > 0 and weekly["order_qty"] % 6 == 0
    assert "no inventory record" in rows["nothing"]["reason"]


def test_a_few_unrepeated_spikes_do_not_make_a_series_intervals_far_wider_than_stated() -> None:
    """A month of cross-validation errors holding three 4x days (an unflagged event) must not push the
    series' 80% interval to cover nearly everything; the calm series keep their stated level."""
    rng = np.random.default_rng(11)
    history, future = 200, 28
    data, actual = [], {}
    for index in range(40):
        units = weekly_pattern(history + future, rng, rng.uniform(4, 30))
        if index < 8:
            units[history - 28 + rng.choice(28, size=3, replace=False)] *= 4
        data.append(daily_sales(f"sku{index}", units[:history]))
        actual[f"sku{index}|store-1"] = units[history:]
    forecasts, _ = forecast_shard(pd.concat(data), ForecastConfig(horizon=future))
    spiky = forecasts["sku"].isin([f"sku{index}" for index in range(8)])

    def covered(part: pd.DataFrame, level: int) -> float:
        part = part.sort_values(["unique_id", "ds"])
        truth = np.concatenate([actual[uid] for uid in part["unique_id"].unique()])
        return float(np.mean((truth >= part[f"lo_{level}"]) & (truth <= part[f"hi_{level}"])))

    assert 0.70 <= covered(forecasts[spiky], 80) <= 0.92
    assert covered(forecasts[spiky], 95) <= 0.99
    assert 0.72 <= covered(forecasts[~spiky], 80) <= 0.88
    assert 0.90 <= covered(forecasts[~spiky], 95) <= 0.99


def test_dispersion_shrinkage_is_a_share() -> None:
    with pytest.raises(ValueError, match="dispersion_shrinkage"):
        ForecastConfig(dispersion_shrinkage=1.5)
