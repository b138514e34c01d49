"""Seasonality: month-of-year and weekday profiles of a measure, with their peak and trough.

- Month of year (a datetime time column over at least two years, every calendar month seen twice): the
  measure's mean per month is fitted by a baseline — a line, or one step — plus one effect per calendar
  month; the test is the F-test of the month effects over the baseline alone (exact for independent normal
  monthly means), and its p-value the largest over the line and every step position, since which baseline
  holds is not known in advance. The baseline matters: a trend or a step left in the series would show as
  a month-of-year profile whenever the years are covered unevenly.
- Weekday (daily data over at least four weeks): the measure's mean per day, tested by the F-test of the
  weekday effects in the additive model weeks + weekdays (the weeks as blocks, fitted by demeaning within
  each week, so gaps and unbalanced weeks are fine) — the blocks absorb any trend, step or yearly season, so
  only the within-week pattern is tested.

Strength is the partial ε² of the month (weekday) effects. Peak and trough are the calendar months
(weekdays) with the highest and lowest average over the rows — the figures the statement quotes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from insight.analysis.insights import timeseries
from insight.analysis.insights.base import Candidate, TableView, bar_chart, col, label, num
from insight.analysis.insights.model import InsightTest

MIN_EPSILON2 = 0.05
MIN_YEARS = 2
MIN_WEEKS = 4


def find(view: TableView) -> list[Candidate]:
    with np.errstate(all="ignore"):  # overflow on extreme magnitudes: such tests are dropped, not raised
        return timeseries.finite(_find(view))


def _find(view: TableView) -> list[Candidate]:
    time_axis = timeseries.axis(view)
    if time_axis is None or time_axis.is_year:
        return []
    out: list[Candidate] = []
    for measure in view.roles.measures:
        if view.expired():
            break
        out.extend(c for c in (_months(view, measure), _weekdays(view, measure)) if c is not None)
    return out


def _row_profile(view: TableView, part: str) -> pd.DataFrame | None:
    """Mean per calendar month (1–12) or weekday (0 = Monday) of every measure, over the rows."""

    def compute() -> pd.DataFrame | None:
        time_axis = timeseries.axis(view)
        if time_axis is None:
            return None
        days = time_axis.days
        if part == "month":
            keys = timeseries.period_keys(days, "month") % 12 + 1
        else:
            keys = (days + 3.0) % 7  # 1970-01-01 was a Thursday (weekday 3)
        data = timeseries.numeric(view)
        profile: pd.DataFrame = data.groupby(pd.Series(keys, index=data.index)).mean()
        return profile

    result: pd.DataFrame | None = view.cached(("seasonality.profile", part), compute)
    return result


def _months(view: TableView, measure: str) -> Candidate | None:
    found = timeseries.series(view, measure, "month")
    if found is None:
        return None
    month = found.keys % 12
    seen = np.bincount(month, minlength=12)
    if seen.min() < MIN_YEARS or np.ptp(found.values) == 0:
        return None
    dummies = (month[:, None] == np.arange(1, 12)[None, :]).astype("float64")
    test = _least_significant(found.values, _baselines(found.x), dummies)
    if test is None:
        return None
    f_value, p_value, epsilon2 = test
    names = [timeseries.MONTH_NAMES[i] for i in range(12)]
    return _candidate(view, measure, "month", f_value, p_value, epsilon2, names, "month-of-year")


def _weekdays(view: TableView, measure: str) -> Candidate | None:
    found = timeseries.series(view, measure, "day")
    if found is None or len(found) < MIN_WEEKS * 7:
        return None
    week = (found.keys + 3) // 7
    weekday = (found.keys + 3) % 7
    # weeks with two days or more carry information about the weekdays once the week's level is removed
    _, week_index, week_days = np.unique(week, return_inverse=True, return_counts=True)
    used = week_days[week_index] >= 2
    if int(np.unique(week[used]).size) < MIN_WEEKS:
        return None
    week, weekday, values = week[used], weekday[used], found.values[used]
    kept = np.unique(weekday)
    if len(kept) < 2 or np.ptp(values) == 0:
        return None
    # Weeks as blocks (Frisch–Waugh–Lovell: demean the values and the weekday indicators within each week),
    # then the F-test of the weekday indicators (normal equations: a 6 × 6 system per measure).
    _, block = np.unique(week, return_inverse=True)
    sizes = np.bincount(block).astype("float64")
    dummies = (weekday[:, None] == kept[None, 1:]).astype("float64")
    within_y = values - (np.bincount(block, weights=values) / sizes)[block]
    block_share = np.stack([np.bincount(block, weights=d) for d in dummies.T], axis=1) / sizes[:, None]
    within_d = dummies - block_share[block]
    n_blocks = len(sizes)
    gram = within_d.T @ within_d
    df_weekday = int(np.linalg.matrix_rank(gram))
    df_error = len(values) - n_blocks - df_weekday
    sse_reduced = float(within_y @ within_y)
    if df_weekday < 1 or df_error < 1:
        return None
    coef = np.linalg.lstsq(gram, within_d.T @ within_y, rcond=None)[0]
    sse_full = max(0.0, sse_reduced - float(coef @ (within_d.T @ within_y)))
    if sse_full <= 1e-12 * max(1.0, sse_reduced):
        return None
    ss_weekday = max(0.0, sse_reduced - sse_full)
    mse = sse_full / df_error
    f_value = (ss_weekday / df_weekday) / mse
    p_value = float(special.fdtrc(df_weekday, df_error, f_value))
    epsilon2 = max(0.0, (ss_weekday - df_weekday * mse) / (ss_weekday + sse_full))
    names = [timeseries.WEEKDAY_NAMES[i] for i in range(7)]
    return _candidate(
        view, measure, "weekday", f_value, p_value, epsilon2, names, "weekday", kept=[int(k) for k in kept]
    )


def _baselines(x: np.ndarray) -> np.ndarray:
    """The line, and one step at every split ``timeseries.split_sse`` would try: (baselines, n, 2)."""
    n = len(x)
    splits, _ = timeseries.split_sse(np.zeros(n))
    steps = (np.arange(n)[None, :] >= splits[:, None]).astype("float64")
    second = np.concatenate([x[None, :], steps])
    return np.stack([np.ones_like(second), second], axis=2)


def _least_significant(y: np.ndarray, baselines: np.ndarray, effects: np.ndarray) -> tuple[float, float, float] | None:
    """The F-test of ``effects`` over each baseline, keeping the one with the largest p-value.

    The step's position is chosen from the data (with the season in the model, the best split is the one
    that leaves the smallest residual), so a test over that one baseline would count its residual as
    noise although the split was fitted to shrink it: on noise it reported month-of-year profiles at
    p ≈ 1e-5. The largest p over every baseline the series could have is valid whichever of them is
    true (it is never below the p of the true one). All baselines are fitted at once (batched QR)."""
    count, n, _ = baselines.shape
    full = np.concatenate([baselines, np.broadcast_to(effects, (count, *effects.shape))], axis=2)
    sse_reduced, rank_reduced = _batched_sse(y, baselines)
    sse_full, rank_full = _batched_sse(y, full)
    if rank_reduced is None or rank_full is None:  # a collinear design: fit each one exactly
        tests = [_nested_f(y, b, f) for b, f in zip(baselines, full, strict=True)]
        if any(t is None for t in tests):
            return None
        return max((t for t in tests if t is not None), key=lambda t: t[1])
    df_effect, df_error = rank_full - rank_reduced, n - rank_full
    if df_effect < 1 or df_error < 1 or np.any(sse_full <= 1e-12 * np.maximum(1.0, sse_reduced)):
        return None
    ss_effect = np.maximum(0.0, sse_reduced - sse_full)
    mse = sse_full / df_error
    f_values = (ss_effect / df_effect) / mse
    p_values = special.fdtrc(df_effect, df_error, f_values)
    worst = int(np.argmax(p_values))
    epsilon2 = max(0.0, float((ss_effect[worst] - df_effect * mse[worst]) / (ss_effect[worst] + sse_full[worst])))
    return float(f_values[worst]), float(p_values[worst]), epsilon2


def _batched_sse(y: np.ndarray, designs: np.ndarray) -> tuple[np.ndarray, int | None]:
    """Residual sums of squares of ``y`` on each design, and their common rank (None unless every design
    has full column rank)."""
    q, r = np.linalg.qr(designs)
    diagonal = np.abs(np.diagonal(r, axis1=1, axis2=2))
    tolerance = diagonal.max(axis=1, keepdims=True) * max(designs.shape[1:]) * np.finfo("float64").eps
    if np.any(diagonal <= tolerance):
        return np.zeros(len(designs)), None
    fitted = np.einsum("bnk,n->bk", q, y)
    return np.maximum(float(y @ y) - np.sum(fitted**2, axis=1), 0.0), designs.shape[2]


def _nested_f(y: np.ndarray, reduced: np.ndarray, full: np.ndarray) -> tuple[float, float, float] | None:
    """F-test of the columns ``full`` adds to ``reduced``; (F, p, partial ε²)."""
    n = len(y)
    rank_reduced = int(np.linalg.matrix_rank(reduced))
    rank_full = int(np.linalg.matrix_rank(full))
    df_effect, df_error = rank_full - rank_reduced, n - rank_full
    if df_effect < 1 or df_error < 1:
        return None
    sse_reduced = _sse(y, reduced)
    sse_full = _sse(y, full)
    if sse_full <= 1e-12 * max(1.0, sse_reduced):
        return None
    ss_effect = max(0.0, sse_reduced - sse_full)
    mse = sse_full / df_error
    f_value = (ss_effect / df_effect) / mse
    p_value = float(special.fdtrc(df_effect, df_error, f_value))
    epsilon2 = max(0.0, (ss_effect - df_effect * mse) / (ss_effect + sse_full))
    return f_value, p_value, epsilon2


def _sse(y: np.ndarray, design: np.ndarray) -> float:
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(np.sum((y - design @ coef) ** 2))


def _candidate(
    view: TableView,
    measure: str,
    part: str,
    f_value: float,
    p_value: float,
    epsilon2: float,
    names: list[str],
    test_name: str,
    kept: list[int] | None = None,
) -> Candidate | None:
    profile = _row_profile(view, part)
    if profile is None or measure not in profile.columns:
        return None
    averages = profile[measure].dropna()
    if kept is not None:
        averages = averages[averages.index.isin(kept)]
    if len(averages) < 2 or not np.isfinite(f_value):
        return None
    offset = 1 if part == "month" else 0
    keys = [int(k) for k in averages.index.to_numpy()]
    levels = averages.to_numpy(dtype="float64")
    peak_key, trough_key = keys[int(np.argmax(levels))], keys[int(np.argmin(levels))]
    peak_name, trough_name = names[peak_key - offset], names[trough_key - offset]
    values = [
        label("peak", peak_name, f"{part} with the highest average {measure}"),
        num("peak_average", float(averages.max()), f"average {measure} in {peak_name}"),
        label("trough", trough_name, f"{part} with the lowest average {measure}"),
        num("trough_average", float(averages.min()), f"average {measure} in {trough_name}"),
    ]
    time_column = timeseries.axis(view).column  # type: ignore[union-attr]
    if part == "month":
        statement = (
            f"{measure}{view.where()} peaks in {peak_name} (average {values[1].text}) and is lowest in "
            f"{trough_name} ({values[3].text})."
        )
        accessor = "month"
    else:
        statement = (
            f"{measure}{view.where()} is highest on {peak_name}s (average {values[1].text}) and lowest on "
            f"{trough_name}s ({values[3].text})."
        )
        accessor = "day_of_week"
    df = view.df()
    expression = f"{df}.groupby(pd.to_datetime({df}{col(time_column)}).dt.{accessor}){col(measure)}.mean()"
    rows = [{part: names[k - offset], measure: float(v)} for k, v in zip(keys, levels, strict=True)]
    chart = bar_chart(f"Average {measure} by {part}", part, measure, rows)
    chart["encoding"]["x"]["sort"] = [row[part] for row in rows]
    return Candidate(
        type="seasonality",
        columns=[time_column, measure],
        statement=statement,
        values=values,
        test=InsightTest(
            name=f"F-test of {test_name} effects",
            statistic=float(f_value),
            p_value=p_value,
            effect_name="partial_epsilon2",
            effect_size=epsilon2,
        ),
        strength=min(1.0, epsilon2),
        reportable=epsilon2 >= MIN_EPSILON2 and peak_key != trough_key,
        expression=expression,
        chart=chart,
    )
