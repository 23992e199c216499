"""Curated sales to clean daily series in long format (`unique_id, ds, y` plus `promo`), with a report.

Every series that enters leaves with a row in the report saying what was done to it: gaps filled with zero
sales, negative units clipped (returns are not demand), duplicate rows summed, history trimmed, and its demand
class (smooth / erratic / intermittent / lumpy by ADI and CV², or short / all_zero). Nothing is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa

from shelfwise.forecast.config import ForecastConfig
from shelfwise.forecast.sharding import series_id

SALES_COLUMNS = ("sku", "location", "date", "units")
REPORT_COLUMNS = (
    "unique_id",
    "first_date",
    "last_date",
    "n_days",
    "gap_days_filled",
    "negative_days_clipped",
    "duplicate_rows_merged",
    "missing_units_as_zero",
    "days_trimmed",
    "promo_days",
    "zero_share",
    "adi",
    "cv2",
    "demand_class",
)


@dataclass(frozen=True)
class PreparedSeries:
    """`frame`: unique_id, ds, y, promo, one row per series and day, no gaps; `report`: one row per series."""

    frame: pd.DataFrame
    report: pd.DataFrame
    end_date: date


def sales_to_long(sales: pa.Table | pd.DataFrame) -> pd.DataFrame:
    """Curated sales rows (sku, location, date, units, promo?, price?) to `unique_id, ds, y, promo` rows."""
    frame = sales.to_pandas() if isinstance(sales, pa.Table) else sales.copy()
    missing = [column for column in SALES_COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(f"sales data lacks column(s): {', '.join(missing)}")
    promo = frame["promo"] if "promo" in frame.columns else pd.Series(False, index=frame.index)
    return pd.DataFrame(
        {
            "unique_id": [
                series_id(str(s), str(loc)) for s, loc in zip(frame["sku"], frame["location"], strict=True)
            ],
            "ds": pd.to_datetime(frame["date"]).dt.normalize(),
            "y": pd.to_numeric(frame["units"], errors="coerce").astype(float),
            "promo": promo.fillna(False).astype(bool).to_numpy(),
        }
    )


def classify_demand(values: np.ndarray, config: ForecastConfig) -> tuple[str, float, float]:
    """Demand class with ADI (mean interval between non-zero days) and CV² of the non-zero sizes."""
    nonzero = values[values > 0]
    if nonzero.size == 0:
        return "all_zero", float("inf"), float("nan")
    adi = values.size / nonzero.size
    cv2 = float((nonzero.std() / nonzero.mean()) ** 2) if nonzero.size > 1 else 0.0
    if values.size < config.min_seasons * config.season_length:
        return "short", adi, cv2
    intermittent = adi >= config.adi_threshold
    variable = cv2 >= config.cv2_threshold
    if intermittent:
        return ("lumpy" if variable else "intermittent"), adi, cv2
    return ("erratic" if variable else "smooth"), adi, cv2


def prepare_series(long: pd.DataFrame, config: ForecastConfig) -> PreparedSeries:
    """Aggregate duplicates, clip negatives, fill every series up to the end date with zeros, classify."""
    if long.empty:
        empty = pd.DataFrame(columns=["unique_id", "ds", "y", "promo"])
        return PreparedSeries(
            empty, pd.DataFrame(columns=list(REPORT_COLUMNS)), config.end_date or date.today()
        )
    end = pd.Timestamp(config.end_date) if config.end_date else long["ds"].max()
    # Rows dated after the as-of date belong to the next run; they are counted, not silently used.
    late = long["ds"] > end
    frame = long.loc[~late]
    missing_units = frame["y"].isna()
    frame = frame.assign(y=frame["y"].fillna(0.0), negative=frame["y"] < 0, missing=missing_units)
    grouped = frame.groupby(["unique_id", "ds"], sort=True).agg(
        y=("y", "sum"),
        promo=("promo", "max"),
        rows=("y", "size"),
        negative=("negative", "max"),
        missing=("missing", "max"),
    )
    grouped = grouped.reset_index()
    parts: list[pd.DataFrame] = []
    report_rows: list[dict[str, object]] = []
    for unique_id, rows in grouped.groupby("unique_id", sort=True):
        first = rows["ds"].iloc[0]
        full_index = pd.date_range(first, end, freq="D")
        keep_from = max(first, end - pd.Timedelta(days=config.history_days - 1))
        daily = rows.set_index("ds").reindex(full_index)
        gaps = int(daily["y"].isna().sum())
        y = daily["y"].fillna(0.0).clip(lower=0.0)
        promo = daily["promo"].astype("boolean").fillna(False).astype(bool)
        recent = full_index >= keep_from
        values = y.to_numpy()[recent]
        demand_class, adi, cv2 = classify_demand(values, config)
        parts.append(
            pd.DataFrame(
                {
                    "unique_id": unique_id,
                    "ds": full_index[recent],
                    "y": values,
                    "promo": promo.to_numpy()[recent],
                }
            )
        )
        report_rows.append(
            {
                "unique_id": unique_id,
                "first_date": first.date(),
                "last_date": rows["ds"].iloc[-1].date(),
                "n_days": int(recent.sum()),
                "gap_days_filled": gaps,
                "negative_days_clipped": int(rows["negative"].sum()),
                "duplicate_rows_merged": int((rows["rows"] - 1).sum()),
                "missing_units_as_zero": int(rows["missing"].sum()),
                "days_trimmed": int((~recent).sum()),
                "promo_days": int(promo.to_numpy()[recent].sum()),
                "zero_share": float(np.mean(values == 0)),
                "adi": adi,
                "cv2": cv2,
                "demand_class": demand_class,
            }
        )
    report = pd.DataFrame(report_rows, columns=list(REPORT_COLUMNS))
    late_ids = set(long.loc[late, "unique_id"]) - set(report["unique_id"])
    if late_ids:
        # Series whose every row is after the as-of date still get a report row, so none goes missing.
        extra = pd.DataFrame(
            [{"unique_id": uid, "n_days": 0, "demand_class": "no_history"} for uid in late_ids]
        )
        report = pd.concat([report, extra.reindex(columns=list(REPORT_COLUMNS))], ignore_index=True)
    report["rows_after_end_date"] = (
        report["unique_id"].map(long.loc[late].groupby("unique_id").size()).fillna(0)
    )
    report["rows_after_end_date"] = report["rows_after_end_date"].astype(int)
    frame_out = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["unique_id", "ds", "y", "promo"])
    )
    return PreparedSeries(frame_out, report.sort_values("unique_id", ignore_index=True), end.date())
