"""Settings of a forecasting run; plain data so the orchestrator can pass them to every shard unchanged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class ForecastConfig:
    horizon: int = 28
    season_length: int = 7
    # Prediction interval levels, in percent.
    levels: tuple[int, ...] = (80, 95)
    # Rolling-origin cross-validation: its errors set the intervals (and choose a model per series where a
    # class has several candidates). Four windows rather than two, plus the horizon's weeks one year earlier
    # (engine._seasonal_window), keep each month's interval coverage nearer nominal (docs/benchmarks.md).
    cv_windows: int = 4
    cv_horizon: int = 28
    cv_step: int = 28
    seasonal_cv_window: bool = True
    # Intervals of promotion days (with a calendar) or of often promoted series (without) come from their
    # own CV errors, apart from the rest (engine.forecast_shard).
    promo_interval_split: bool = True
    # Only the most recent days are modelled: older history costs time and describes a different shop.
    history_days: int = 730
    # A series needs at least this many seasons of history before any seasonal model is tried.
    min_seasons: int = 2
    # Syntetos-Boylan cut-offs between smooth / erratic / intermittent / lumpy demand.
    adi_threshold: float = 1.32
    cv2_threshold: float = 0.49
    # Promotion uplift per series is shrunk toward the shard's pooled uplift with this many pseudo-days.
    promo_shrinkage_days: float = 30.0
    promo_uplift_bounds: tuple[float, float] = (0.5, 10.0)
    # Without a promotion calendar, each future day is promoted with the share of promotion days seen this
    # many days back; its forecast is the median of that mixture of baseline and promoted demand, each
    # spread log-normally by `promo_mixture_spread` (see engine.median_multiplier).
    promo_rate_days: int = 91
    promo_mixture_spread: float = 0.35
    # Recurring closures (closures.py): a horizon day closed on the same date in each earlier year of history,
    # at least this many years, at a location selling at least this many units on an average day.
    closure_min_years: int = 2
    closure_min_daily_units: float = 5.0
    # Public holidays of this country (ISO 3166 code, as the `holidays` package names them; None: no holiday
    # calendar). A location's share of closed days among the public holidays of the last
    # `holiday_lookback_days` is its closure probability on the horizon's holidays (closures.py).
    holiday_country: str | None = None
    holiday_lookback_days: int = 365
    # Day-of-week profiles per series are shrunk toward the shard's pooled profile with this many weeks.
    profile_shrinkage_weeks: float = 8.0
    # A series' interval dispersion (from its cross-validation errors) takes this share from its class's
    # pooled dispersion and the rest from its own; chosen on validation windows (docs/benchmarks.md).
    dispersion_shrinkage: float = 0.7
    # The date the data is "as of": every series is zero-filled up to it and forecasts start the day after.
    # None means the latest date in the input; an orchestrator sets it so every shard agrees.
    end_date: date | None = None
    # Series per statsforecast batch; progress is reported after each batch.
    batch_size: int = 200
    # Candidates per class, chosen per series by cross-validation when there are several. The defaults are one
    # combination each (`models.COMBINATIONS`): on validation windows before the benchmark's test windows it
    # beat the per-series choice among its members and the other single models (docs/benchmarks.md).
    smooth_models: tuple[str, ...] = ("combo_smooth",)
    intermittent_models: tuple[str, ...] = ("combo_intermittent",)

    def __post_init__(self) -> None:
        if self.horizon < 1:
            raise ValueError("horizon must be at least 1 day")
        if self.cv_windows < 1 or self.cv_horizon < 1 or self.cv_step < 1:
            raise ValueError("cv_windows, cv_horizon and cv_step must be at least 1")
        if not 0 <= self.dispersion_shrinkage <= 1:
            raise ValueError("dispersion_shrinkage must be between 0 and 1")
        if self.promo_mixture_spread <= 0:
            raise ValueError("promo_mixture_spread must be positive")
        if not self.levels or any(not 0 < level < 100 for level in self.levels):
            raise ValueError("levels must be percentages strictly between 0 and 100")

    @property
    def min_history_for_cv(self) -> int:
        return self.min_seasons * self.season_length + self.cv_horizon + (self.cv_windows - 1) * self.cv_step
