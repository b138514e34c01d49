"""Change points: one step in a measure's mean per period, with the levels before and after.

The split is the exhaustive best one (least squares over every split that leaves ``MIN_SEGMENT`` periods
on each side — the same split ``timeseries.shape`` compares with a line), from cumulative sums: the same
split as ruptures' ``Binseg(model="l2", min_size=3, jump=1)`` with one breakpoint (200 of 200 random
series agreed, 2026-12-03) at ~0.02 ms instead of ~3 ms per series, which matters across every measure.
Its test is Student's t of the periods before against the periods after, Bonferroni-corrected for the
number of splits tried, so the p-value stays valid although the split was chosen to make it small. It is
reported only when the series is better described by one step than by a line (``timeseries.shape``) and
the step explains at least ``MIN_R2`` of the series' variance. Where the shape comparison found a yearly
season, the split, the levels and the test are those of the seasonally adjusted series (as for trends).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from insight.analysis.insights import timeseries
from insight.analysis.insights.base import Candidate, TableView, label, line_chart, num, pct
from insight.analysis.insights.model import InsightTest

MIN_R2 = 0.25


def find(view: TableView) -> list[Candidate]:
    return timeseries.per_series(view, _change_point)


def best_split(values: np.ndarray) -> tuple[int, float, float, int] | None:
    """(split, t, Bonferroni-corrected p, number of splits tried) of the best one-step fit."""
    n = len(values)
    splits, sse = timeseries.split_sse(values)
    if len(splits) == 0 or n < 3:
        return None
    best = int(np.argmin(sse))
    k = int(splits[best])
    before, after = values[:k], values[k:]
    pooled = float(sse[best]) / (n - 2)
    if pooled <= 0:
        if after.mean() == before.mean():
            return None
        return k, float("inf"), 0.0, len(splits)
    t = float((after.mean() - before.mean()) / np.sqrt(pooled * (1.0 / len(before) + 1.0 / len(after))))
    p_single = float(2.0 * special.stdtr(n - 2, -abs(t)))
    return k, t, min(1.0, p_single * len(splits)), len(splits)


def _change_point(view: TableView, found: timeseries.Series) -> Candidate | None:
    shape = timeseries.shape(view, found.measure)
    values = timeseries.adjusted(found, shape)
    adjust = timeseries.adjusted_expr(found, shape)
    split = best_split(values)
    if split is None:
        return None
    k, t, p_value, tried = split
    before, after = float(values[:k].mean()), float(values[k:].mean())
    total = float(np.sum((values - values.mean()) ** 2))
    within = float(np.sum((values[:k] - before) ** 2) + np.sum((values[k:] - after) ** 2))
    r2 = 1.0 - within / total if total > 0 else 0.0
    is_step = shape is not None and shape.kind == "step"
    measure = found.measure
    per = timeseries.per_word(found.period) + (" (seasonally adjusted)" if adjust else "")
    labels = found.labels
    when = labels[k]
    values_out = [
        num("before", before, f"average {measure} {per} before {when}"),
        num("after", after, f"average {measure} {per} from {when} on"),
        label("change_period", when, "first period after the change"),
    ]
    if timeseries.percent_reads(before, after):
        values_out.append(pct("change_pct", (after - before) / before * 100.0, "change of the level", signed=True))
    else:
        values_out.append(num("change", after - before, "change of the level", signed=True))
    word = "stepped up" if after > before else "stepped down"
    statement = (
        f"Average {measure} {per}{view.where()} {word} from {values_out[0].text} to {values_out[1].text} "
        f"({values_out[3].text}) from {when} on."
    )
    expression = (
        f"s = {timeseries.per_period_expr(view, measure, found.period)}; {adjust}"
        f"s.iloc[:{k}].mean(), s.iloc[{k}:].mean(), stats.ttest_ind(s.iloc[:{k}], s.iloc[{k}:])"
    )
    x_type = "temporal" if found.period in ("day", "week", "month") else "ordinal"
    return Candidate(
        type="change_point",
        columns=[found.axis.column, measure],
        statement=statement,
        values=values_out,
        test=InsightTest(
            name=f"student-t before/after, Bonferroni over {tried} splits",
            statistic=t,
            p_value=p_value,
            effect_name="r2_step",
            effect_size=r2,
        ),
        strength=min(1.0, max(0.0, r2)),
        reportable=is_step and r2 >= MIN_R2,
        expression=expression,
        chart=line_chart(f"Average {measure} {per}", "period", measure, timeseries.chart_rows(found), x_type=x_type),
        direction=1 if after > before else -1,
    )
