"""Per-group aggregates of every measure over one dimension, computed once per view and shared by the
category types (dominance, category outliers, group differences): one groupby per dimension instead of one
per (dimension, measure) pair, so the tests run on aggregates however many rows the table has.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from insight.analysis.insights.base import MAX_DIMENSION_VALUES, MIN_GROUP_ROWS, Candidate, TableView
from insight.analysis.insights.model import InsightValue
from insight.analysis.profile import column_kind, fmt

MAX_MEASURES = 30
MAX_DIMENSIONS = 12
# In a one-filter subspace (only group_difference runs there) fewer pairs: the engine searches every value
# of every dimension, so each subspace dimension costs a pass over the whole table per (dimension, measure).
SUBSPACE_MAX_MEASURES = 10
SUBSPACE_MAX_DIMENSIONS = 6


@dataclass(frozen=True)
class MeasureGroups:
    """One measure's non-missing count, total, mean and variance (ddof 1) per group (NaN where undefined)."""

    count: np.ndarray
    total: np.ndarray
    mean: np.ndarray
    var: np.ndarray


@dataclass(frozen=True)
class GroupStats:
    """A dimension's groups (labels sorted, ``codes`` per row, −1 where missing), their rows, and every
    measure's aggregates per group."""

    dimension: str
    labels: list[str]
    codes: np.ndarray
    rows: np.ndarray
    by_measure: dict[str, MeasureGroups]

    @property
    def measures(self) -> list[str]:
        return list(self.by_measure)


def group_labels(frame: pd.DataFrame, dimension: str) -> pd.Series:
    """The dimension as text (as subspace filters compare it), missing kept missing."""
    series = frame[dimension]
    return series.astype(str).where(series.notna())


def measure_values(view: TableView, measure: str) -> np.ndarray:
    """The measure as float64 (NaN where missing), computed once per view."""
    result: np.ndarray = view.cached(
        ("values", measure), lambda: view.frame[measure].to_numpy(dtype="float64", na_value=np.nan)
    )
    return result


@dataclass(frozen=True)
class _Prepared:
    centre: float
    shifted: np.ndarray
    """value − centre (0 where missing): sums of squares about the overall mean lose no precision"""
    squares: np.ndarray
    valid: np.ndarray | None
    """None when no value is missing"""


def _prepared(view: TableView, measure: str) -> _Prepared:
    def compute() -> _Prepared:
        x = measure_values(view, measure)
        missing = np.isnan(x)
        any_missing = bool(missing.any())
        centre = float(x[~missing].mean()) if not missing.all() else 0.0
        shifted = np.where(missing, 0.0, x - centre) if any_missing else x - centre
        return _Prepared(centre, shifted, shifted * shifted, ~missing if any_missing else None)

    result: _Prepared = view.cached(("prepared", measure), compute)
    return result


def group_stats(view: TableView, dimension: str) -> GroupStats:
    def compute() -> GroupStats:
        codes, uniques = pd.factorize(group_labels(view.frame, dimension), sort=True)
        k = len(uniques)
        present = codes >= 0
        every_row = bool(present.all())
        rows = np.bincount(codes[present], minlength=k)
        by_measure: dict[str, MeasureGroups] = {}
        limit = MAX_MEASURES if view.subspace is None else SUBSPACE_MAX_MEASURES
        for measure in view.roles.measures[:limit]:
            if measure == dimension:
                continue
            prep = _prepared(view, measure)
            if every_row and prep.valid is None:
                c, shifted, squares = codes, prep.shifted, prep.squares
                count = rows.astype("float64")
            else:
                keep = present if prep.valid is None else present & prep.valid
                c, shifted, squares = codes[keep], prep.shifted[keep], prep.squares[keep]
                count = np.bincount(c, minlength=k).astype("float64")
            sums = np.bincount(c, weights=shifted, minlength=k)
            sum_squares = np.bincount(c, weights=squares, minlength=k)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(count > 0, prep.centre + sums / count, np.nan)
                var = np.where(count > 1, (sum_squares - sums * sums / count) / (count - 1), np.nan)
            by_measure[measure] = MeasureGroups(
                count=count, total=sums + prep.centre * count, mean=mean, var=np.maximum(var, 0.0)
            )
        return GroupStats(
            dimension=dimension, labels=[str(u) for u in uniques], codes=codes, rows=rows, by_measure=by_measure
        )

    result: GroupStats = view.cached(("group_stats", dimension), compute)
    return result


def group_arrays(view: TableView, dimension: str, measure: str, keep: np.ndarray) -> list[np.ndarray]:
    """The measure's non-missing values of each kept group, in label order."""
    gs = group_stats(view, dimension)
    x = measure_values(view, measure)
    codes = gs.codes
    valid = (codes >= 0) & ~np.isnan(x)
    valid[valid] = keep[codes[valid]]
    c, v = codes[valid], x[valid]
    order = np.argsort(c, kind="stable")
    sizes = np.bincount(c, minlength=len(keep))[keep]
    return np.split(v[order], np.cumsum(sizes)[:-1])


def category_dimensions(view: TableView, *, min_values: int = 2) -> list[str]:
    """The view's dimensions with between ``min_values`` and MAX_DIMENSION_VALUES values (at most
    MAX_DIMENSIONS of them, SUBSPACE_MAX_DIMENSIONS in a subspace)."""
    out: list[str] = []
    limit = MAX_DIMENSIONS if view.subspace is None else SUBSPACE_MAX_DIMENSIONS
    for dimension in view.roles.dimensions:
        distinct = int(view.frame[dimension].nunique(dropna=True))
        if min_values <= distinct <= MAX_DIMENSION_VALUES:
            out.append(dimension)
        if len(out) >= limit:
            break
    return out


def group_name(view: TableView, dimension: str, value: str) -> str:
    """How a statement names one group: the label for text, ``grade = 3`` for a numeric code."""
    if column_kind(view.frame[dimension]) == "numeric":
        return f"{dimension} = {value}"
    return value


def groupby_expr(view: TableView, dimension: str, measure: str) -> str:
    """pandas code grouping the measure by the dimension as text (as the figures were computed)."""
    d = view.df()
    key = f"{d}[{json.dumps(dimension)}]"
    return f"{d}[{json.dumps(measure)}].groupby({key}.astype(str).where({key}.notna()))"


def p_text(p: float) -> InsightValue:
    """The p-value as a statement writes it: ``p < 0.001`` or ``p = 0.012`` (the value is the bound or the
    rounded p-value the text shows)."""
    if p < 0.001:
        return InsightValue(key="p_value", value=0.001, text="p < 0.001", what="p-value (upper bound), before FDR")
    shown = round(p, 3)
    return InsightValue(key="p_value", value=shown, text=f"p = {fmt(shown)}", what="p-value, before FDR")


@dataclass(frozen=True)
class KeptGroups:
    """One measure's groups of at least MIN_GROUP_ROWS rows: labels, counts, means, variances, and the mask."""

    labels: list[str]
    count: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    keep: np.ndarray


def kept_groups(view: TableView, dimension: str, measure: str, *, min_groups: int) -> KeptGroups | None:
    """The groups a test may use, or None when fewer than ``min_groups`` (or over MAX_DIMENSION_VALUES) remain."""
    gs = group_stats(view, dimension)
    stats_m = gs.by_measure[measure]
    keep = stats_m.count >= MIN_GROUP_ROWS
    if not min_groups <= int(keep.sum()) <= MAX_DIMENSION_VALUES:
        return None
    labels = [name for name, kept in zip(gs.labels, keep, strict=True) if kept]
    return KeptGroups(labels, stats_m.count[keep], stats_m.mean[keep], stats_m.var[keep], keep)


def per_pair(
    view: TableView, test: Callable[[TableView, str, str], Candidate | None], *, min_values: int = 2
) -> list[Candidate]:
    """``test`` on every (dimension, measure) pair of the category dimensions, until the view's time is up."""
    out: list[Candidate] = []
    for dimension in category_dimensions(view, min_values=min_values):
        for measure in group_stats(view, dimension).measures:
            if view.expired():
                return out
            candidate = test(view, dimension, measure)
            if candidate is not None:
                out.append(candidate)
    return out
