"""One shard of series in, probabilistic daily forecasts and a per-series summary out.

Per series: clean (`series.prepare_series`), take promotions out of history (`adjustments`), choose a model
among the candidates of its demand class by rolling-origin cross-validation on MASE, forecast the horizon
from the day after the as-of date, put the promotions of the future calendar back, and attach conformal
intervals built from the same cross-validation errors.

Intervals: statsforecast's own intervals assume Gaussian errors of the adjusted series, which is wrong for
counts and after the promotion and profile adjustments, and not every candidate has them. Instead each CV
error is standardised as (y - f) / sqrt(f + 1) (count noise grows with the level), divided by the series'
dispersion measured on its other CV window, and pooled across the shard's series of the same class; the
pooled quantiles, scaled back per series and day, give intervals that widen on promotion days and stay
calibrated for sparse series (measured: docs/benchmarks.md, Forecasting).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import date
from statistics import NormalDist

import numpy as np
import pandas as pd
import pyarrow as pa
from aws_lambda_powertools import Logger
from scipy.special import ndtr
from statsforecast import StatsForecast

from shelfwise.forecast.adjustments import profile_factor, promo_uplift, weekday_profile
from shelfwise.forecast.closures import ClosureOdds, closure_odds
from shelfwise.forecast.config import ForecastConfig
from shelfwise.forecast.metrics import series_mase
from shelfwise.forecast.models import COMBINATIONS, build_model, members, uses_profile
from shelfwise.forecast.schema import FORECAST_COLUMNS, FORECAST_SCHEMA
from shelfwise.forecast.series import prepare_series, sales_to_long
from shelfwise.forecast.sharding import split_series_id

# A child of the forecast function's Powertools Logger: its JSON format and correlation id. Outside Lambda
# (benchmarks, the local process pool) it has no parent and its records reach the root logger as before.
logger = Logger(child=True)

Progress = Callable[[int, int], None]
SMOOTH_CLASSES = ("smooth", "erratic")
INTERMITTENT_CLASSES = ("intermittent", "lumpy")
# Scored days each side (promoted or not) needs before it gets its own interval quantiles.
MIN_PROMO_ERRORS = 200
# Without a calendar, a series promoted on at least this share of recent days is forecast near its promoted
# level (engine.median_multiplier) and takes the interval quantiles of such series.
OFTEN_PROMOTED_RATE = 0.5
# Days of history a series needs before last year's window to be cross-validated on it (validated setting).
SEASONAL_WINDOW_MIN_HISTORY = 56


def forecast_shard(
    data: pd.DataFrame | pa.Table,
    config: ForecastConfig | None = None,
    *,
    future_promo: pd.DataFrame | None = None,
    progress: Progress | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Forecasts (FORECAST_COLUMNS, one row per series and day) and a summary with one row per input series.

    `data` is curated sales (sku, location, date, units, promo?) or long rows (unique_id, ds, y, promo?).
    `future_promo` marks promotion days in the horizon (unique_id or sku+location, ds or date, promo); an
    empty frame means a calendar with no promotion in the horizon. Without a calendar (None) each day of the
    horizon expects the series' recent promotion rate times its uplift, and the cross-validation scores the
    candidates the same way, so the intervals include not knowing which days will be promoted; the
    summary's `future_promo_days` is then empty (NaN).
    `progress(done, total)` is called after each batch of series.
    """
    config = config or ForecastConfig()
    long = _as_long(data)
    prepared = prepare_series(long, config)
    frame, summary = prepared.frame, prepared.report.set_index("unique_id")
    if frame.empty:
        return pd.DataFrame(columns=list(FORECAST_COLUMNS)), summary.reset_index()

    uplift = promo_uplift(frame, config)
    frame = frame.assign(multiplier=_multiplier(frame, uplift))
    frame["y_base"] = frame["y"] / frame["multiplier"]
    profile = weekday_profile(frame.assign(y=frame["y_base"]), config)
    frame["factor"] = profile_factor(frame, profile)
    future = _future_frame(frame, prepared.end_date, config, future_promo)
    future["multiplier"] = _multiplier(future, uplift)
    future["factor"] = profile_factor(future, profile)
    # What the cross-validation puts back on each held-out day: the known calendar, or the expectation.
    calendar = frame
    promo_rate = _promo_rate(frame, uplift.index, config)
    # Expected demand over point forecast per series: 1 when the calendar says which days are promoted.
    expected_ratio = pd.Series(1.0, index=uplift.index)
    if future_promo is None:
        median = median_multiplier(promo_rate, uplift, config)
        future["multiplier"] = future["unique_id"].map(median).to_numpy(dtype=float)
        calendar = frame.assign(multiplier=frame["unique_id"].map(median).to_numpy(dtype=float))
        expected_ratio = mean_multiplier(promo_rate, uplift) / median
    summary["promo_uplift"] = uplift
    summary["future_promo_days"] = (
        future.groupby("unique_id")["promo"].sum() if future_promo is not None else np.nan
    )
    summary["model"] = None
    summary["treatment"] = None
    summary["cv_mase"] = np.nan

    classes = summary["demand_class"]
    n_days = summary["n_days"]
    cv_ready = n_days >= config.min_history_for_cv
    groups = {
        "smooth": (list(classes.index[classes.isin(SMOOTH_CLASSES) & cv_ready]), config.smooth_models),
        "intermittent": (
            list(classes.index[classes.isin(INTERMITTENT_CLASSES) & cv_ready]),
            config.intermittent_models,
        ),
    }
    total = int((n_days > 0).sum())
    done = 0
    points: list[pd.DataFrame] = []
    cv_errors: dict[str, pd.DataFrame] = {}
    for group, (ids, candidates) in groups.items():
        errors: list[pd.DataFrame] = []
        for start in range(0, len(ids), config.batch_size):
            batch = ids[start : start + config.batch_size]
            chunk = frame[frame["unique_id"].isin(batch)]
            cv = _run(chunk, list(candidates), calendar, config, cv=True)
            known = chunk.set_index(["unique_id", "ds"])[["y", "promo"]].rename(columns={"y": "actual"})
            cv = cv.join(known, on=["unique_id", "ds"])
            chosen, cv_mase = _choose(cv, chunk, candidates, config)
            summary.loc[chosen.index, "model"] = chosen
            summary.loc[cv_mase.index, "cv_mase"] = cv_mase
            errors.append(_chosen_errors(cv, chosen))
            points.append(_forecast_chosen(chunk, future, chosen, config))
            done += len(batch)
            _report_progress(progress, done, total)
        summary.loc[ids, "treatment"] = (
            f"chosen by {_cv_description(config)} on MASE"
            if len(candidates) > 1
            else f"{candidates[0]}; intervals from {_cv_description(config)}"
        )
        if errors:
            cv_errors[group] = pd.concat(errors, ignore_index=True)

    limited = list(classes.index[classes.isin(SMOOTH_CLASSES + INTERMITTENT_CLASSES) & ~cv_ready])
    for unique_id in limited:
        default = (
            config.smooth_models if classes[unique_id] in SMOOTH_CLASSES else config.intermittent_models
        )[0]
        summary.loc[unique_id, ["model", "treatment"]] = [
            default,
            "too short for cross-validation: class default",
        ]
    if limited:
        chunk = frame[frame["unique_id"].isin(limited)]
        points.append(_forecast_chosen(chunk, future, summary.loc[limited, "model"], config))

    short = list(classes.index[classes == "short"])
    zero = list(classes.index[classes == "all_zero"])
    no_history = list(classes.index[classes == "no_history"])
    summary.loc[short, ["model", "treatment"]] = ["mean", "fewer than min_seasons seasons: historic mean"]
    summary.loc[zero, ["model", "treatment"]] = ["zero", "no sales in history: zero forecast"]
    summary.loc[no_history, ["model", "treatment"]] = ["none", "only rows after the as-of date: not forecast"]
    if short:
        points.append(_forecast_mean(frame[frame["unique_id"].isin(short)], future))
    if zero:
        zero_rows = future[future["unique_id"].isin(zero)]
        points.append(zero_rows[["unique_id", "ds"]].assign(model="zero", mean=0.0))
    _report_progress(progress, total, total)

    point = pd.concat(points, ignore_index=True)
    point["expected"] = point["mean"] * point["unique_id"].map(expected_ratio).fillna(1.0).to_numpy()
    # Promotions are their own source of error, which pooled with ordinary days' would be spread over both:
    # with a calendar, promotion days take the quantiles of promotion days' errors. Without one, the forecast
    # sits near the baseline for a series promoted on few recent days (its misses are unforeseen promotions,
    # above) and near the promoted level for one promoted on most (its misses are days without, below), so
    # the two kinds of series take their own quantiles.
    if future_promo is not None:
        point = point.merge(future[["unique_id", "ds", "promo"]], on=["unique_id", "ds"], how="left")
        point["promo"] = point["promo"].fillna(False).astype(bool)
    else:
        often = promo_rate >= OFTEN_PROMOTED_RATE
        point["promo"] = point["unique_id"].map(often).fillna(False).astype(bool)
        cv_errors = {
            group: errors.assign(promo=errors["unique_id"].map(often).fillna(False).astype(bool))
            for group, errors in cv_errors.items()
        }
    if not config.promo_interval_split:
        # One side only: _pooled_quantiles then pools every error.
        point["promo"] = False
        cv_errors = {group: errors.assign(promo=False) for group, errors in cv_errors.items()}
    forecasts = _with_intervals(point, summary, frame, cv_errors, config)
    horizon = pd.date_range(pd.Timestamp(prepared.end_date) + pd.Timedelta(days=1), periods=config.horizon)
    forecasts = _close(forecasts, summary, closure_odds(frame, horizon, config), config)
    return forecasts, summary.reset_index()


def _promo_rate(frame: pd.DataFrame, ids: pd.Index, config: ForecastConfig) -> pd.Series:
    """Per series: the share of promotion days in the last `promo_rate_days` of history."""
    recent = frame[frame["ds"] > frame["ds"].max() - pd.Timedelta(days=config.promo_rate_days)]
    return recent.groupby("unique_id")["promo"].mean().reindex(ids).fillna(0.0)


def mean_multiplier(promo_rate: pd.Series, uplift: pd.Series) -> pd.Series:
    """Per series: the expected multiplier of a day whose promotion is unknown, promoted with probability
    `promo_rate`. Summed over days it is what the series sells; its median (median_multiplier) is lower."""
    rate = promo_rate.reindex(uplift.index).fillna(0.0)
    return (1 - rate) + rate * uplift.astype(float)


def median_multiplier(promo_rate: pd.Series, uplift: pd.Series, config: ForecastConfig) -> pd.Series:
    """Per series: the median multiplier of a day whose promotion is unknown.

    Without a calendar the promoted days are unknown but not absent. A day is promoted with probability p
    (`promo_rate`: the series' share of promotion days in the last `promo_rate_days`), so its demand is a
    mixture of the baseline and the baseline times the uplift, each spread log-normally
    (`promo_mixture_spread`). MASE is an absolute error, whose best point forecast is the median: close to
    the baseline for a SKU promoted one day in ten, close to the promoted level for one promoted most days.
    (A fixed share of the expected uplift under-forecast the often-promoted SKUs by a third.) The spread was
    chosen on validation windows before the benchmark's test windows (docs/benchmarks.md)."""
    rate = promo_rate.reindex(uplift.index).fillna(0.0).to_numpy()
    log_uplift = np.log(uplift.to_numpy(dtype=float))
    spread = config.promo_mixture_spread

    def below(x: np.ndarray) -> np.ndarray:
        return rate * ndtr((x - log_uplift) / spread) + (1 - rate) * ndtr(x / spread)

    # The mixture's median lies between its two components' medians, 0 and log(uplift); bisect there.
    low, high = np.minimum(0.0, log_uplift), np.maximum(0.0, log_uplift)
    for _ in range(40):
        middle = (low + high) / 2
        under = below(middle) < 0.5
        low, high = np.where(under, middle, low), np.where(under, high, middle)
    return pd.Series(np.exp((low + high) / 2), index=uplift.index)


def _close(
    forecasts: pd.DataFrame, summary: pd.DataFrame, odds: ClosureOdds, config: ForecastConfig
) -> pd.DataFrame:
    """Demand on days a location may be closed is a mixture of zero (probability q) and an ordinary day.

    Its median is zero when q >= 0.5; an interval's lower bound is zero once q reaches the interval's lower
    tail, and its upper bound once q covers all but the upper tail (q = 1: zero-width at zero). Its expected
    demand is the open day's times 1 - q."""
    summary["closed_days"] = 0
    for location, days in odds.items():
        at_location = forecasts["location"] == location
        for day, q in days.items():
            rows = at_location & (forecasts["ds"] == day)
            forecasts.loc[rows, "expected"] *= 1 - q
            if q >= 0.5:
                forecasts.loc[rows, "mean"] = 0.0
            for level in config.levels:
                tail = (1 - level / 100) / 2
                if q >= tail:
                    forecasts.loc[rows, f"lo_{level}"] = 0.0
                if q >= 1 - tail:
                    forecasts.loc[rows, f"hi_{level}"] = 0.0
        ids = forecasts.loc[at_location, "unique_id"].unique()
        closed = [day for day, q in days.items() if q >= 0.5]
        summary.loc[ids, "closed_days"] = len(closed)
        notes = [f"{day.date().isoformat()} closed with probability {q:.2f}" for day, q in days.items()]
        summary.loc[ids, "treatment"] = (
            summary.loc[ids, "treatment"]
            + "; "
            + ", ".join(notes)
            + ": zero where likely, lower bounds zero where possible"
        )
        logger.info("closure days at %s: %s", location, "; ".join(notes))
    return forecasts


def _multiplier(frame: pd.DataFrame, uplift: pd.Series) -> np.ndarray:
    """Promotion uplift on promotion days, 1 elsewhere."""
    return np.where(
        frame["promo"].to_numpy(dtype=bool), frame["unique_id"].map(uplift).to_numpy(dtype=float), 1.0
    )


def forecasts_to_arrow(forecasts: pd.DataFrame) -> pa.Table:
    """The forecast frame as stored (FORECAST_SCHEMA: ds as a date); needs the default 80/95 levels."""
    frame = forecasts.assign(ds=pd.to_datetime(forecasts["ds"]).dt.date)
    return pa.Table.from_pandas(frame[list(FORECAST_COLUMNS)], schema=FORECAST_SCHEMA, preserve_index=False)


def _as_long(data: pd.DataFrame | pa.Table) -> pd.DataFrame:
    frame = data.to_pandas() if isinstance(data, pa.Table) else data
    if "sku" in frame.columns:
        return sales_to_long(frame)
    missing = [column for column in ("unique_id", "ds", "y") if column not in frame.columns]
    if missing:
        raise ValueError(f"series data lacks column(s): {', '.join(missing)}")
    promo = frame["promo"].fillna(False).astype(bool) if "promo" in frame.columns else False
    return pd.DataFrame(
        {
            "unique_id": frame["unique_id"].astype(str),
            "ds": pd.to_datetime(frame["ds"]),
            "y": frame["y"],
            "promo": promo,
        }
    )


def _future_frame(
    frame: pd.DataFrame, end_date: date, config: ForecastConfig, future_promo: pd.DataFrame | None
) -> pd.DataFrame:
    ids = frame["unique_id"].unique()
    dates = pd.date_range(pd.Timestamp(end_date) + pd.Timedelta(days=1), periods=config.horizon, freq="D")
    future = pd.DataFrame({"unique_id": np.repeat(ids, len(dates)), "ds": np.tile(dates, len(ids))})
    if future_promo is None or future_promo.empty:
        return future.assign(promo=False)
    calendar = _as_long(
        future_promo.assign(units=0.0) if "sku" in future_promo.columns else future_promo.assign(y=0.0)
    )
    calendar = calendar.groupby(["unique_id", "ds"])["promo"].max().reset_index()
    future = future.merge(calendar, on=["unique_id", "ds"], how="left")
    return future.assign(promo=future["promo"].eq(True))  # days without a calendar row: no promotion


def _model_input(chunk: pd.DataFrame, profiled: bool) -> pd.DataFrame:
    y = chunk["y_base"] / chunk["factor"].clip(lower=0.05) if profiled else chunk["y_base"]
    return pd.DataFrame(
        {"unique_id": chunk["unique_id"].to_numpy(), "ds": chunk["ds"].to_numpy(), "y": y.to_numpy()}
    )


def _run(
    chunk: pd.DataFrame, names: list[str], calendar: pd.DataFrame, config: ForecastConfig, *, cv: bool
) -> pd.DataFrame:
    """Long rows (unique_id, ds, model, forecast) in units: the day-of-week profile and promotions put back.

    `calendar` carries each forecast day's `multiplier` (promotion uplift or 1) and `factor` (profile).
    Combinations in `names` are the median of their members' forecasts in units."""
    requested = names
    names = members(names)
    outputs = []
    models = [build_model(name, config) for name in names]
    # Models that can be run forward without refitting are fitted once per CV; the rest are cheap to refit.
    for profiled, forwardable in itertools.product((False, True), (True, False)):
        subset = [
            model
            for name, model in zip(names, models, strict=True)
            if uses_profile(name) == profiled and (not cv or hasattr(model, "forward") == forwardable)
        ]
        if not subset or (not cv and not forwardable):
            continue
        aliases = [repr(model) for model in subset]
        engine = StatsForecast(models=subset, freq="D", n_jobs=1)
        model_input = _model_input(chunk, profiled)
        if cv:
            out = engine.cross_validation(
                df=model_input,
                h=config.cv_horizon,
                n_windows=config.cv_windows,
                step_size=config.cv_step,
                refit=not forwardable,
            )
            seasonal = _seasonal_window(subset, model_input, config)
            if seasonal is not None:
                out = pd.concat([out, seasonal], ignore_index=True)
        else:
            out = engine.forecast(df=model_input, h=config.horizon)
        melted = out.melt(
            id_vars=["unique_id", "ds", *(["cutoff"] if cv else [])],
            value_vars=aliases,
            var_name="model",
            value_name="forecast",
        )
        outputs.append(melted)
    rows = pd.concat(outputs, ignore_index=True)
    rows = rows.merge(
        calendar[["unique_id", "ds", "multiplier", "factor"]], on=["unique_id", "ds"], how="left"
    )
    profile = np.where(rows["model"].map(uses_profile), rows["factor"], 1.0)
    rows["forecast"] = np.clip(rows["forecast"].fillna(0.0) * profile * rows["multiplier"], 0.0, None)
    rows = rows.drop(columns=["multiplier", "factor"])
    keys = ["unique_id", "ds", *(["cutoff"] if cv else [])]
    combined = [
        rows[rows["model"].isin(COMBINATIONS[name])]
        .groupby(keys, sort=False)["forecast"]
        .median()
        .reset_index()
        .assign(model=name)
        for name in requested
        if name in COMBINATIONS
    ]
    rows = pd.concat([rows, *combined], ignore_index=True)
    return rows[rows["model"].isin(requested)]


def _cv_description(config: ForecastConfig) -> str:
    rolling = f"{config.cv_windows}-window cross-validation"
    return rolling + " and the same weeks a year earlier" if config.seasonal_cv_window else rolling


def _seasonal_window(models: list, model_input: pd.DataFrame, config: ForecastConfig) -> pd.DataFrame | None:
    """Cross-validation forecasts of the horizon's days one year (52 weeks) earlier, for the intervals.

    The rolling windows just before the as-of date see autumn when December is forecast; errors from the
    same weeks of last year carry that season's spikes and closures into the pooled quantiles. Series
    with less than SEASONAL_WINDOW_MIN_HISTORY days of history before that window are left out."""
    if not config.seasonal_cv_window:
        return None
    cutoff = model_input["ds"].max() - pd.Timedelta(days=364)
    first = model_input.groupby("unique_id")["ds"].transform("min")
    keep = (model_input["ds"] <= cutoff + pd.Timedelta(days=config.cv_horizon)) & (
        first <= cutoff - pd.Timedelta(days=SEASONAL_WINDOW_MIN_HISTORY)
    )
    if not keep.any():
        return None
    engine = StatsForecast(models=models, freq="D", n_jobs=1)
    return engine.cross_validation(df=model_input[keep], h=config.cv_horizon, n_windows=1, refit=True)


def _choose(
    cv: pd.DataFrame, chunk: pd.DataFrame, candidates: tuple[str, ...], config: ForecastConfig
) -> tuple[pd.Series, pd.Series]:
    """Per series, the candidate with the lowest CV mean absolute error, and its MASE."""
    errors = cv.assign(abs_error=(cv["actual"] - cv["forecast"]).abs())
    table = errors.pivot_table(index="unique_id", columns="model", values="abs_error", aggfunc="mean")
    table = table.reindex(columns=list(candidates))
    chosen = table.idxmin(axis=1).fillna(candidates[0])
    # The chosen candidate has the lowest error, so its MASE is the series' best.
    picked = cv[cv["model"].to_numpy() == chosen.reindex(cv["unique_id"]).to_numpy()]
    best = series_mase(
        picked[["unique_id", "ds", "actual", "forecast"]].rename(columns={"actual": "y"}),
        chunk,
        config.season_length,
        model="forecast",
    )
    return chosen, best.reindex(table.index)


def _chosen_errors(cv: pd.DataFrame, chosen: pd.Series) -> pd.DataFrame:
    picked = cv[cv["model"].to_numpy() == chosen.reindex(cv["unique_id"]).to_numpy()]
    z = (picked["actual"] - picked["forecast"]) / np.sqrt(picked["forecast"] + 1.0)
    return pd.DataFrame(
        {
            "unique_id": picked["unique_id"].to_numpy(),
            "window": picked["cutoff"].to_numpy(),
            "z": z.to_numpy(),
            "promo": picked["promo"].fillna(False).to_numpy(dtype=bool),
        }
    )


def _forecast_chosen(
    chunk: pd.DataFrame, future: pd.DataFrame, chosen: pd.Series, config: ForecastConfig
) -> pd.DataFrame:
    parts = []
    for name, ids in chosen.groupby(chosen).groups.items():
        subset = chunk[chunk["unique_id"].isin(ids)]
        rows = _run(subset, [name], future[future["unique_id"].isin(ids)], config, cv=False)
        parts.append(rows.rename(columns={"forecast": "mean"}))
    return pd.concat(parts, ignore_index=True)


def _forecast_mean(chunk: pd.DataFrame, future: pd.DataFrame) -> pd.DataFrame:
    level = chunk.groupby("unique_id")["y_base"].mean()
    rows = future[future["unique_id"].isin(level.index)]
    return rows.assign(mean=rows["unique_id"].map(level) * rows["multiplier"], model="mean")[
        ["unique_id", "ds", "model", "mean"]
    ]


def _in_sample_dispersion(frame: pd.DataFrame) -> pd.Series:
    """RMS of (y - mean) / sqrt(mean + 1): a cautious spread for series without CV errors."""
    grouped = frame.groupby("unique_id")["y_base"]
    level = grouped.transform("mean")
    z = (frame["y_base"] - level) / np.sqrt(level + 1.0)
    return np.sqrt((z**2).groupby(frame["unique_id"]).mean())


def _pooled_quantiles(
    errors: pd.DataFrame, config: ForecastConfig
) -> tuple[pd.Series, dict[bool, dict[int, tuple]]]:
    """Per-series dispersion and pooled quantiles of errors divided by it, for the errors `errors["promo"]`
    marks False and True (promotion days, or with no calendar the often promoted series). With fewer than
    MIN_PROMO_ERRORS errors on either side, both come from all errors.

    Each window's errors are divided by the dispersion of the series' *other* windows (cross-fitting), so the
    pooled quantiles also absorb the noise of estimating a series' dispersion from few errors; dividing by a
    dispersion that saw the same errors would make the intervals too narrow. Every dispersion, cross-fitted
    or final, is the same mix of the series' own and the class's pooled one (`dispersion_shrinkage`, the
    pooled share): a month of errors holds one or two promotion spikes or a level shift, and an unshrunk
    estimate let them inflate the cross-fitted quantiles and so everyone's intervals past their level."""
    squares = errors["z"] ** 2
    pooled, weight = float(np.sqrt(squares.mean())), config.dispersion_shrinkage
    per_series = squares.groupby(errors["unique_id"]).agg(["sum", "size"])
    per_window = squares.groupby([errors["unique_id"], errors["window"]]).agg(["sum", "size"])
    series_rows = per_series.reindex(errors["unique_id"]).to_numpy()
    window_rows = per_window.reindex(
        pd.MultiIndex.from_arrays([errors["unique_id"], errors["window"]])
    ).to_numpy()
    other_sum, other_size = series_rows[:, 0] - window_rows[:, 0], series_rows[:, 1] - window_rows[:, 1]
    own = np.sqrt(series_rows[:, 0] / series_rows[:, 1])
    held_out = np.where(other_size > 0, np.sqrt(other_sum / np.maximum(other_size, 1)), own)
    held_out = (1 - weight) * held_out + weight * pooled
    unit = errors["z"].to_numpy() / np.clip(held_out, 0.05, None)
    own_dispersion = np.sqrt(per_series["sum"] / per_series["size"])
    dispersion = ((1 - weight) * own_dispersion + weight * pooled).clip(lower=0.05)
    promo = errors["promo"].to_numpy(dtype=bool)
    if min(promo.sum(), (~promo).sum()) < MIN_PROMO_ERRORS:
        pooled_quantiles = _quantiles(unit, config)
        return dispersion, {False: pooled_quantiles, True: pooled_quantiles}
    return dispersion, {False: _quantiles(unit[~promo], config), True: _quantiles(unit[promo], config)}


def _quantiles(unit: np.ndarray, config: ForecastConfig) -> dict[int, tuple]:
    quantiles = {}
    for level in config.levels:
        tail = (1 - level / 100) / 2
        low, high = np.quantile(unit, [tail, 1 - tail], method="higher")
        quantiles[level] = (min(float(low), 0.0), max(float(high), 0.0))
    return quantiles


def _normal_quantiles(config: ForecastConfig) -> dict[int, tuple]:
    quantiles = {}
    for level in config.levels:
        z = NormalDist().inv_cdf(0.5 + level / 200)
        quantiles[level] = (-z, z)
    return quantiles


def _with_intervals(
    point: pd.DataFrame,
    summary: pd.DataFrame,
    frame: pd.DataFrame,
    cv_errors: dict[str, pd.DataFrame],
    config: ForecastConfig,
) -> pd.DataFrame:
    """Adds lo_<level>/hi_<level>: mean + q * dispersion * sqrt(mean + 1), lows >= 0; q pooled per class and
    per side of `point["promo"]` (see _pooled_quantiles)."""
    group_of = summary["demand_class"].map(
        lambda c: (
            "smooth" if c in SMOOTH_CLASSES else "intermittent" if c in INTERMITTENT_CLASSES else "other"
        )
    )
    # Without CV errors the spread is taken as at least Poisson-like: too wide beats falsely confident.
    dispersion = _in_sample_dispersion(frame).clip(lower=1.0)
    quantiles_by_group: dict[str, dict[bool, dict[int, tuple]]] = {}
    for group, errors in cv_errors.items():
        cv_dispersion, quantiles_by_group[group] = _pooled_quantiles(errors, config)
        dispersion.loc[cv_dispersion.index] = cv_dispersion
    summary["dispersion"] = dispersion
    out = point.copy()
    out["mean"] = out["mean"].clip(lower=0.0)
    out["expected"] = out["expected"].clip(lower=0.0)
    scale = dispersion.reindex(out["unique_id"]).fillna(0.0).to_numpy() * np.sqrt(
        out["mean"].to_numpy() + 1.0
    )
    scale = np.where(out["model"].to_numpy() == "zero", 0.0, scale)
    groups = group_of.reindex(out["unique_id"]).to_numpy()
    promo = out["promo"].to_numpy(dtype=bool)
    normal = _normal_quantiles(config)
    row_quantiles = [
        quantiles_by_group[g][p] if g in quantiles_by_group else normal
        for g, p in zip(groups, promo, strict=True)
    ]
    for level in sorted(config.levels):
        low = np.array([quantiles[level][0] for quantiles in row_quantiles])
        high = np.array([quantiles[level][1] for quantiles in row_quantiles])
        out[f"lo_{level}"] = np.clip(out["mean"] + low * scale, 0.0, None)
        out[f"hi_{level}"] = out["mean"] + high * scale
    # Wider levels must contain narrower ones even where pooled quantiles are noisy.
    ordered = sorted(config.levels)
    for narrow, wide in itertools.pairwise(ordered):
        out[f"lo_{wide}"] = np.minimum(out[f"lo_{wide}"], out[f"lo_{narrow}"])
        out[f"hi_{wide}"] = np.maximum(out[f"hi_{wide}"], out[f"hi_{narrow}"])
    ids = out["unique_id"].map(split_series_id)
    out["sku"] = [sku for sku, _ in ids]
    out["location"] = [location for _, location in ids]
    widest_first = sorted(config.levels, reverse=True)
    interval_columns = [f"lo_{level}" for level in widest_first] + [f"hi_{level}" for level in ordered]
    columns = ["unique_id", "sku", "location", "ds", "mean", *interval_columns, "model", "expected"]
    return out[columns].sort_values(["unique_id", "ds"], ignore_index=True)


def _report_progress(progress: Progress | None, done: int, total: int) -> None:
    logger.info("forecast progress: %d/%d series", done, total)
    if progress is not None:
        progress(done, total)
