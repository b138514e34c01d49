"""Correlations between two measures: Pearson and Spearman with n and p-values; strong and significant only."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
from scipy import stats

from insight.analysis.insights.base import Candidate, TableView, col, num, scatter_chart
from insight.analysis.insights.model import InsightTest

MIN_ABS_R = 0.5
MIN_PAIRS = 10
MAX_MEASURES = 30


def find(view: TableView) -> list[Candidate]:
    out: list[Candidate] = []
    measures = view.roles.measures[:MAX_MEASURES]
    for left, right in itertools.combinations(measures, 2):
        if view.expired():
            break
        pair = view.frame[[left, right]].dropna()
        n = len(pair)
        if n < MIN_PAIRS:
            continue
        x = pair[left].to_numpy(dtype="float64")
        y = pair[right].to_numpy(dtype="float64")
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # near-constant inputs: scipy warns, the p-value says enough
            pearson = stats.pearsonr(x, y)
            spearman = stats.spearmanr(x, y)
        r, rho = float(pearson.statistic), float(spearman.statistic)
        if not (np.isfinite(r) and np.isfinite(rho)):
            continue
        # One test per pair, counted once: the larger of the two p-values is a valid (conservative) p-value
        # for "both agree there is a monotone relation".
        p_value = float(max(pearson.pvalue, spearman.pvalue))
        strength = max(abs(r), abs(rho))
        direction = 1 if r > 0 else -1
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
        out.append(
            Candidate(
                type="correlation",
                columns=[left, right],
                statement=statement,
                values=values,
                test=InsightTest(
                    name="pearson+spearman", statistic=r, p_value=p_value, effect_name="|r|", effect_size=strength
                ),
                strength=strength,
                reportable=strength >= MIN_ABS_R and (r > 0) == (rho > 0),
                expression=f"{view.df()}{col(left)}.corr({view.df()}{col(right)}), "
                f"{view.df()}{col(left)}.corr({view.df()}{col(right)}, method='spearman')",
                chart=scatter_chart(f"{left} against {right}", left, right, pair),
                direction=direction,
            )
        )
    return out
