"""Pareto concentration: the share of a non-negative measure's total held by the top 20 % of entities
("The top 20% of customer values (41 of 205) hold 71.3% of total revenue").

Over an entity column (``roles.entities``: many distinct texts such as customers) or a dimension with at
least MIN_ENTITIES values. Even with no real differences between entities the top 20 % hold more than
20 %: rows fall unevenly on entities, and a skewed measure (lognormal order values) piles up by chance
when each entity has only a few rows. So the share is compared with what an even spread of *this* measure
gives: the null assigns every row to an entity uniformly at random, independently of its value
(entities that do not differ, neither in how many rows they own nor in their values per row), and the
top-20 % share is recomputed on DRAWS such assignments (fixed seed). The p-value is the Monte Carlo one,
(1 + draws at or above the observed share) / (1 + draws); when no draw reaches the observed share it is
the normal tail of the observed share against the draws' mean and spread (finer than 1 / (1 + draws),
which the FDR control over many tests needs).

Reportable when the share is at least MIN_SHARE and at least MIN_EXCESS (8 points) above the null mean: an
effect floor, so that a tiny but significant excess on a big table is not reported. Measured when it was
set (seeded, 60 tables of 200–2,000 rows over 30–400 entities, iid lognormal values of σ 0.5–2.5): the
excess stayed ≤ 0.03; on 30 planted Zipf tables of ``insight.evaluation.planted`` it was ≥ 0.146 (the null
mean is high there too: the planted measure is itself heavy-tailed, so the null keeps much of its skew). The
simulation only runs for such shares; below MIN_SHARE the candidate carries p = 1, a valid (conservative)
p-value, and stays counted in the FDR control. strength = (share − even) / (1 − even), where even is the
top entities' share of the entities.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
from scipy import stats

from insight.analysis.insights.base import MAX_DIMENSION_VALUES, Candidate, TableView, label, line_chart, num, pct
from insight.analysis.insights.groupstats import group_labels, measure_values
from insight.analysis.insights.model import InsightTest

TOP_FRACTION = 0.2
MIN_ENTITIES = 10
MIN_SHARE = 0.5
MIN_EXCESS = 0.08
MAX_COLUMNS = 4
MAX_MEASURES = 8
SEED = 20261203
MAX_DRAWS = 200
MIN_DRAWS = 40
DRAW_CELLS = 4_000_000  # rows × draws per test: fewer draws (down to MIN_DRAWS) on big tables
MAX_CHART_POINTS = 100


def find(view: TableView) -> list[Candidate]:
    out: list[Candidate] = []
    columns = list(view.roles.entities)
    columns.extend(
        d
        for d in view.roles.dimensions
        if MIN_ENTITIES <= int(view.frame[d].nunique(dropna=True)) <= MAX_DIMENSION_VALUES
    )
    measures = [m for m in view.roles.measures if _non_negative(view, m)][:MAX_MEASURES]
    for entity in columns[:MAX_COLUMNS]:
        for measure in measures:
            if measure == entity:
                continue
            if view.expired():
                return out
            candidate = _test(view, entity, measure)
            if candidate is not None:
                out.append(candidate)
    return out


def _non_negative(view: TableView, measure: str) -> bool:
    x = measure_values(view, measure)
    present = x[~np.isnan(x)]
    return bool(len(present) and present.min() >= 0 and present.sum() > 0)


def top_share(totals: np.ndarray, top: int) -> float:
    grand = float(totals.sum())
    return float(np.partition(totals, len(totals) - top)[-top:].sum()) / grand if grand > 0 else 0.0


def null_shares(values: np.ndarray, entities: int, top: int, draws: int) -> np.ndarray:
    """Top-``top`` shares when each row goes to one of ``entities`` uniformly at random."""
    rng = np.random.default_rng(SEED)
    out = np.empty(draws)
    for i in range(draws):
        owners = rng.integers(0, entities, size=len(values))
        out[i] = top_share(np.bincount(owners, weights=values, minlength=entities), top)
    return out


def _entity_codes(view: TableView, entity: str) -> tuple[np.ndarray, list[str]]:
    def compute() -> tuple[np.ndarray, list[str]]:
        codes, uniques = pd.factorize(group_labels(view.frame, entity), sort=True)  # as groupby orders keys
        return codes, [str(u) for u in uniques]

    result: tuple[np.ndarray, list[str]] = view.cached(("entity_codes", entity), compute)
    return result


def _test(view: TableView, entity: str, measure: str) -> Candidate | None:
    codes, names = _entity_codes(view, entity)
    entities = len(names)
    if entities < MIN_ENTITIES:
        return None
    x = measure_values(view, measure)
    keep = (codes >= 0) & ~np.isnan(x)
    values_present = x[keep]
    # per-entity totals as groupby(...).sum() gives them (an entity whose values are all missing totals 0)
    by_entity = np.bincount(codes[keep], weights=values_present, minlength=entities)
    order = np.argsort(-by_entity, kind="stable")
    totals = by_entity[order]
    grand = float(totals.sum())
    if grand <= 0:
        return None
    top = max(1, round(TOP_FRACTION * entities))
    share = float(totals[:top].sum()) / grand
    even = top / entities
    null_mean: float | None = None
    if share >= MIN_SHARE:
        draws = int(min(MAX_DRAWS, max(MIN_DRAWS, DRAW_CELLS // max(1, len(values_present)))))
        null = null_shares(values_present, entities, top, draws)
        null_mean, null_sd = float(null.mean()), float(null.std(ddof=1))
        above = int((null >= share).sum())
        p = (1 + above) / (1 + draws)
        if above == 0 and null_sd > 0:
            p = min(p, float(stats.norm.sf((share - null_mean) / null_sd)))
        test_name = "top-20% share vs uniform random assignment of rows (Monte Carlo)"
    else:
        p = 1.0
        test_name = "top-20% share below 50%: not simulated (p = 1)"
    values = [
        pct("entity_share", 100.0 * even, f"share of the {entity} values that are the top ones"),
        num("top", top, f"top {entity} values by total {measure}"),
        num("entities", entities, f"{entity} values"),
        pct("share", 100.0 * share, f"share of total {measure} they hold"),
        label("largest", names[int(order[0])], f"the {entity} with the largest total {measure}"),
    ]
    statement = (
        f"The top {values[0].text} of {entity} values ({values[1].text} of {values[2].text}) hold "
        f"{values[3].text} of total {measure}{view.where()}; the largest is {values[4].text}."
    )
    d = view.df()
    expression = (
        f"t = {d}.groupby({json.dumps(entity)})[{json.dumps(measure)}].sum().sort_values(ascending=False); "
        f"t.head({top}).sum() / t.sum()"
    )
    cumulative = np.cumsum(totals) / grand
    step = max(1, math.ceil(entities / MAX_CHART_POINTS))
    points = [
        {"entities_pct": 100.0 * (i + 1) / entities, "total_pct": 100.0 * float(cumulative[i])}
        for i in range(0, entities, step)
    ]
    if points[-1]["entities_pct"] != 100.0:
        points.append({"entities_pct": 100.0, "total_pct": 100.0})
    excess = share - null_mean if null_mean is not None else 0.0
    return Candidate(
        type="concentration",
        columns=[entity, measure],
        statement=statement,
        values=values,
        test=InsightTest(
            name=test_name,
            statistic=share,
            p_value=min(1.0, max(0.0, p)),
            effect_name="share above the null mean",
            effect_size=excess if null_mean is not None else None,
        ),
        strength=max(0.0, min(1.0, (share - even) / (1.0 - even))) if even < 1 else 0.0,
        reportable=null_mean is not None and share >= MIN_SHARE and excess >= MIN_EXCESS,
        expression=expression,
        chart=line_chart(
            f"Cumulative share of {measure} by {entity} (largest first){view.where()}",
            "entities_pct",
            "total_pct",
            points,
            x_type="quantitative",
        ),
        direction=1,
    )
