"""Correlations between two measures: Pearson and Spearman with n and p-values; strong and significant only.

Computed for all pairs at once on NumPy arrays (standardised values and standardised ranks, one matrix
product each): a 50-measure table has 1,225 pairs, and the one-filter subspaces repeat them. Pairs with
missing values are computed on their common rows. The p-values are the t-distribution ones scipy's
``pearsonr``/``spearmanr`` give (checked against them in the tests); the chart is drawn only for a
finding worth reporting.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from scipy import special, stats

from insight.analysis.insights.base import Candidate, TableView, col, num, scatter_chart
from insight.analysis.insights.model import InsightTest

MIN_ABS_R = 0.5
MIN_PAIRS = 10
MAX_MEASURES = 50


# Above this many row-pairs (rows × pairs with missing values), pairs with missing values are computed from
# column sums over their common rows in a few matrix products instead of one by one (see _pairwise).
MAX_EXACT_PAIRWISE_WORK = 2_000_000


def find(view: TableView) -> list[Candidate]:
    measures = view.roles.measures[:MAX_MEASURES]
    if len(measures) < 2:
        return []
    data = view.frame[measures].to_numpy(dtype="float64", na_value=np.nan)
    finite = np.isfinite(data)
    complete = finite.all(axis=0)
    full = None
    if complete.any():
        z, ranks = _standardised(data[:, complete])
        rows = data.shape[0]
        full = (_cross(z, z) / rows, _cross(ranks, ranks) / rows)  # every complete pair's r and ρ at once
    index: dict[int, int] = {int(j): k for k, j in enumerate(np.flatnonzero(complete))}
    pairs = list(itertools.combinations(range(len(measures)), 2))
    gappy = sum(1 for i, j in pairs if i not in index or j not in index)
    matrix = _pairwise(data, finite) if gappy * data.shape[0] > MAX_EXACT_PAIRWISE_WORK else None
    out: list[Candidate] = []
    for i, j in pairs:
        if view.expired():
            break
        if full is not None and i in index and j in index:
            n = data.shape[0]
            a, b = index[i], index[j]
            r, rho = float(full[0][a, b]), float(full[1][a, b])
            if n < MIN_PAIRS or not (np.isfinite(r) and np.isfinite(rho)):
                continue
        elif matrix is not None:
            counts, pearson, spearman = matrix
            n = int(counts[i, j])
            r, rho = float(pearson[i, j]), float(spearman[i, j])
            if n < MIN_PAIRS or not (np.isfinite(r) and np.isfinite(rho)):
                continue
        else:
            both = finite[:, i] & finite[:, j]
            n = int(both.sum())
            if n < MIN_PAIRS:
                continue
            pair = data[both][:, [i, j]]
            zp, rp = _standardised(pair)
            if not np.isfinite(zp).all():
                continue
            r, rho = float(zp[:, 0] @ zp[:, 1]) / n, float(rp[:, 0] @ rp[:, 1]) / n
        r, rho = max(-1.0, min(1.0, r)), max(-1.0, min(1.0, rho))
        candidate = _candidate(view, measures[i], measures[j], r, rho, n)
        if candidate is not None:
            out.append(candidate)
    return out


def _pairwise(data: np.ndarray, finite: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairwise-complete counts, Pearson r and Spearman ρ of all columns at once.

    Pearson is exact on each pair's common rows (sums, sums of squares and cross products over them, as
    matrix products of the zero-filled values and the presence masks). Spearman uses each column's ranks
    among its own values, then the same pairwise Pearson: equal to the exact ρ when no values are missing,
    and within a few thousandths of it when a few per cent are (measured in the tests).
    """
    mask = finite.astype("float64")
    ranks = np.zeros(data.shape)
    for k in range(data.shape[1]):
        present = finite[:, k]
        ranks[present, k] = stats.rankdata(data[present, k])
    counts, pearson = pairwise_pearson(np.where(finite, data, 0.0), mask)
    _counts, spearman = pairwise_pearson(ranks, mask)
    return counts, pearson, spearman


def _cross(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``left.T @ right``, with the transpose made contiguous first: OpenBLAS's kernel for a transposed
    operand was measured 60× slower here (3 s against 0.05 s for 100,000 × 44)."""
    product: np.ndarray = np.ascontiguousarray(left.T) @ right
    return product


def pairwise_pearson(values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(counts, r) for every pair of columns over the rows both have; ``values`` zero where ``mask`` is 0."""
    counts = _cross(mask, mask)
    sums = _cross(values, mask)  # [i, j]: sum of column i over the rows where j is present too
    squares = _cross(values * values, mask)
    products = _cross(values, values)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = products - sums * sums.T / counts
        var_i = squares - sums * sums / counts
        var_j = var_i.T
        r = cov / np.sqrt(var_i * var_j)
    return counts, r


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
    test = InsightTest(name="pearson+spearman", statistic=r, p_value=p, effect_name="|r|", effect_size=strength)
    if not reportable:  # counted in the FDR control, never shown: no figures, statement or chart to build
        return Candidate(
            type="correlation",
            columns=[left, right],
            statement="",
            values=[],
            test=test,
            strength=strength,
            reportable=False,
            expression="",
            direction=1 if r > 0 else -1,
        )
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
    frame = view.frame

    def chart() -> dict[str, Any]:
        return scatter_chart(f"{left} against {right}", left, right, frame[[left, right]].dropna())

    return Candidate(
        type="correlation",
        columns=[left, right],
        statement=statement,
        values=values,
        test=test,
        strength=strength,
        reportable=True,
        expression=f"{view.df()}{col(left)}.corr({view.df()}{col(right)}), "
        f"{view.df()}{col(left)}.corr({view.df()}{col(right)}, method='spearman')",
        chart=chart,
        direction=1 if r > 0 else -1,
    )
