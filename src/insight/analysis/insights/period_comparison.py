"""Period comparisons over full calendar years: the best and the worst year, and the last year against the
one before.

Years are compared by the measure's average over their rows (the tests compare rows, so the figures are
the averages the tests are about; a total would also move with the number of rows a year has). Only full
years count: the first and last years of a datetime column count when the data reach (within the usual gap
between dates, at least a week, at most a month and a half) their first and last day; every year of a year
column counts.

- best/worst year (three full years or more): one-way ANOVA F across the years (from per-year counts,
  means and variances: one groupby for every measure), effect ε²;
- year over year (the last full year and the one before it): Welch's t on their rows, effect Cohen's d.

Which planted shapes make these fire legitimately (the evaluation should count them as related findings,
not false positives): a **trend** (years differ; the last year is above or below the one before), a
**change point** (the years after the step differ from those before it; year over year when the step falls
between the last two full years) and a **group difference tied to time**. A **seasonal** profile does not:
every full year holds the whole season. Neither does a weekday profile.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

from insight.analysis.insights import timeseries
from insight.analysis.insights.base import (
    MIN_GROUP_ROWS,
    Candidate,
    TableView,
    bar_chart,
    col,
    label,
    num,
    pct,
)
from insight.analysis.insights.model import InsightTest

MIN_YEARS = 3
MIN_EPSILON2 = 0.02
MIN_COHEN_D = 0.2
# A first (last) year counts as full when the data start (end) within this many days of its first (last)
# day: 1.5 × the usual gap between dates (90th percentile), at least a week, at most a month and a half.
MIN_EDGE_DAYS = 7.0
MAX_EDGE_DAYS = 46.0


def find(view: TableView) -> list[Candidate]:
    with np.errstate(all="ignore"):  # overflow on extreme magnitudes: such tests are dropped, not raised
        return timeseries.finite(_find(view))


def _find(view: TableView) -> list[Candidate]:
    stats_by_year = _year_stats(view)
    if stats_by_year is None:
        return []
    counts, means, variances = stats_by_year
    out: list[Candidate] = []
    for measure in view.roles.measures:
        if view.expired():
            break
        if measure not in counts.columns:
            continue
        n = counts[measure]
        kept = n.index[n >= MIN_GROUP_ROWS]
        if len(kept) < 2:
            continue
        table = pd.DataFrame({"n": n[kept], "mean": means[measure][kept], "var": variances[measure][kept]})
        if len(table) >= MIN_YEARS:
            best_worst = _best_worst(view, measure, table)
            if best_worst is not None:
                out.append(best_worst)
        year_over_year = _year_over_year(view, measure, table)
        if year_over_year is not None:
            out.append(year_over_year)
    return out


def _year_stats(view: TableView) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None:
    """Rows, mean and variance per full year of every measure."""

    def compute() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None:
        time_axis = timeseries.axis(view)
        if time_axis is None:
            return None
        days = time_axis.days
        valid = ~np.isnan(days)
        if not valid.any():
            return None
        years = days if time_axis.is_year else timeseries.period_keys(days, "year")
        full = _full_years(days[valid], years[valid], time_axis.is_year)
        if len(full) < 2:
            return None
        data = timeseries.numeric(view)
        if data.shape[1] == 0:
            return None
        keep = np.isin(years, full)
        data = data.loc[keep]
        grouped = data.groupby(pd.Series(years[keep].astype("int64"), index=data.index), sort=True)
        return grouped.count(), grouped.mean(), grouped.var(ddof=1)

    result: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None = view.cached(("period.years",), compute)
    return result


def _full_years(days: np.ndarray, years: np.ndarray, is_year: bool) -> np.ndarray:
    present = np.unique(years).astype("int64")
    if is_year:
        return present
    distinct = np.unique(days)
    gap = float(np.quantile(np.diff(distinct), 0.9)) if len(distinct) > 1 else 1.0
    tolerance = min(MAX_EDGE_DAYS, max(MIN_EDGE_DAYS, 1.5 * gap))
    first, last = float(distinct[0]), float(distinct[-1])
    starts_days = (present - 1970).astype("datetime64[Y]").astype("datetime64[D]").astype("float64")
    ends_days = (present - 1970 + 1).astype("datetime64[Y]").astype("datetime64[D]").astype("float64") - 1.0
    full = (starts_days >= first - tolerance) & (ends_days <= last + tolerance)
    return present[full]


def _year_expr(view: TableView) -> str:
    time_axis = timeseries.axis(view)
    name = time_axis.column if time_axis is not None else ""
    df = view.df()
    if time_axis is not None and time_axis.is_year:
        return f"{df}{col(name)}"
    return f"pd.to_datetime({df}{col(name)}).dt.year"


def _best_worst(view: TableView, measure: str, table: pd.DataFrame) -> Candidate | None:
    n = table["n"].to_numpy(dtype="float64")
    means = table["mean"].to_numpy(dtype="float64")
    variances = table["var"].to_numpy(dtype="float64")
    total_n, groups = float(n.sum()), len(n)
    grand = float(np.sum(n * means) / total_n)
    ss_between = float(np.sum(n * (means - grand) ** 2))
    ss_within = float(np.sum((n - 1) * variances))
    df_between, df_within = groups - 1, total_n - groups
    if ss_within <= 0 or df_within < 1 or ss_between <= 0:
        return None
    mse = ss_within / df_within
    f_value = (ss_between / df_between) / mse
    p_value = float(special.fdtrc(df_between, df_within, f_value))
    epsilon2 = max(0.0, (ss_between - df_between * mse) / (ss_between + ss_within))
    years = [int(y) for y in table.index]
    best, worst = int(np.argmax(means)), int(np.argmin(means))
    span = f"{years[0]}–{years[-1]}"
    values = [
        label("years", span, "the full years compared"),
        label("best_year", str(years[best]), f"year with the highest average {measure}"),
        num("best_average", float(means[best]), f"average {measure} in {years[best]}"),
        label("worst_year", str(years[worst]), f"year with the lowest average {measure}"),
        num("worst_average", float(means[worst]), f"average {measure} in {years[worst]}"),
    ]
    statement = (
        f"Of the full years {span}, average {measure}{view.where()} was highest in {years[best]} "
        f"({values[2].text}) and lowest in {years[worst]} ({values[4].text})."
    )
    df = view.df()
    rows = [{"year": str(y), measure: float(m)} for y, m in zip(years, means, strict=True)]
    chart = bar_chart(f"Average {measure} per full year", "year", measure, rows)
    chart["encoding"]["x"]["sort"] = [row["year"] for row in rows]
    time_column = timeseries.axis(view).column  # type: ignore[union-attr]
    return Candidate(
        type="period_comparison",
        columns=[time_column, measure],
        statement=statement,
        values=values,
        test=InsightTest(
            name="one-way ANOVA across full years",
            statistic=f_value,
            p_value=p_value,
            effect_name="epsilon2",
            effect_size=epsilon2,
        ),
        strength=min(1.0, epsilon2),
        reportable=epsilon2 >= MIN_EPSILON2 and best != worst,
        expression=f"{df}.groupby({_year_expr(view)}){col(measure)}.mean().loc[{years[0]}:{years[-1]}]",
        chart=chart,
    )


def _year_over_year(view: TableView, measure: str, table: pd.DataFrame) -> Candidate | None:
    years = [int(y) for y in table.index]
    last, previous = years[-1], years[-2]
    if last - previous != 1:
        return None
    n1, m1, v1 = (float(v) for v in table.loc[last, ["n", "mean", "var"]].to_numpy(dtype="float64"))
    n0, m0, v0 = (float(v) for v in table.loc[previous, ["n", "mean", "var"]].to_numpy(dtype="float64"))
    if v1 + v0 <= 0 or m1 == m0:
        return None
    welch = stats.ttest_ind_from_stats(m1, np.sqrt(v1), n1, m0, np.sqrt(v0), n0, equal_var=False)
    pooled = np.sqrt(((n1 - 1) * v1 + (n0 - 1) * v0) / (n1 + n0 - 2))
    cohen_d = float((m1 - m0) / pooled) if pooled > 0 else float("inf")
    values = [
        label("year", str(last), "the last full year"),
        num("average", m1, f"average {measure} in {last}"),
        label("previous_year", str(previous), "the year before"),
        num("previous_average", m0, f"average {measure} in {previous}"),
    ]
    if timeseries.percent_reads(m0, m1):
        values.append(pct("change_pct", (m1 - m0) / m0 * 100.0, f"change on {previous}", signed=True))
        statement = (
            f"Average {measure}{view.where()} in {last} was {values[1].text}, {values[4].text} on {previous} "
            f"({values[3].text})."
        )
    else:
        values.append(num("change", m1 - m0, f"change on {previous}", signed=True))
        statement = (
            f"Average {measure}{view.where()} in {last} was {values[1].text} against {values[3].text} in "
            f"{previous} ({values[4].text})."
        )
    df = view.df()
    year = _year_expr(view)
    rows = [{"year": str(previous), measure: m0}, {"year": str(last), measure: m1}]
    chart = bar_chart(f"Average {measure}: {last} against {previous}", "year", measure, rows)
    chart["encoding"]["x"]["sort"] = [str(previous), str(last)]
    time_column = timeseries.axis(view).column  # type: ignore[union-attr]
    return Candidate(
        type="period_comparison",
        columns=[time_column, measure],
        statement=statement,
        values=values,
        test=InsightTest(
            name=f"welch-t {last} vs {previous}",
            statistic=float(welch.statistic),
            p_value=float(welch.pvalue),
            effect_name="cohen_d",
            effect_size=cohen_d,
        ),
        strength=min(1.0, abs(cohen_d) / (1.0 + abs(cohen_d))),
        reportable=abs(cohen_d) >= MIN_COHEN_D,
        expression=(
            f"stats.ttest_ind({df}[{year} == {last}]{col(measure)}.dropna(), "
            f"{df}[{year} == {previous}]{col(measure)}.dropna(), equal_var=False)"
        ),
        chart=chart,
        direction=1 if m1 > m0 else -1,
    )
