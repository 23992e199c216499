"""How right were the previous runs? Their stored forecasts against the sales that arrived since (pyarrow).

A day without a sales row counts as zero sales, as in the forecasts' own history (gaps are zero-filled).
Only series the current run knows are scored, so a run is not blamed for SKUs whose sales were never sent.
WAPE scores the point forecast (a day's median, what an absolute error rewards); forecast units and bias sum
the expected demand the plan ordered on (the point forecast for runs stored before it was kept), so a
history-only shop's unknown promotion days do not read as a systematic under-forecast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shelfwise.forecast.metrics import coverage
from shelfwise.forecast.schema import expected_column


@dataclass(frozen=True)
class RunAccuracy:
    plan_date: str
    days: int
    points: int
    series: int
    actual_units: float
    forecast_units: float  # expected demand summed
    wape: float | None  # sum |actual - point forecast| / sum actual
    bias: float | None  # (forecast units - actual units) / actual units; > 0 means over-forecast
    coverage_80: float
    coverage_95: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def daily_actuals(sales: pa.Table) -> pa.Table:
    """Units per sku, location and day (duplicates summed, returns not demand: negatives as zero)."""
    clipped = sales.set_column(
        sales.schema.get_field_index("units"),
        "units",
        pc.max_element_wise(pc.fill_null(sales.column("units"), 0.0), pa.scalar(0.0)),
    )
    return (
        clipped.group_by(["sku", "location", "date"])
        .aggregate([("units", "sum")])
        .rename_columns(["sku", "location", "ds", "actual"])
    )


def score_previous_runs(
    previous: Mapping[date, pa.Table], actuals: pa.Table, as_of: date, known_series: pa.Array
) -> list[RunAccuracy]:
    """One entry per previous plan date with at least one forecast day on or before `as_of`, newest first."""
    results = []
    for plan_date in sorted(previous, reverse=True):
        forecasts = previous[plan_date]
        in_past = pc.less_equal(forecasts.column("ds"), pa.scalar(as_of, pa.date32()))
        ids = pc.binary_join_element_wise(forecasts.column("sku"), forecasts.column("location"), "|")
        scored = forecasts.filter(pc.and_(in_past, pc.is_in(ids, value_set=known_series)))
        if scored.num_rows == 0:
            continue
        volume = expected_column(scored)
        columns = ["sku", "location", "ds", "mean", "lo_80", "hi_80", "lo_95", "hi_95"]
        joined = scored.select(list(dict.fromkeys([*columns, volume]))).join(
            actuals, keys=["sku", "location", "ds"], join_type="left outer"
        )
        actual = pc.fill_null(joined.column("actual"), 0.0).to_numpy()
        mean = joined.column("mean").to_numpy()
        forecast_units = float(joined.column(volume).to_numpy().sum())
        total = float(actual.sum())
        error = float(np.abs(actual - mean).sum())
        results.append(
            RunAccuracy(
                plan_date=plan_date.isoformat(),
                days=len(pc.unique(joined.column("ds"))),
                points=joined.num_rows,
                series=len(pc.unique(pc.binary_join_element_wise(joined["sku"], joined["location"], "|"))),
                actual_units=round(total, 3),
                forecast_units=round(forecast_units, 3),
                wape=round(error / total, 4) if total > 0 else None,
                bias=round((forecast_units - total) / total, 4) if total > 0 else None,
                coverage_80=round(
                    coverage(actual, joined["lo_80"].to_numpy(), joined["hi_80"].to_numpy()), 4
                ),
                coverage_95=round(
                    coverage(actual, joined["lo_95"].to_numpy(), joined["hi_95"].to_numpy()), 4
                ),
            )
        )
    return results
