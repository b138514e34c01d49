"""The per-period series the time-based types share, and the one decision between a trend and a step.

The time column (``view.roles.time``) is a datetime or a year-like integer column. Its rows are grouped
into periods — day, week (from Monday), month, quarter or year, the coarsest that still gives
``TARGET_POINTS`` periods or more over the span — and each measure becomes the mean per period. Every
series and every shape decision is cached on the view, so the types that read the same series compute it
once per view.

Shape: a monotonic trend also shows a "best split", and a step also shows a trend. For each (time, measure)
pair :func:`shape` fits a line and a one-step function to the per-period series and keeps the one with the
lower BIC; ``trend`` reports only when the line wins and ``change_point`` only when the step wins (both
still count their test).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import special

from insight.analysis.insights.base import Candidate, TableView, col

PeriodName = Literal["day", "week", "month", "quarter", "year"]
PERIODS: tuple[PeriodName, ...] = ("year", "quarter", "month", "week", "day")
PERIOD_DAYS: dict[PeriodName, float] = {"day": 1.0, "week": 7.0, "month": 30.44, "quarter": 91.31, "year": 365.25}
PANDAS_FREQ: dict[PeriodName, str] = {"day": "D", "week": "W", "month": "M", "quarter": "Q", "year": "Y"}
MIN_POINTS = 8
TARGET_POINTS = 24
MIN_SEGMENT = 3
SEASON_ALPHA = 0.01
MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class TimeAxis:
    """The time column's values: days since 1970-01-01 (datetime) or the year (year-like integers)."""

    column: str
    is_year: bool
    days: np.ndarray
    """float days since the epoch per row (NaN where missing); for a year column, the year itself."""


@dataclass(frozen=True)
class Series:
    """A measure's mean per period, over the periods that have values."""

    measure: str
    period: PeriodName
    keys: np.ndarray
    """integer period keys, ascending (days, weeks, months, quarters or years since a fixed origin)"""
    values: np.ndarray
    counts: np.ndarray
    axis: TimeAxis

    @property
    def x(self) -> np.ndarray:
        """Periods since the first one (gaps kept)."""
        offsets: np.ndarray = (self.keys - self.keys[0]).astype("float64")
        return offsets

    @property
    def labels(self) -> list[str]:
        return [period_label(int(k), self.period) for k in self.keys]

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class Shape:
    """The better of a line and a one-step function on a series (by BIC)."""

    kind: Literal["trend", "step"]
    bic_line: float
    bic_step: float
    split: int
    """index of the first period after the best split"""
    seasonal: bool = False
    """a yearly season (one level per calendar month or quarter) entered the comparison"""


def axis(view: TableView) -> TimeAxis | None:
    def compute() -> TimeAxis | None:
        name = view.roles.time
        if name is None or name not in view.frame.columns:
            return None
        series = view.frame[name]
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            stamps = pd.DatetimeIndex(series)
            if stamps.tz is not None:
                stamps = stamps.tz_localize(None)
            nanos = stamps.as_unit("ns").asi8.astype("float64")
            days = np.where(stamps.isna(), np.nan, np.floor(nanos / 86_400e9))
            return TimeAxis(column=name, is_year=False, days=days)
        if pd.api.types.is_numeric_dtype(series.dtype):
            return TimeAxis(column=name, is_year=True, days=series.to_numpy(dtype="float64", na_value=np.nan))
        return None

    result: TimeAxis | None = view.cached(("ts.axis",), compute)
    return result


def finite(candidates: list[Candidate]) -> list[Candidate]:
    """The candidates whose p-value and strength are numbers (NaN would pass the FDR control as 0)."""
    return [
        c for c in candidates if (c.test.p_value is None or np.isfinite(c.test.p_value)) and np.isfinite(c.strength)
    ]


def per_series(view: TableView, build: Callable[[TableView, Series], Candidate | None]) -> list[Candidate]:
    """``build`` on each measure's per-period series (constant series skipped), finite results only; overflow
    on extreme magnitudes drops the test rather than raising."""
    out: list[Candidate] = []
    with np.errstate(all="ignore"):
        for measure in view.roles.measures:
            if view.expired():
                break
            found = series(view, measure)
            if found is None or np.ptp(found.values) == 0:
                continue
            candidate = build(view, found)
            if candidate is not None:
                out.append(candidate)
    return finite(out)


def numeric(view: TableView) -> pd.DataFrame:
    """The view's measures as float64 (missing and infinite values as NaN), computed once per view for every
    time-based type and extremes."""

    def compute() -> pd.DataFrame:
        measures = [m for m in view.roles.measures if m in view.frame.columns and m != view.roles.time]
        frame = view.frame[measures]
        if all(isinstance(t, np.dtype) and t.kind in "fiu" for t in frame.dtypes):
            matrix = np.array(frame.to_numpy(dtype="float64"), dtype="float64", copy=True)
        else:
            matrix = (
                np.column_stack(
                    [
                        pd.to_numeric(frame[m], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
                        for m in measures
                    ]
                )
                if measures
                else np.empty((len(frame), 0))
            )
        matrix[~np.isfinite(matrix)] = np.nan
        return pd.DataFrame(matrix, index=view.frame.index, columns=measures)

    result: pd.DataFrame = view.cached(("ts.numeric",), compute)
    return result


def period_keys(days: np.ndarray, period: PeriodName) -> np.ndarray:
    """Integer period keys (float, NaN where missing) of day numbers since the epoch."""
    if period == "day":
        return days.copy()
    if period == "week":
        return np.floor((days + 3.0) / 7.0)  # 1970-01-01 was a Thursday: weeks start on Monday
    valid = ~np.isnan(days)
    out = np.full(len(days), np.nan)
    dates = days[valid].astype("int64").astype("datetime64[D]")
    months = dates.astype("datetime64[M]").astype("int64")  # months since 1970-01
    if period == "month":
        out[valid] = months
    elif period == "quarter":
        out[valid] = np.floor_divide(months, 3)
    else:
        out[valid] = np.floor_divide(months, 12) + 1970
    return out


def period_label(key: int, period: PeriodName) -> str:
    if period == "year":
        return str(key)
    if period == "quarter":
        return f"{1970 + key // 4}-Q{key % 4 + 1}"
    if period == "month":
        return f"{1970 + key // 12}-{key % 12 + 1:02d}"
    if period == "week":
        return str(np.datetime64(key * 7 - 3, "D"))
    return str(np.datetime64(key, "D"))


def choose_period(view: TableView) -> PeriodName | None:
    """The coarsest period with ``TARGET_POINTS`` periods over the span (the finest if none), when it gives
    ``MIN_POINTS`` non-empty periods or more."""

    def compute() -> PeriodName | None:
        time_axis = axis(view)
        if time_axis is None:
            return None
        valid = time_axis.days[~np.isnan(time_axis.days)]
        if len(valid) == 0:
            return None
        if time_axis.is_year:
            return "year" if len(np.unique(valid)) >= MIN_POINTS else None
        span = float(valid.max() - valid.min())
        for period in PERIODS:
            if span / PERIOD_DAYS[period] + 1 >= TARGET_POINTS or period == "day":
                keys = period_keys(valid, period)
                if len(np.unique(keys)) >= MIN_POINTS:
                    return period
        return None

    result: PeriodName | None = view.cached(("ts.period",), compute)
    return result


def _means(view: TableView, period: PeriodName) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]] | None:
    """Period keys, and the mean and count per period of every measure (bincounts over the rows)."""

    def compute() -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]] | None:
        time_axis = axis(view)
        if time_axis is None:
            return None
        keys = time_axis.days if time_axis.is_year else period_keys(time_axis.days, period)
        data = numeric(view)
        valid = ~np.isnan(keys)
        if data.shape[1] == 0 or not valid.any():
            return None
        rows = np.flatnonzero(valid)
        order = rows[np.argsort(keys[rows], kind="stable")]
        ordered = keys[order].astype("int64")
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        periods = ordered[starts]
        matrix = data.to_numpy()[order]
        present = ~np.isnan(matrix)
        counts = np.add.reduceat(present.astype("float64"), starts, axis=0)
        sums = np.add.reduceat(np.where(present, matrix, 0.0), starts, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sums / counts
        return periods, means, counts.astype("int64"), [str(c) for c in data.columns]

    result: tuple[np.ndarray, np.ndarray, np.ndarray, list[str]] | None = view.cached(("ts.means", period), compute)
    return result


def series(view: TableView, measure: str, period: PeriodName | None = None) -> Series | None:
    """The measure's mean per period (the view's chosen period unless one is given); None when the table
    has no usable time column or the series has fewer than ``MIN_POINTS`` periods."""
    chosen = period or choose_period(view)
    if chosen is None:
        return None

    def compute() -> Series | None:
        time_axis = axis(view)
        if time_axis is None or (time_axis.is_year and chosen != "year"):
            return None
        tables = _means(view, chosen)
        if tables is None or measure not in tables[3]:
            return None
        keys, means, counts, measures = tables
        index = measures.index(measure)
        present = counts[:, index] > 0
        if int(present.sum()) < MIN_POINTS:
            return None
        return Series(
            measure=measure,
            period=chosen,
            keys=keys[present],
            values=means[present, index],
            counts=counts[present, index],
            axis=time_axis,
        )

    result: Series | None = view.cached(("ts.series", measure, chosen), compute)
    return result


def split_sse(values: np.ndarray, min_segment: int = MIN_SEGMENT) -> tuple[np.ndarray, np.ndarray]:
    """For every split ``k`` (before = values[:k], after = values[k:], both ≥ min_segment long): the
    candidate positions and the residual sum of squares of the two-mean fit."""
    n = len(values)
    splits = np.arange(min_segment, n - min_segment + 1)
    if len(splits) == 0:
        return splits, np.array([])
    centred = values - values.mean()
    cum = np.cumsum(centred)
    cum2 = np.cumsum(centred**2)
    left_n = splits.astype("float64")
    right_n = n - left_n
    left_sum = cum[splits - 1]
    right_sum = cum[-1] - left_sum
    sse = cum2[-1] - left_sum**2 / left_n - right_sum**2 / right_n
    return splits, np.maximum(sse, 0.0)


def _bic(sse: float, n: int, params: int) -> float:
    return n * float(np.log(max(sse, 1e-300) / n)) + params * float(np.log(n))


def shape(view: TableView, measure: str, period: PeriodName | None = None) -> Shape | None:
    """Line (intercept, slope, σ) against one step (two levels, the split, σ), by BIC on the series; on a
    monthly (quarterly) series over two years or more, both with one level per calendar month (quarter)
    where those matter, so that a yearly season is not mistaken for a step or a trend (whole table only)."""

    def compute() -> Shape | None:
        found = series(view, measure, period)
        if found is None or np.ptp(found.values) == 0:
            return None
        return fit_shape(found.x, found.values, season_of(found) if view.subspace is None else None)

    result: Shape | None = view.cached(("ts.shape", measure, period or choose_period(view)), compute)
    return result


def season_of(found: Series) -> np.ndarray | None:
    """The calendar month (quarter) of each period of a monthly (quarterly) series that covers every month
    (quarter) at least twice, else None."""
    cycle = {"month": 12, "quarter": 4}.get(found.period)
    if cycle is None or found.axis.is_year:
        return None
    season = found.keys % cycle
    seen = np.bincount(season, minlength=cycle)
    if seen.min() < 2 or len(found) < cycle + 8:
        return None
    return season


def _seasonal(x: np.ndarray, values: np.ndarray, season: np.ndarray) -> bool:
    """Whether the seasonal levels matter over a line (F-test at ``SEASON_ALPHA``): only then do they enter
    the shape comparison, which they would otherwise only blur (eleven more parameters on a few years)."""
    n = len(values)
    line = np.column_stack([np.ones(n), x])
    levels = np.unique(season)
    full = np.column_stack([line, (season[:, None] == levels[None, 1:]).astype("float64")])
    sse_line = float(np.sum((values - line @ np.linalg.lstsq(line, values, rcond=None)[0]) ** 2))
    sse_full = float(np.sum((values - full @ np.linalg.lstsq(full, values, rcond=None)[0]) ** 2))
    df_effect, df_error = full.shape[1] - 2, n - full.shape[1]
    if df_error < 1 or sse_full <= 0:
        return sse_full <= 0 < sse_line
    f_value = ((sse_line - sse_full) / df_effect) / (sse_full / df_error)
    return float(special.fdtrc(df_effect, df_error, f_value)) < SEASON_ALPHA


def fit_shape(x: np.ndarray, values: np.ndarray, season: np.ndarray | None = None) -> Shape | None:
    n = len(values)
    splits, sse = split_sse(values)
    if len(splits) == 0:
        return None
    if season is not None and not _seasonal(x, values, season):
        season = None
    if season is None:
        base = np.ones((n, 1))
    else:
        levels = np.unique(season)
        base = np.column_stack([np.ones(n), (season[:, None] == levels[None, 1:]).astype("float64")])
        # Frisch–Waugh–Lovell: the line's slope and each step, after the seasonal levels
        steps = (np.arange(n)[:, None] >= splits[None, :]).astype("float64")
        stacked = np.column_stack([values, x, steps])
        coef, *_ = np.linalg.lstsq(base, stacked, rcond=None)
        resid = stacked - base @ coef
        ry, rx, rs = resid[:, 0], resid[:, 1], resid[:, 2:]
        total = float(ry @ ry)
        sse = total - (ry @ rs) ** 2 / np.maximum((rs * rs).sum(axis=0), 1e-300)
        sse_line = total - float(ry @ rx) ** 2 / max(float(rx @ rx), 1e-300)
    if season is None:
        design = np.column_stack([base, x])
        coef, *_ = np.linalg.lstsq(design, values, rcond=None)
        sse_line = float(np.sum((values - design @ coef) ** 2))
    best = int(np.argmin(sse))
    extra = base.shape[1]
    bic_line = _bic(sse_line, n, extra + 2)
    bic_step = _bic(float(sse[best]), n, extra + 3)
    kind: Literal["trend", "step"] = "trend" if bic_line <= bic_step else "step"
    return Shape(kind=kind, bic_line=bic_line, bic_step=bic_step, split=int(splits[best]), seasonal=season is not None)


def adjusted(found: Series, shape: Shape | None) -> np.ndarray:
    """The series without its yearly season where the shape found one (each value minus its calendar
    month's (quarter's) mean, plus the overall mean), else the series as it is."""
    season = season_of(found) if shape is not None and shape.seasonal else None
    if season is None:
        return found.values
    means = np.bincount(season, weights=found.values) / np.maximum(np.bincount(season), 1)
    out: np.ndarray = found.values - means[season] + found.values.mean()
    return out


def adjusted_expr(found: Series, shape: Shape | None) -> str:
    """pandas code for :func:`adjusted` over the series ``s`` (a PeriodIndex)."""
    if shape is None or not shape.seasonal or season_of(found) is None:
        return ""
    part = "month" if found.period == "month" else "quarter"
    return f"s = s - s.groupby(s.index.{part}).transform('mean') + s.mean(); "


def per_period_expr(view: TableView, measure: str, period: PeriodName) -> str:
    """pandas code for the series: the measure's mean per period."""
    time_axis = axis(view)
    name = time_axis.column if time_axis is not None else ""
    df = view.df()
    if time_axis is not None and time_axis.is_year:
        return f"{df}.groupby({df}{col(name)}){col(measure)}.mean()"
    freq = json.dumps(PANDAS_FREQ[period])
    return f"{df}.groupby(pd.to_datetime({df}{col(name)}).dt.to_period({freq})){col(measure)}.mean()"


def x_expr(view: TableView) -> str:
    """pandas code for the periods since the first one, over the series ``s``."""
    time_axis = axis(view)
    if time_axis is not None and time_axis.is_year:
        return "(s.index - s.index[0]).to_numpy()"
    return "np.array([(p - s.index[0]).n for p in s.index])"


def percent_reads(before: float, after: float) -> bool:
    """A change reads well as a percentage when both levels are positive and neither is over ten times the
    other (from 0.02 to 1.8 is "+1.78", not "+7,889.5%")."""
    return before > 0 and after > 0 and min(before, after) >= 0.1 * max(before, after)


def per_word(period: PeriodName) -> str:
    return {"day": "per day", "week": "per week", "month": "per month", "quarter": "per quarter", "year": "per year"}[
        period
    ]


def chart_rows(found: Series) -> list[dict[str, object]]:
    values: list[float] = found.values.astype("float64").tolist()
    return [{"period": label, found.measure: value} for label, value in zip(found.labels, values, strict=True)]
