"""One group's mean of a measure far from the other groups' (k ≥ 4 groups of at least MIN_GROUP_ROWS rows).

Which group: the robust z of the group means, (mean − median of the means) / (1.4826 × their MAD); the
group with the largest |z| is the candidate. The test compares that group with the rest of the rows
(Welch's t-test from the group aggregates, two-sided), Bonferroni-corrected for having chosen it among
the k groups (p × k, a union bound that holds whichever group the choice falls on). Reportable when the
group stands out among the groups (|z| ≥ MIN_ROBUST_Z, the Iglewicz–Hoaglin outlier rule) and by a
meaningful margin within the rows (|Cohen's d| against the rest ≥ MIN_COHEN_D). strength = min(1, |d| / 2).

Versus ``group_difference``: when one group alone stands apart, "X averages far above the other groups"
is the more precise statement of the same finding, so the outlier wins: ``prefer_outliers`` (a deriver,
after the FDR control) drops a passed group difference on the same (dimension, measure, subspace) when a
category outlier passed there. Where the groups differ without one standing apart (|z| small), only the
group difference is reportable.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from insight.analysis.insights.base import (
    MIN_GROUP_ROWS,
    Candidate,
    TableView,
    bar_chart,
    label,
    num,
)
from insight.analysis.insights.groupstats import (
    group_name,
    groupby_expr,
    kept_groups,
    p_text,
    per_pair,
)
from insight.analysis.insights.model import InsightTest

MIN_GROUPS = 4
MIN_ROBUST_Z = 3.5
MIN_COHEN_D = 0.5
MAD_SCALE = 1.4826
MEAN_ABS_SCALE = 1.2533  # for the mean absolute deviation when the MAD is 0


def robust_z(means: np.ndarray) -> np.ndarray:
    """(mean − median) / robust scale of the group means; zeros when the means do not vary."""
    centre = float(np.median(means))
    deviations = np.abs(means - centre)
    scale = MAD_SCALE * float(np.median(deviations))
    if scale <= 0:
        scale = MEAN_ABS_SCALE * float(deviations.mean())
    if scale <= 0:
        return np.zeros_like(means)
    return (means - centre) / scale


def find(view: TableView) -> list[Candidate]:
    return per_pair(view, _test, min_values=MIN_GROUPS)


def _test(view: TableView, dimension: str, measure: str) -> Candidate | None:
    groups = kept_groups(view, dimension, measure, min_groups=MIN_GROUPS)
    if groups is None:
        return None
    labels, count, mean, var = groups.labels, groups.count, groups.mean, groups.var
    k = len(labels)
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(var))):
        return None
    z = robust_z(mean)
    pick = int(np.argmax(np.abs(z)))
    if z[pick] == 0:
        return None  # the group means do not vary
    rest = np.arange(k) != pick
    n_one, n_rest = float(count[pick]), float(count[rest].sum())
    mean_rest = float((count[rest] * mean[rest]).sum() / n_rest)
    ss_rest = float(((count[rest] - 1) * var[rest]).sum() + (count[rest] * (mean[rest] - mean_rest) ** 2).sum())
    var_rest = ss_rest / (n_rest - 1)
    var_one = float(var[pick])
    if var_one <= 0 and var_rest <= 0:
        return None
    t_value, p_raw = stats.ttest_ind_from_stats(
        float(mean[pick]), math.sqrt(var_one), n_one, mean_rest, math.sqrt(var_rest), n_rest, equal_var=False
    )
    if not (math.isfinite(float(t_value)) and math.isfinite(float(p_raw))):
        return None
    p = min(1.0, float(p_raw) * k)
    pooled = math.sqrt(((n_one - 1) * var_one + ss_rest) / (n_one + n_rest - 2))
    cohen_d = (float(mean[pick]) - mean_rest) / pooled if pooled > 0 else 0.0
    above = mean[pick] > np.median(mean[rest])
    others_median = float(np.median(mean[rest]))
    name = group_name(view, dimension, labels[pick])
    values = [
        num("group_mean", float(mean[pick]), f"mean {measure} of {name}"),
        num("others", k - 1, f"other {dimension} groups"),
        num("others_median", others_median, f"median of the other groups' mean {measure}"),
        p_text(p),
        label("group", name, f"the {dimension} group that stands out"),
    ]
    word = "above" if above else "below"
    statement = (
        f"{measure} averages {values[0].text} for {name}{view.where()}, far {word} the other "
        f"{values[1].text} {dimension} groups (median {values[2].text}; Welch t-test, Bonferroni over "
        f"the groups, {values[3].text})."
    )
    grouped = groupby_expr(view, dimension, measure)
    chart_rows = [{dimension: g, measure: float(m)} for g, m in zip(labels, mean, strict=True)]
    return Candidate(
        type="category_outlier",
        columns=[dimension, measure],
        statement=statement,
        values=values,
        test=InsightTest(
            name="welch-t (group vs rest) × k",
            statistic=float(t_value),
            p_value=p,
            effect_name="cohen_d",
            effect_size=cohen_d,
        ),
        strength=min(1.0, abs(cohen_d) / 2.0),
        reportable=abs(float(z[pick])) >= MIN_ROBUST_Z and abs(cohen_d) >= MIN_COHEN_D,
        expression=(
            f"g = {grouped}; m = g.mean()[g.count() >= {MIN_GROUP_ROWS}]; "
            f"m[{labels[pick]!r}], m.drop({labels[pick]!r}).median()"
        ),
        chart=bar_chart(f"Mean {measure} by {dimension}{view.where()}", dimension, measure, chart_rows),
        direction=1 if above else -1,
    )


def prefer_outliers(passed: list[Candidate], _all: list[Candidate]) -> list[Candidate]:
    """Drop a passed group difference where a category outlier on the same dimension, measure and
    subspace passed: the outlier is the more precise statement of the same finding."""
    outliers = {(tuple(c.columns), c.subspace) for c in passed if c.type == "category_outlier"}
    return [c for c in passed if not (c.type == "group_difference" and (tuple(c.columns), c.subspace) in outliers)]
