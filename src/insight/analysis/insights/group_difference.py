"""A measure differs across the groups of a dimension (2–20 groups of at least MIN_GROUP_ROWS rows).

Test: Kruskal–Wallis when the pair has at most KRUSKAL_MAX_ROWS rows; on more rows Welch's ANOVA from the
per-group count, mean and variance (the aggregates are computed once per dimension, so a 100,000-row
table is never ranked per pair; on that many rows group means are close to normal, and Welch's form does
not assume equal variances). Effect sizes are the bias-corrected ones, near 0 on noise whatever the
number of groups (the plain ε² = H / (n − 1) averages (k − 1) / (n − 1) on noise, 0.04 for 12 groups of
25 rows, which a 0.06 threshold would let through): η²_H = (H − k + 1) / (n − k) for Kruskal–Wallis
(Cohen's, as rstatix reports it) and ω² for the ANOVA. Reportable when the effect is at least medium
(MIN_EFFECT = 0.06); in a one-filter subspace it must be large (MIN_EFFECT_SUBSPACE = 0.14): there the
search runs many more tests on fewer rows, a finding the whole table shows is merged away anyway, and on
seeded planted-pattern tables (insight.evaluation.planted) the subspace-only ones at medium effects were
mostly noise (η² 0.07–0.10). The statement names the groups with the highest and lowest means.
strength = √effect, on the scale of a correlation's |r|.

When one group alone stands apart from the others, ``category_outlier`` says it more precisely: its
deriver drops a passed group difference on the same (dimension, measure, subspace) — see there.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats

from insight.analysis.insights.base import (
    MIN_GROUP_ROWS,
    Candidate,
    TableView,
    bar_chart,
    label,
    num,
)
from insight.analysis.insights.groupstats import (
    group_arrays,
    group_name,
    groupby_expr,
    kept_groups,
    p_text,
    per_pair,
)
from insight.analysis.insights.model import InsightTest

KRUSKAL_MAX_ROWS = 5000
MIN_EFFECT = 0.06
MIN_EFFECT_SUBSPACE = 0.14


def welch_anova(count: np.ndarray, mean: np.ndarray, var: np.ndarray) -> tuple[float, float]:
    """Welch's one-way ANOVA from group aggregates: (F, p). Same result as
    ``scipy.stats.f_oneway(*groups, equal_var=False)`` on the raw groups."""
    k = len(count)
    weights = count / var
    total_weight = float(weights.sum())
    centre = float((weights * mean).sum()) / total_weight
    between = float((weights * (mean - centre) ** 2).sum()) / (k - 1)
    spread = float((((1.0 - weights / total_weight) ** 2) / (count - 1)).sum())
    f_value = between / (1.0 + 2.0 * (k - 2) / (k * k - 1) * spread)
    df2 = (k * k - 1) / (3.0 * spread)
    return f_value, float(special.fdtrc(k - 1, df2, f_value))  # stats.f.sf, as a plain ufunc (~40× faster)


def omega_squared(count: np.ndarray, mean: np.ndarray, var: np.ndarray) -> float:
    """ω² = (SS_between − (k − 1) MS_within) / (SS_total + MS_within), from group aggregates."""
    k, n = len(count), float(count.sum())
    grand = float((count * mean).sum() / n)
    between = float((count * (mean - grand) ** 2).sum())
    within = float(((count - 1) * var).sum())
    ms_within = within / (n - k)
    denominator = between + within + ms_within
    return (between - (k - 1) * ms_within) / denominator if denominator > 0 else 0.0


def kruskal_wallis(groups: list[np.ndarray]) -> tuple[float, float]:
    """(H, p) with the tie correction: ``scipy.stats.kruskal`` computed from scipy's ranks directly (the
    same numbers, without its per-call argument handling, which costs more than the test on small groups)."""
    values = np.concatenate(groups)
    n = len(values)
    ranks = stats.rankdata(values)
    sizes = np.array([len(g) for g in groups], dtype="float64")
    ends = np.cumsum(sizes).astype(int)
    sums = np.add.reduceat(ranks, np.r_[0, ends[:-1]])
    h_value = 12.0 / (n * (n + 1)) * float((sums * sums / sizes).sum()) - 3.0 * (n + 1)
    ties = float(stats.tiecorrect(ranks))
    if ties == 0:
        return 0.0, 1.0
    h_value /= ties
    return h_value, float(special.chdtrc(len(groups) - 1, h_value))  # stats.chi2.sf as a plain ufunc


def find(view: TableView) -> list[Candidate]:
    return per_pair(view, _test)


def _test(view: TableView, dimension: str, measure: str) -> Candidate | None:
    groups = kept_groups(view, dimension, measure, min_groups=2)
    if groups is None:
        return None
    labels, count, mean, var, keep = groups.labels, groups.count, groups.mean, groups.var, groups.keep
    k = len(labels)
    rows = int(count.sum())
    if not np.all(np.isfinite(var)) or float(var.max()) <= 0:
        return None  # constant within every group: nothing to test against
    if rows <= KRUSKAL_MAX_ROWS:
        statistic, p = kruskal_wallis(group_arrays(view, dimension, measure, keep))
        effect = (statistic - k + 1) / (rows - k)
        test_name, effect_name, effect_key, effect_text = "kruskal-wallis", "eta²_H", "eta_sq", "η²"
    else:
        if np.any(var <= 0):
            return None
        statistic, p = welch_anova(count, mean, var)
        effect = omega_squared(count, mean, var)
        test_name, effect_name, effect_key, effect_text = "welch-anova", "omega²", "omega_sq", "ω²"
    if not (math.isfinite(statistic) and math.isfinite(p)):
        return None
    effect = min(1.0, max(0.0, effect))
    high, low = int(np.argmax(mean)), int(np.argmin(mean))
    values = [
        num("high_mean", float(mean[high]), f"mean {measure} of the highest group"),
        num("low_mean", float(mean[low]), f"mean {measure} of the lowest group"),
        num("groups", k, f"{dimension} groups compared"),
        p_text(p),
        num(effect_key, round(effect, 2), f"{effect_name} (share of the variation the groups explain)"),
    ]
    high_name = group_name(view, dimension, labels[high])
    low_name = group_name(view, dimension, labels[low])
    values += [
        label("high_group", high_name, f"{dimension} group with the highest mean {measure}"),
        label("low_group", low_name, f"{dimension} group with the lowest mean {measure}"),
    ]
    test_title = "Kruskal–Wallis" if test_name == "kruskal-wallis" else "Welch ANOVA"
    statement = (
        f"{measure} averages {values[0].text} for {high_name} against {values[1].text} for {low_name}"
        f"{view.where()} ({values[2].text} {dimension} groups; {test_title} {values[3].text}, "
        f"{effect_text} = {values[4].text})."
    )
    grouped = groupby_expr(view, dimension, measure)
    if test_name == "kruskal-wallis":
        expression = (
            f"g = {grouped}; g.agg(['count', 'mean']); "
            f"scipy.stats.kruskal(*[v.dropna() for _, v in g if v.count() >= {MIN_GROUP_ROWS}])"
        )
    else:
        expression = (
            f"g = {grouped}; g.agg(['count', 'mean']); "
            f"scipy.stats.f_oneway(*[v.dropna() for _, v in g if v.count() >= {MIN_GROUP_ROWS}], equal_var=False)"
        )
    chart_rows = [{dimension: name, measure: float(m)} for name, m in zip(labels, mean, strict=True)]
    return Candidate(
        type="group_difference",
        columns=[dimension, measure],
        statement=statement,
        values=values,
        test=InsightTest(name=test_name, statistic=statistic, p_value=p, effect_name=effect_name, effect_size=effect),
        strength=math.sqrt(effect),
        reportable=effect >= (MIN_EFFECT if view.subspace is None else MIN_EFFECT_SUBSPACE),
        expression=expression,
        chart=bar_chart(f"Mean {measure} by {dimension}{view.where()}", dimension, measure, chart_rows),
    )
