"""Correlations between two measures: Pearson and Spearman with n and p-values; strong and significant only.

Computed for all pairs at once on NumPy arrays (standardised values and standardised ranks, one matrix
product each): a 50-measure table has 1,225 pairs, and the one-filter subspaces repeat them. Pairs with
missing values are computed on their common rows. The p-values are the t-distribution ones scipy's
``pearsonr``/``spearmanr`` give (checked against them in the tests); the chart is drawn only for a
finding worth reporting.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import special, stats

from insight.analysis.insights.base import Candidate, TableView, col, num, scatter_chart
from insight.analysis.insights.model import InsightTest

MIN_ABS_R = 0.5
MIN_PAIRS = 10
MAX_MEASURES = 50


def find(view: TableView) -> list[Candidate]:
    measures = view.roles.measures[:MAX_MEASURES]
    if len(measures) < 2:
        return []
    data = view.frame[measures].to_numpy(dtype="float64", na_value=np.nan)
    finite = np.isfinite(data)
    complete = finite.all(axis=0)
    full = _standardised(data[:, complete]) if complete.any() else None
    index: dict[int, int] = {int(j): k for k, j in enumerate(np.flatnonzero(complete))}
    out: list[Candidate] = []
    for i, j in itertools.combinations(range(len(measures)), 2):
        if view.expired():
            break
        if full is not None and i in index and j in index:
            n = data.shape[0]
            z, ranks = full
            a, b = index[i], index[j]
            zx, rx, zy, ry = z[:, a], ranks[:, a], z[:, b], ranks[:, b]
            if n < MIN_PAIRS or not (np.isfinite(zx).all() and np.isfinite(zy).all()):
                continue
            r, rho = float(zx @ zy) / n, float(rx @ ry) / n
        else:
            both = finite[:, i] & finite[:, j]
            n = int(both.sum())
            if n < MIN_PAIRS:
                continue
            pair = data[both][:, [i, j]]
            z, ranks = _standardised(pair)
            if not np.isfinite(z).all():
                continue
            r, rho = float(z[:, 0] @ z[:, 1]) / n, float(ranks[:, 0] @ ranks[:, 1]) / n
        r, rho = max(-1.0, min(1.0, r)), max(-1.0, min(1.0, rho))
        candidate = _candidate(view, measures[i], measures[j], r, rho, n)
        if candidate is not None:
            out.append(candidate)
    return out


def _standardised(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Columns as z-scores (population sd) and their average ranks as z-scores; a constant column → NaN."""
    ranks = stats.rankdata(values, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (values - values.mean(axis=0)) / values.std(axis=0)
        zr = (ranks - ranks.mean(axis=0)) / ranks.std(axis=0)
    return z, zr


def p_value(r: float, n: int) -> float:
    """Two-sided p of a correlation coefficient on n pairs (Student's t with n − 2 degrees of freedom)."""
    if abs(r) >= 1.0:
        return 0.0
    t = abs(r) * np.sqrt((n - 2) / (1.0 - r * r))
    return float(2.0 * special.stdtr(n - 2, -t))  # the t distribution's tail as a plain ufunc (stats.t.sf: 40× slower)


def _candidate(view: TableView, left: str, right: str, r: float, rho: float, n: int) -> Candidate | None:
    # One test per pair, counted once: the larger of the two p-values is a valid (conservative) p-value
    # for "both agree there is a monotone relation".
    p = max(p_value(r, n), p_value(rho, n))
    strength = max(abs(r), abs(rho))
    reportable = strength >= MIN_ABS_R and (r > 0) == (rho > 0)
    word = "positively" if r > 0 else "negatively"
    values = [
        num("pearson_r", round(r, 2), f"Pearson correlation of {left} and {right}"),
        num("spearman_rho", round(rho, 2), f"Spearman rank correlation of {left} and {right}"),
        num("n", n, "rows with both values"),
    ]
    statement = (
        f"{left} and {right} are {word} correlated{view.where()} "
        f"(Pearson r = {values[0].text}, Spearman ρ = {values[1].text}, n = {values[2].text})."
    )
    chart = None
    if reportable:
        chart = scatter_chart(f"{left} against {right}", left, right, view.frame[[left, right]].dropna())
    return Candidate(
        type="correlation",
        columns=[left, right],
        statement=statement,
        values=values,
        test=InsightTest(name="pearson+spearman", statistic=r, p_value=p, effect_name="|r|", effect_size=strength),
        strength=strength,
        reportable=reportable,
        expression=f"{view.df()}{col(left)}.corr({view.df()}{col(right)}), "
        f"{view.df()}{col(left)}.corr({view.df()}{col(right)}, method='spearman')",
        chart=chart,
        direction=1 if r > 0 else -1,
    )
