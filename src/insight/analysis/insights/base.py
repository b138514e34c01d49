"""What every insight type shares: the candidate it returns, the view of the table it reads, column roles.

A type module exposes ``find(view) -> list[Candidate]``. It returns **every** test it ran (also those whose
effect is too small to report, with ``reportable=False``): the engine controls the false-discovery rate
over all of them, so leaving a test out would make the control optimistic.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from insight.analysis.insights.model import InsightTest, InsightType, InsightValue, Subspace
from insight.analysis.profile import column_kind, find_time_column, fmt, fmt_pct

# Fewer rows than this in a group or a subspace and a test says too little to report.
MIN_GROUP_ROWS = 5
MAX_DIMENSION_VALUES = 20
MAX_CHART_POINTS = 200


@dataclass
class Candidate:
    type: InsightType
    columns: list[str]
    statement: str
    values: list[InsightValue]
    test: InsightTest
    strength: float
    """The effect on a 0–1 scale (|r|, ε², a share …): the ranking's impact is coverage × strength."""
    reportable: bool
    """The effect is large enough to be worth saying (significance is decided afterwards, over all tests)."""
    expression: str
    chart: dict[str, Any] | Callable[[], dict[str, Any]] | None = None
    """The Vega-Lite spec, or a function that draws it (called only for the findings that are returned)."""
    direction: int = 0
    """+1 / −1 where the finding has a sign (a rising trend, a positive correlation), else 0."""
    coverage: float = 1.0
    subspace: Subspace | None = None
    caveats: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, tuple[str, ...], str]:
        """What makes two candidates the same finding in different subspaces: type, columns and test (the
        month-of-year and the weekday profile of one measure are two findings, as are best/worst year and
        year over year)."""
        return self.type, tuple(self.columns), self.test.name


@dataclass(frozen=True)
class Roles:
    """What each column can be used as."""

    measures: list[str]
    dimensions: list[str]
    time: str | None
    entities: list[str]


@dataclass
class TableView:
    """The table (or one subspace of it) a type reads, with the column roles and the search's deadline."""

    frame: pd.DataFrame
    roles: Roles
    subspace: Subspace | None = None
    coverage: float = 1.0
    deadline: float = float("inf")
    _cache: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return len(self.frame)

    def expired(self) -> bool:
        return time.perf_counter() > self.deadline

    def df(self) -> str:
        """The pandas expression for this view's rows."""
        if self.subspace is None:
            return "df"
        return f"df[df[{json.dumps(self.subspace.column)}].astype(str) == {json.dumps(self.subspace.value)}]"

    def where(self) -> str:
        """`` where region = "EMEA"`` for statements in a subspace, else nothing."""
        return f" where {self.subspace.describe()}" if self.subspace else ""

    def cached(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def groups(self, dimension: str, measure: str) -> dict[str, np.ndarray]:
        """The measure's non-missing values per value of the dimension (groups under MIN_GROUP_ROWS dropped)."""

        def compute() -> dict[str, np.ndarray]:
            pair = self.frame[[dimension, measure]].dropna()
            out: dict[str, np.ndarray] = {}
            for label, part in pair.groupby(pair[dimension].astype(str), sort=True)[measure]:
                values = part.to_numpy(dtype="float64")
                if len(values) >= MIN_GROUP_ROWS:
                    out[str(label)] = values
            return out

        result: dict[str, np.ndarray] = self.cached(("groups", dimension, measure), compute)
        return result


def column_roles(frame: pd.DataFrame) -> Roles:
    """Measures (numeric, not ids, not low-cardinality codes), dimensions (few distinct values), the time
    column, and entities (text with many distinct values, such as customer names)."""
    rows = len(frame)
    time_column = find_time_column(frame)
    measures: list[str] = []
    dimensions: list[str] = []
    entities: list[str] = []
    for name in frame.columns:
        column = str(name)
        if column == time_column:
            continue
        series = frame[name]
        kind = column_kind(series)
        distinct = int(series.nunique(dropna=True))
        if distinct < 2:
            continue
        if kind == "numeric":
            values = series.dropna().astype("float64")
            integral = bool((values == np.round(values)).all())
            if integral and distinct <= 10:
                dimensions.append(column)
                if distinct > 2:
                    measures.append(column)
            elif integral and distinct == rows and _is_sequence(values):
                continue  # a row number or id
            else:
                measures.append(column)
        elif kind in ("text", "boolean"):
            if distinct <= MAX_DIMENSION_VALUES:
                dimensions.append(column)
            elif kind == "text" and distinct >= max(MAX_DIMENSION_VALUES + 1, rows // 50):
                entities.append(column)
    return Roles(measures=measures, dimensions=dimensions, time=time_column, entities=entities)


def _is_sequence(values: pd.Series[Any]) -> bool:
    ordered = np.sort(values.to_numpy())
    return bool(len(ordered) > 1 and (np.diff(ordered) == 1).all())


def num(key: str, value: float, what: str, *, signed: bool = False) -> InsightValue:
    """A number value, written as ``fmt`` writes it."""
    return InsightValue(key=key, value=float(value), text=fmt(value, signed=signed), what=what)


def pct(key: str, share_pct: float, what: str, *, signed: bool = False) -> InsightValue:
    """A percentage value (already ×100), written as ``fmt_pct`` writes it."""
    return InsightValue(key=key, value=float(share_pct), text=fmt_pct(share_pct, signed=signed), what=what)


def label(key: str, text: str, what: str) -> InsightValue:
    """A label or a date: no number to check, but a figure the statement names."""
    return InsightValue(key=key, value=None, text=text, what=what)


def col(name: str) -> str:
    """A column reference in a pandas expression."""
    return f"[{json.dumps(name)}]"


def bar_chart(
    title: str, x_field: str, y_field: str, rows: list[dict[str, Any]], *, sort: str = "-y"
) -> dict[str, Any]:
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": title,
        "data": {"values": rows[:MAX_CHART_POINTS]},
        "mark": "bar",
        "encoding": {
            "x": {"field": x_field, "type": "nominal", "sort": sort},
            "y": {"field": y_field, "type": "quantitative"},
            "tooltip": [{"field": x_field}, {"field": y_field}],
        },
    }


def line_chart(
    title: str, x_field: str, y_field: str, rows: list[dict[str, Any]], x_type: str = "temporal"
) -> dict[str, Any]:
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": title,
        "data": {"values": rows[:MAX_CHART_POINTS]},
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": {"field": x_field, "type": x_type},
            "y": {"field": y_field, "type": "quantitative"},
            "tooltip": [{"field": x_field}, {"field": y_field}],
        },
    }


def scatter_chart(title: str, x_field: str, y_field: str, frame: pd.DataFrame) -> dict[str, Any]:
    sample = frame[[x_field, y_field]].dropna()
    if len(sample) > MAX_CHART_POINTS:
        sample = sample.sample(MAX_CHART_POINTS, random_state=0)
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": title,
        "data": {"values": [{x_field: float(a), y_field: float(b)} for a, b in sample.itertuples(index=False)]},
        "mark": {"type": "point", "opacity": 0.6},
        "encoding": {
            "x": {"field": x_field, "type": "quantitative", "scale": {"zero": False}},
            "y": {"field": y_field, "type": "quantitative", "scale": {"zero": False}},
        },
    }
