"""Trends over the time column: the measure's mean per period, Mann–Kendall test, Theil–Sen slope.

One test per measure: Mann–Kendall on the per-period means (valid for independent periods). The
Mann–Kendall S is Kendall's S between the period index and the values: :func:`mann_kendall` returns what
``scipy.stats.kendalltau(order, values, method="asymptotic")`` returns (the normal approximation with the
tie-corrected variance, as ``pymannkendall.original_test`` computes it; both agreements are tested), without
scipy's ~1 ms per call and pymannkendall's loop, which matters because trends are searched in every
subspace. The change
is read off the fitted Theil–Sen line, from its value at the first period to its value at the last. It is
reported only when the per-period series is better described by a line than by one step (see
``timeseries.shape``) and Kendall's |τ| is at least ``MIN_TAU``.

Where the shape comparison found a yearly season (a monthly or quarterly series over two years or more whose
calendar-month levels matter, F-test at ``timeseries.SEASON_ALPHA``), the test and the line are computed on
the seasonally adjusted series (each value minus its calendar month's mean, plus the overall mean): the
season's swing would otherwise hide the trend from Mann–Kendall. The statement says "seasonally adjusted".
In one-filter subspaces the series is tested as it is (cheaper; a yearly season is the whole table's
finding).
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

from insight.analysis.insights import timeseries
from insight.analysis.insights.base import Candidate, TableView, label, line_chart, num, pct
from insight.analysis.insights.model import InsightTest

MIN_TAU = 0.3
# A test whose raw p-value is above this cannot pass the FDR control at any usual q (the adjusted p-value is
# never below the raw one): it is returned, so that it counts, without the Theil–Sen line, figures or chart.
# Trends are searched in every subspace, where most tests end here.
LIGHT_P = 0.25


def find(view: TableView) -> list[Candidate]:
    return timeseries.per_series(view, _trend)


def mann_kendall(values: np.ndarray) -> tuple[float, float]:
    """Kendall's τ-b of the values against their order and the Mann–Kendall two-sided p-value (normal
    approximation, variance corrected for ties): what ``scipy.stats.kendalltau(order, values,
    method="asymptotic")`` returns (tested), without its per-call overhead (~1 ms, most of the cost of a
    trend test on a short series, and trends are tested in every subspace)."""
    n = len(values)
    s = float(np.sum(np.sign(values[None, :] - values[:, None])[np.triu_indices(n, k=1)]))
    _, ties = np.unique(values, return_counts=True)
    variance = (n * (n - 1) * (2 * n + 5) - float(np.sum(ties * (ties - 1) * (2 * ties + 5)))) / 18.0
    pairs = n * (n - 1) / 2.0
    tied = float(np.sum(ties * (ties - 1))) / 2.0
    if variance <= 0 or pairs - tied <= 0:
        return 0.0, float("nan")
    tau = s / np.sqrt(pairs * (pairs - tied))
    return float(tau), float(2.0 * special.ndtr(-abs(s) / np.sqrt(variance)))


def _trend(view: TableView, found: timeseries.Series) -> Candidate | None:
    # In a subspace the series is tested as it is, and its shape is fitted only when the test could pass:
    # trends are searched in every subspace, and a yearly season is the whole table's finding.
    shape = timeseries.shape(view, found.measure) if view.subspace is None else None
    values = timeseries.adjusted(found, shape)
    adjust = timeseries.adjusted_expr(found, shape)
    x = found.x
    tau, p_value = mann_kendall(values)
    if not np.isfinite(p_value) or not np.isfinite(tau):
        return None
    per = timeseries.per_word(found.period) + (" (seasonally adjusted)" if adjust else "")
    test = InsightTest(
        name="mann-kendall" + (" on the seasonally adjusted series" if adjust else ""),
        statistic=tau,
        p_value=p_value,
        effect_name="kendall_tau",
        effect_size=tau,
    )
    if p_value > LIGHT_P:
        return Candidate(
            type="trend",
            columns=[found.axis.column, found.measure],
            statement=f"Average {found.measure} {per}{view.where()} shows no clear trend.",
            values=[],
            test=test,
            strength=min(1.0, abs(tau)),
            reportable=False,
            expression=f"s = {timeseries.per_period_expr(view, found.measure, found.period)}; {adjust}"
            f"x = {timeseries.x_expr(view)}; stats.kendalltau(x, s.to_numpy())",
            direction=1 if tau > 0 else -1,
        )
    if shape is None:
        shape = timeseries.shape(view, found.measure)
    slope, intercept = (float(v) for v in stats.theilslopes(values, x)[:2])
    start = intercept + slope * float(x[0])
    end = intercept + slope * float(x[-1])
    is_line = shape is not None and shape.kind == "trend"
    measure = found.measure
    unit = timeseries.per_word(found.period).removeprefix("per ")
    labels = found.labels
    rose = end > start
    word = "rose" if rose else ("fell" if end < start else "stayed")
    values_out = [
        num("start", start, f"fitted average {measure} {per} at {labels[0]}"),
        label("start_period", labels[0], "first period"),
        num("end", end, f"fitted average {measure} {per} at {labels[-1]}"),
        label("end_period", labels[-1], "last period"),
        num("slope", slope, f"Theil–Sen slope: change of average {measure} {per}", signed=True),
    ]
    change_text = ""
    if timeseries.percent_reads(start, end):
        values_out.append(pct("change_pct", (end - start) / start * 100.0, "change over the period", signed=True))
        change_text = f", {values_out[-1].text}"
    else:
        values_out.append(num("change", end - start, "change over the period", signed=True))
        change_text = f", {values_out[-1].text}"
    statement = (
        f"Average {measure} {per}{view.where()} {word} from {values_out[0].text} ({labels[0]}) to "
        f"{values_out[2].text} ({labels[-1]}){change_text}, about {values_out[4].text} per {unit}."
    )
    expression = (
        f"s = {timeseries.per_period_expr(view, measure, found.period)}; {adjust}"
        f"x = {timeseries.x_expr(view)}; "
        "stats.theilslopes(s.to_numpy(), x), stats.kendalltau(x, s.to_numpy())"
    )
    x_type = "temporal" if found.period in ("day", "week", "month") else "ordinal"
    return Candidate(
        type="trend",
        columns=[found.axis.column, measure],
        statement=statement,
        values=values_out,
        test=test,
        strength=min(1.0, abs(tau)),
        reportable=is_line and abs(tau) >= MIN_TAU and start != end,
        expression=expression,
        chart=line_chart(f"Average {measure} {per}", "period", measure, timeseries.chart_rows(found), x_type=x_type),
        direction=1 if rose else -1,
    )
