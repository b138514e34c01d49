"""One category holds the majority (≥ 50 %) of the rows, or of a non-negative measure's total, among k ≥ 3
categories ("EMEA holds 61.2% of total revenue (3 region values; 40.5% of the rows)").

Tests (the null: each row's category is drawn uniformly from the k categories, independently of the
measure, i.e. no category holds more than its even share 1/k):
- rows: a one-sided binomial test of the top category's count against 1/k, × k (Bonferroni: the top
  category is the largest of k counts, and P(max count ≥ x) ≤ k × P(one count ≥ x)).
- a measure's total: category c's total is (its rows) × (its mean per row), so a share above 1/k needs
  more rows than 1/k or a higher mean than the rest. Both parts are tested, each valid under the null:
  the binomial test of its non-missing count against 1/k, and a one-sided Welch t-test of its mean
  against the rest of the rows (from group aggregates); the two are combined by Bonferroni
  (2 × the smaller p, a union bound), then × k for choosing the top category.
Reportable when the share is at least 50 %. A category that already holds the majority of the rows holds
a like share of every measure: its measure dominance is reportable only when the measure share exceeds
its row share by MIN_EXTRA_SHARE (so one dominant category does not fill the top list once per measure).
strength = (share − 1/k) / (1 − 1/k).
"""

from __future__ import annotations

import json
import math

import numpy as np
from scipy import stats

from insight.analysis.insights.base import MAX_DIMENSION_VALUES, Candidate, TableView, bar_chart, label, num, pct
from insight.analysis.insights.groupstats import (
    MeasureGroups,
    category_dimensions,
    group_name,
    group_stats,
    groupby_expr,
)
from insight.analysis.insights.model import InsightTest

MIN_CATEGORIES = 3
MIN_SHARE = 0.5
MIN_ROWS = 20
MIN_EXTRA_SHARE = 0.10


def find(view: TableView) -> list[Candidate]:
    out: list[Candidate] = []
    for dimension in category_dimensions(view, min_values=MIN_CATEGORIES):
        if view.expired():
            break
        rows = _rows(view, dimension)
        if rows is None:
            continue
        out.append(rows)
        row_top = next(v.text for v in rows.values if v.key == "category") if rows.reportable else None
        for measure in group_stats(view, dimension).measures:
            if view.expired():
                return out
            if not _non_negative(view, measure):
                continue
            candidate = _measure(view, dimension, measure, row_top)
            if candidate is not None:
                out.append(candidate)
    return out


def _non_negative(view: TableView, measure: str) -> bool:
    def compute() -> bool:
        values = view.frame[measure]
        low = values.min()
        return bool(np.isfinite(low) and low >= 0 and values.sum() > 0)

    result: bool = view.cached(("non_negative", measure), compute)
    return result


def _rows(view: TableView, dimension: str) -> Candidate | None:
    gs = group_stats(view, dimension)
    k = len(gs.labels)
    n = int(gs.rows.sum())
    if not MIN_CATEGORIES <= k <= MAX_DIMENSION_VALUES or n < MIN_ROWS:
        return None
    ordered = sorted(zip(gs.labels, gs.rows.tolist(), strict=True), key=lambda item: (-int(item[1]), item[0]))
    top_label, top = str(ordered[0][0]), int(ordered[0][1])
    share = top / n
    test = stats.binomtest(top, n, 1.0 / k, alternative="greater")
    p = min(1.0, float(test.pvalue) * k)
    name = group_name(view, dimension, top_label)
    values = [
        pct("share", 100.0 * share, f"share of the rows that are {name}"),
        num("count", top, f"rows that are {name}"),
        num("rows", n, f"rows with a {dimension}"),
        num("categories", k, f"{dimension} values"),
        label("category", name, f"the {dimension} value that holds the most rows"),
    ]
    statement = (
        f"{name} holds {values[0].text} of the rows{view.where()} ({values[1].text} of {values[2].text}; "
        f"{values[3].text} {dimension} values)."
    )
    d = view.df()
    chart_rows = [{dimension: str(v), "rows": int(c)} for v, c in ordered]
    return Candidate(
        type="dominance",
        columns=[dimension],
        statement=statement,
        values=values,
        test=InsightTest(
            name="binomial (top count vs 1/k) × k", statistic=share, p_value=p, effect_name="share", effect_size=share
        ),
        strength=max(0.0, (share - 1.0 / k) / (1.0 - 1.0 / k)),
        reportable=share >= MIN_SHARE,
        expression=f"{d}[{json.dumps(dimension)}].astype(str).value_counts(normalize=True).head(1)",
        chart=bar_chart(f"Rows by {dimension}{view.where()}", dimension, "rows", chart_rows),
        direction=1,
    )


def _measure(view: TableView, dimension: str, measure: str, row_top: str | None) -> Candidate | None:
    gs = group_stats(view, dimension)
    stats_m = gs.by_measure[measure]
    count = stats_m.count
    present = count > 0
    k = int(present.sum())
    n = float(count.sum())
    if not MIN_CATEGORIES <= k <= MAX_DIMENSION_VALUES or n < MIN_ROWS:
        return None
    total = stats_m.total
    grand = float(total.sum())
    if grand <= 0:
        return None
    # the largest total; ties go to the first label (sorted), as the expression's sort does
    pick = int(np.argmax(np.where(present, total, -np.inf)))
    share = float(total[pick]) / grand
    row_share = float(count[pick]) / n
    p_count = float(stats.binomtest(int(count[pick]), int(n), 1.0 / k, alternative="greater").pvalue)
    p_mean = _mean_above_rest(stats_m, pick, present)
    p = min(1.0, k * min(1.0, 2.0 * min(p_count, p_mean)))
    name = group_name(view, dimension, gs.labels[pick])
    values = [
        pct("share", 100.0 * share, f"share of total {measure} held by {name}"),
        num("categories", k, f"{dimension} values"),
        pct("row_share", 100.0 * row_share, f"share of the rows (with a {measure}) that are {name}"),
        label("category", name, f"the {dimension} value with the largest total {measure}"),
    ]
    statement = (
        f"{name} holds {values[0].text} of total {measure}{view.where()} ({values[1].text} {dimension} values; "
        f"{values[2].text} of the rows)."
    )
    repeats_rows = row_top is not None and row_top == name and share < row_share + MIN_EXTRA_SHARE
    grouped = groupby_expr(view, dimension, measure)
    chart_rows = [
        {dimension: g, measure: float(t)} for g, t, here in zip(gs.labels, total, present, strict=True) if here
    ]
    return Candidate(
        type="dominance",
        columns=[dimension, measure],
        statement=statement,
        values=values,
        test=InsightTest(
            name="binomial count vs 1/k, Welch mean vs rest (Bonferroni × 2) × k",
            statistic=share,
            p_value=p,
            effect_name="share",
            effect_size=share,
        ),
        strength=max(0.0, (share - 1.0 / k) / (1.0 - 1.0 / k)),
        reportable=share >= MIN_SHARE and not repeats_rows,
        expression=f"t = {grouped}.sum(); t / t.sum(), {grouped}.count() / {grouped}.count().sum()",
        chart=bar_chart(f"Total {measure} by {dimension}{view.where()}", dimension, measure, chart_rows),
        direction=1,
    )


def _mean_above_rest(stats_m: MeasureGroups, pick: int, present: np.ndarray) -> float:
    """One-sided Welch p-value that the picked group's mean exceeds the rest's (1 when it cannot be run)."""
    count = stats_m.count
    mean = np.nan_to_num(stats_m.mean)
    var = np.nan_to_num(stats_m.var)
    rest = present & (np.arange(len(count)) != pick)
    n_one, n_rest = float(count[pick]), float(count[rest].sum())
    if n_one < 2 or n_rest < 2:
        return 1.0
    mean_rest = float((count[rest] * mean[rest]).sum() / n_rest)
    ss_rest = float(
        (np.maximum(count[rest] - 1, 0) * var[rest]).sum() + (count[rest] * (mean[rest] - mean_rest) ** 2).sum()
    )
    sd_one, sd_rest = math.sqrt(max(0.0, float(var[pick]))), math.sqrt(ss_rest / (n_rest - 1))
    if sd_one == 0 and sd_rest == 0:
        return 1.0
    result = stats.ttest_ind_from_stats(
        float(mean[pick]), sd_one, n_one, mean_rest, sd_rest, n_rest, equal_var=False, alternative="greater"
    )
    p = float(result.pvalue)
    return p if math.isfinite(p) else 1.0
