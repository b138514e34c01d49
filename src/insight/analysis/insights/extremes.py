"""Extremes and outliers of each measure, on the robust z-score (distance from the median in units of
1.4826 × MAD; the mean absolute deviation × 1.2533 where the MAD is 0).

- ``extreme``: the highest or the lowest value, whichever lies further from the median, with where or when
  (the time value, else the row's dimension labels or entity). Reported only when it is an outlier
  (|robust z| ≥ ``OUTLIER_Z``). Test: Grubbs' test of that value, whose p-value (2n × the t tail) is
  corrected for taking the most extreme of n values on either side.
- ``outliers``: how many values have |robust z| > ``OUTLIER_Z``, with up to three examples. Test: the count
  against the count a normal sample of that size gives, with the spread of the estimated median and MAD
  taken into account (a binomial mixed over their sampling distributions), so iid normal noise is not
  reported. Skewed and heavy-tailed columns do report outliers: they have more than a normal sample would.

An extreme or a set of outliers concerns a few rows, so its strength is kept at most ``MAX_STRENGTH``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from insight.analysis.insights import timeseries
from insight.analysis.insights.base import MAX_CHART_POINTS, Candidate, TableView, col, label, num, pct
from insight.analysis.insights.model import InsightTest, InsightValue

OUTLIER_Z = 3.5
MIN_ROWS = 10
MIN_OUTLIER_ROWS = 20
MAX_EXAMPLES = 3
MAX_STRENGTH = 0.5
MAX_WHERE_LABELS = 2
MAD_SCALE = 1.4826
MEAN_AD_SCALE = 1.2533
# Sampling spread of the median and of the MAD-based scale of a normal sample, per 1/√n.
MEDIAN_SD = float(np.sqrt(np.pi / 2))
MAD_SD = 1.1664
QUADRATURE_POINTS = 24
CHART_SAMPLE = 2000


def find(view: TableView) -> list[Candidate]:
    with np.errstate(all="ignore"):  # overflow on extreme magnitudes: such tests are dropped, not raised
        return timeseries.finite(_find(view))


def _find(view: TableView) -> list[Candidate]:
    out: list[Candidate] = []
    data = timeseries.numeric(view)
    for measure in data.columns:
        if view.expired():
            break
        column = data[measure].to_numpy()
        present = ~np.isnan(column)
        values = column[present]
        if len(values) < MIN_ROWS or np.ptp(values) == 0:
            continue
        centre = float(np.median(values))
        scale = robust_scale(values, centre)
        if scale <= 0:
            continue
        rows = data.index[present]
        side = 1 if values.max() - centre >= centre - values.min() else -1
        out.append(_extreme(view, measure, values, rows, centre, scale, side))
        outliers = _outliers(view, measure, values, centre, scale)
        if outliers is not None:
            out.append(outliers)
    return out


def robust_scale(values: np.ndarray, centre: float) -> float:
    deviations = np.abs(values - centre)
    mad = float(np.median(deviations))
    if mad > 0:
        return MAD_SCALE * mad
    return MEAN_AD_SCALE * float(np.mean(deviations))


def scale_expr(column: str, scale: float, centre: float, values: np.ndarray) -> str:
    """pandas code for :func:`robust_scale` of ``column`` (the branch it took on these values)."""
    if scale != MEAN_AD_SCALE * float(np.mean(np.abs(values - centre))):
        return f"({MAD_SCALE} * ({column} - {column}.median()).abs().median())"
    return f"({MEAN_AD_SCALE} * ({column} - {column}.median()).abs().mean())"


def grubbs_p(values: np.ndarray, side: int) -> tuple[float, float]:
    """Grubbs' statistic G of the largest (side = 1) or smallest (side = −1) value and its p-value
    2n × P(T_{n−2} > t): the Bonferroni bound over the n values and the two sides (the side is chosen after
    looking), exact enough in the tail."""
    n = len(values)
    sd = float(np.std(values, ddof=1))
    if sd == 0:
        return 0.0, 1.0
    g = float((values.max() - values.mean()) / sd) if side > 0 else float((values.mean() - values.min()) / sd)
    denominator = (n - 1) ** 2 - n * g * g
    if denominator <= 0:
        return g, 0.0
    t = float(np.sqrt(n * (n - 2) * g * g / denominator))
    return g, min(1.0, 2 * n * float(special.stdtr(n - 2, -t)))


def strip_chart(title: str, measure: str, values: np.ndarray, marked: list[float], marked_as: str) -> dict[str, Any]:
    """A strip plot (one tick per value) of the measure's quantiles, with the values named marked; on long
    columns the quantiles are those of an evenly strided sample (a picture, not a figure)."""
    sample = values if len(values) <= CHART_SAMPLE else values[:: len(values) // CHART_SAMPLE]
    quantiles = np.quantile(sample, np.linspace(0.0, 1.0, min(len(sample), MAX_CHART_POINTS - len(marked))))
    rows = [{measure: float(q), "kind": "value"} for q in quantiles]
    rows.extend({measure: float(v), "kind": marked_as} for v in marked)
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": title,
        "data": {"values": rows},
        "mark": {"type": "tick", "thickness": 2},
        "encoding": {
            "x": {"field": measure, "type": "quantitative", "scale": {"zero": False}},
            "color": {"field": "kind", "type": "nominal"},
            "tooltip": [{"field": measure}, {"field": "kind"}],
        },
    }


def _where(view: TableView, measure: str, row: object) -> InsightValue:
    frame = view.frame
    time_column = view.roles.time
    if time_column is not None and time_column in frame.columns:
        when: Any = frame.at[row, time_column]
        if pd.notna(when):
            if isinstance(when, pd.Timestamp):
                text = when.strftime("%Y-%m-%d") if when == when.normalize() else when.strftime("%Y-%m-%d %H:%M")
            else:
                text = str(int(when)) if float(when).is_integer() else str(when)
            return label("when", text, f"{time_column} of the row")
    parts = []
    for column in [*view.roles.dimensions, *view.roles.entities]:
        if column == measure or column not in frame.columns:
            continue
        value: Any = frame.at[row, column]
        if pd.notna(value):
            parts.append(f"{column} {value}")
        if len(parts) >= MAX_WHERE_LABELS:
            break
    if parts:
        return label("where", ", ".join(parts), "the row's labels")
    return label("where", f"row {row}", "the row's index label")


def _extreme(
    view: TableView, measure: str, values: np.ndarray, rows: pd.Index, centre: float, scale: float, side: int
) -> Candidate:
    position = int(np.argmax(values)) if side > 0 else int(np.argmin(values))
    row = rows[position]
    value = float(values[position])
    z = (value - centre) / scale
    g, p_value = grubbs_p(values, side)
    where = _where(view, measure, row)
    word = "highest" if side > 0 else "lowest"
    figures = [
        num("value", value, f"{word} {measure}"),
        where,
        num("robust_z", round(abs(z), 1), "robust standard deviations from the median"),
        num("median", centre, f"median {measure}"),
    ]
    place = f"on {where.text}" if where.key == "when" else f"({where.text})"
    statement = (
        f"The {word} {measure}{view.where()} is {figures[0].text} {place}, {figures[2].text} robust standard "
        f"deviations {'above' if side > 0 else 'below'} the median ({figures[3].text})."
    )
    df = view.df()
    pick = "idxmax" if side > 0 else "idxmin"
    expression = (
        f"{df}.loc[{df}{col(measure)}.{pick}()], "
        f"({df}{col(measure)}.{'max' if side > 0 else 'min'}() - {df}{col(measure)}.median()) / "
        f"{scale_expr(f'{df}{col(measure)}', scale, centre, values)}"
    )
    strength = MAX_STRENGTH * max(0.0, 1.0 - OUTLIER_Z / abs(z)) if z != 0 else 0.0
    return Candidate(
        type="extreme",
        columns=[measure],
        statement=statement,
        values=figures,
        test=InsightTest(
            name=f"grubbs ({'max' if side > 0 else 'min'}, either side)",
            statistic=g,
            p_value=p_value,
            effect_name="robust_z",
            effect_size=float(z),
        ),
        strength=strength,
        reportable=abs(z) >= OUTLIER_Z,
        expression=expression,
        chart=strip_chart(f"{measure}: the {word} value against the rest", measure, values, [value], word),
        direction=side,
    )


def outlier_count_p(count: int, n: int, z: float = OUTLIER_Z) -> tuple[float, float]:
    """(expected count, P(K ≥ count)) of values with |robust z| > z in a normal sample of n values, the
    median and the scale estimated: a binomial mixed over their (normal-approximation) sampling spread."""
    nodes, weights = special.roots_hermitenorm(QUADRATURE_POINTS)
    weights = weights / weights.sum()
    shift = nodes[:, None] * MEDIAN_SD / np.sqrt(n)
    scale = np.maximum(1e-6, 1.0 + nodes[None, :] * MAD_SD / np.sqrt(n))
    share = special.ndtr(shift - z * scale) + special.ndtr(-z * scale - shift)
    mix = weights[:, None] * weights[None, :]
    expected = float(n * np.sum(mix * share))
    if count <= 0:
        return expected, 1.0
    tail = special.bdtrc(count - 1, n, np.clip(share, 0.0, 1.0))
    return expected, float(min(1.0, np.sum(mix * tail)))


def _outliers(view: TableView, measure: str, values: np.ndarray, centre: float, scale: float) -> Candidate | None:
    n = len(values)
    if n < MIN_OUTLIER_ROWS:
        return None
    distance = np.abs(values - centre) / scale
    outside = np.flatnonzero(distance > OUTLIER_Z)
    count = len(outside)
    expected, p_value = outlier_count_p(count, n)
    share = 100.0 * count / n
    examples = outside[np.argsort(-distance[outside], kind="stable")][:MAX_EXAMPLES]
    figures = [
        num("count", count, f"values of {measure} more than {OUTLIER_Z} robust standard deviations from the median"),
        pct("share", share, "share of the values"),
        num("threshold", OUTLIER_Z, "robust z threshold"),
        num("median", centre, f"median {measure}"),
    ]
    figures.extend(
        num(f"example_{i + 1}", float(values[position]), f"an outlying value of {measure}")
        for i, position in enumerate(examples)
    )
    example_text = ", ".join(v.text for v in figures[4:])
    noun = "value" if count == 1 else "values"
    statement = (
        f"{figures[0].text} {noun} of {measure}{view.where()} ({figures[1].text}) lie more than "
        f"{figures[2].text} robust standard deviations from the median ({figures[3].text})"
        + (f", e.g. {example_text}." if count else ".")
    )
    df = view.df()
    m = f"{df}{col(measure)}"
    expression = f"z = ({m} - {m}.median()) / {scale_expr(m, scale, centre, values)}; {m}[z.abs() > {OUTLIER_Z}]"
    return Candidate(
        type="outliers",
        columns=[measure],
        statement=statement,
        values=figures,
        test=InsightTest(
            name="outlier count against a normal sample (binomial)",
            statistic=float(count),
            p_value=p_value,
            effect_name="observed/expected",
            effect_size=count / expected if expected > 0 else None,
        ),
        strength=MAX_STRENGTH * min(1.0, share / 5.0),
        reportable=count >= 2,
        expression=expression,
        chart=strip_chart(
            f"{measure}: values beyond {OUTLIER_Z} robust standard deviations",
            measure,
            values,
            [float(values[i]) for i in outside[: MAX_CHART_POINTS // 2]],
            "outlier",
        ),
        direction=1,
    )
