"""The numeric facts about a table, computed in pandas so the model explains them instead of computing them.

``profile(frame, …)`` is sync and pure (CPU work: run it in a worker thread from async code). It returns a
``DataProfile`` whose ``facts`` each carry a short sentence, with numbers rounded for reading, and the exact
values behind it for grounding. Directions (up/down/flat) and correlation signs are decided here: the small
local model gets them wrong. Strings taken from the data (column names, category values) appear only
quoted, escaped and truncated (``parsing.quote``). When ``max_fact_tokens`` is given, the least important
facts are dropped until the rendered facts fit, and ``dropped_facts`` says how many went.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from insight.analysis.grounding import FactIndex
from insight.analysis.models import Fact, FactKind
from insight.analysis.parsing import quote

CORRELATION_THRESHOLD = 0.5
MAX_CORRELATIONS = 10
MAX_CATEGORIES = 5
MAX_PERIODS = 24
FLAT_PCT = 1.0  # |change| under 1 % of the first period's value reads as flat
NAME_CHARS = 40
VALUE_CHARS = 40
_YEAR_NAME = re.compile(r"(^|[_\s])(year|yr)$", re.IGNORECASE)
_PERIODS = (("D", "day"), ("W", "week"), ("M", "month"), ("Q", "quarter"), ("Y", "year"))
_KIND_ORDER: dict[FactKind, int] = {
    "shape": 0,
    "trend": 1,
    "correlation": 2,
    "column": 3,
    "distribution": 4,
    "categories": 5,
    "outliers": 6,
}


def approx_tokens(text: str) -> int:
    """A tokenizer-free estimate (about four characters a token) for callers without ``count_tokens``."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


@dataclass(frozen=True)
class ColumnSummary:
    name: str
    kind: str  # numeric | date | boolean | text
    missing: int
    missing_pct: float
    distinct: int


@dataclass(frozen=True)
class DataProfile:
    """The facts kept (in reading order), the per-column summary, and what was left out."""

    rows: int
    columns: int
    column_summaries: list[ColumnSummary]
    facts: list[Fact]
    time_column: str | None
    dropped_facts: int = 0
    fact_tokens: int = 0
    notes: list[str] = field(default_factory=list)
    _indexes: dict[tuple[str, ...], FactIndex] = field(default_factory=dict, repr=False, compare=False)

    def render(self) -> str:
        return render_facts(self.facts)

    def grounding_index(self, names: Iterable[str]) -> FactIndex:
        """``FactIndex`` of these facts and column names, built once per profile (a cached profile reuses it)."""
        key = tuple(names)
        index = self._indexes.get(key)
        if index is None:
            index = self._indexes[key] = FactIndex.build(self.facts, key)
        return index


def render_fact(fact: Fact) -> str:
    return f"- [{fact.id}] {fact.text}"


def render_facts(facts: list[Fact]) -> str:
    """The facts as the prompt shows them: one line each, its id in brackets."""
    return "\n".join(render_fact(fact) for fact in facts)


@dataclass(frozen=True)
class _Ranked:
    score: float
    order: tuple[int, int, int]  # kind, column position, rank within kind
    fact: Fact


def profile(
    frame: pd.DataFrame,
    *,
    count_tokens: Callable[[str], int] = approx_tokens,
    max_fact_tokens: int | None = None,
    correlation_threshold: float = CORRELATION_THRESHOLD,
    max_categories: int = MAX_CATEGORIES,
) -> DataProfile:
    """Shape, types, missing values, distributions, categories, correlations, trends and outliers."""
    ids = _FactIds()
    rows, n_columns = frame.shape
    ranked: list[_Ranked] = [
        _Ranked(
            1e9,
            (_KIND_ORDER["shape"], 0, 0),
            Fact(
                id="dataset.shape",
                kind="shape",
                text=f"The data has {fmt(rows)} rows and {fmt(n_columns)} columns.",
                values={"rows": float(rows), "columns": float(n_columns)},
            ),
        )
    ]
    position = {str(name): index for index, name in enumerate(frame.columns)}
    summaries: list[ColumnSummary] = []
    numeric: list[str] = []
    for name in frame.columns:
        column = str(name)
        series = frame[name]
        kind = column_kind(series)
        summary, fact, score = _column_fact(series, kind, rows, ids)
        summaries.append(summary)
        ranked.append(_Ranked(score, (_KIND_ORDER["column"], position[column], 0), fact))
        if kind == "numeric":
            numeric.append(column)
            for extra, extra_score in _numeric_facts(series, ids):
                ranked.append(_Ranked(extra_score, (_KIND_ORDER[extra.kind], position[column], 0), extra))
        elif kind in ("text", "boolean"):
            categories = _category_fact(series, ids, max_categories)
            if categories is not None:
                ranked.append(_Ranked(50.0, (_KIND_ORDER["categories"], position[column], 0), categories))
    time_column = find_time_column(frame)
    measures = [c for c in numeric if c != time_column]
    for rank, (fact, score) in enumerate(_correlation_facts(frame, measures, correlation_threshold, ids)):
        ranked.append(_Ranked(score, (_KIND_ORDER["correlation"], 0, rank), fact))
    if time_column is not None:
        for column, fact, score in _trend_facts(frame, time_column, measures, ids):
            ranked.append(_Ranked(score, (_KIND_ORDER["trend"], position[column], 0), fact))
    kept, dropped, tokens = _fit(ranked, count_tokens, max_fact_tokens)
    notes = []
    if dropped:
        notes.append(
            f"dropped {dropped} lower-priority fact{'s' if dropped != 1 else ''} to keep the facts within "
            f"{fmt(max_fact_tokens or 0)} tokens"
        )
    return DataProfile(
        rows=rows,
        columns=n_columns,
        column_summaries=summaries,
        facts=kept,
        time_column=time_column,
        dropped_facts=dropped,
        fact_tokens=tokens,
        notes=notes,
    )


def _fit(ranked: list[_Ranked], count_tokens: Callable[[str], int], budget: int | None) -> tuple[list[Fact], int, int]:
    """The most important facts whose rendered lines fit ``budget`` (the shape fact always stays)."""
    by_importance = sorted(ranked, key=lambda r: (-r.score, r.order))
    kept: list[_Ranked] = []
    used = 0
    for index, item in enumerate(by_importance):
        cost = count_tokens(render_fact(item.fact) + "\n")
        if budget is not None and kept and used + cost > budget:
            dropped = len(by_importance) - index
            break
        kept.append(item)
        used += cost
    else:
        dropped = 0
    return [item.fact for item in sorted(kept, key=lambda r: r.order)], dropped, used


def column_kind(series: pd.Series[Any]) -> str:
    if pd.api.types.is_bool_dtype(series.dtype):
        return "boolean"
    if pd.api.types.is_numeric_dtype(series.dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return "date"
    return "text"


def find_time_column(frame: pd.DataFrame) -> str | None:
    """The first date column with two or more distinct values; else an integer column named like ``year``."""
    for name in frame.columns:
        series = frame[name]
        if pd.api.types.is_datetime64_any_dtype(series.dtype) and series.nunique() >= 2:
            return str(name)
    for name in frame.columns:
        series = frame[name]
        if column_kind(series) != "numeric" or not _YEAR_NAME.search(str(name)):
            continue
        values = series.dropna().astype("float64")
        if values.nunique() >= 2 and (values == np.round(values)).all() and values.between(1000, 3000).all():
            return str(name)
    return None


def _column_fact(series: pd.Series[Any], kind: str, rows: int, ids: _FactIds) -> tuple[ColumnSummary, Fact, float]:
    name = str(series.name)
    missing = int(series.isna().sum())
    missing_pct = 100.0 * missing / rows if rows else 0.0
    distinct = int(series.nunique(dropna=True))
    label = {"numeric": "numeric", "date": "a date", "boolean": "true/false", "text": "text"}[kind]
    detail = ""
    if kind == "date" and missing < rows:
        detail = f" from {_when(series.min())} to {_when(series.max())}"
    elif kind == "text" and distinct == rows - missing and distinct > 10:
        detail = " (every value distinct: an identifier or free text)"
    text = (
        f"Column {quote(name, NAME_CHARS)} is {label}{detail}: {fmt(missing)} missing of {fmt(rows)} "
        f"({fmt_pct(missing_pct)}), {fmt(distinct)} distinct values."
    )
    fact = Fact(
        id=ids.make(name, "summary"),
        kind="column",
        text=text,
        values={"missing": float(missing), "missing_pct": missing_pct, "distinct": float(distinct)},
    )
    score = 60.0 + min(missing_pct, 100.0) / 5 if missing else (58.0 if kind == "date" else 20.0)
    return ColumnSummary(name, kind, missing, missing_pct, distinct), fact, score


def _numeric_facts(series: pd.Series[Any], ids: _FactIds) -> list[tuple[Fact, float]]:
    name = str(series.name)
    values = series.dropna().astype("float64")
    if values.empty:
        return []
    q1, median, q3 = (float(v) for v in values.quantile([0.25, 0.5, 0.75]))
    stats = {
        "mean": float(values.mean()),
        "median": median,
        "min": float(values.min()),
        "q1": q1,
        "q3": q3,
        "max": float(values.max()),
        "count": float(len(values)),
    }
    std = f", std {fmt(float(values.std()))}" if len(values) > 1 else ""
    if len(values) > 1:
        stats["std"] = float(values.std())
    text = (
        f"Column {quote(name, NAME_CHARS)}: mean {fmt(stats['mean'])}, median {fmt(median)}{std}, "
        f"min {fmt(stats['min'])}, 25th percentile {fmt(q1)}, 75th percentile {fmt(q3)}, max {fmt(stats['max'])} "
        f"({fmt(len(values))} values)."
    )
    facts = [(Fact(id=ids.make(name, "distribution"), kind="distribution", text=text, values=stats), 55.0)]
    iqr = q3 - q1
    if iqr > 0:
        lower, upper = q1 - 1.5 * iqr, q3 + 1.5 * iqr
        count = int(((values < lower) | (values > upper)).sum())
        if count:
            pct = 100.0 * count / len(values)
            facts.append(
                (
                    Fact(
                        id=ids.make(name, "outliers"),
                        kind="outliers",
                        text=(
                            f"Column {quote(name, NAME_CHARS)} has {fmt(count)} outlier{'s' if count != 1 else ''} "
                            f"by the IQR rule ({fmt_pct(pct)} of {fmt(len(values))} values; outside "
                            f"{fmt(lower)} to {fmt(upper)})."
                        ),
                        values={"count": float(count), "pct": pct, "lower": lower, "upper": upper},
                    ),
                    40.0 + min(pct, 50.0) / 5,
                )
            )
    return facts


def _category_fact(series: pd.Series[Any], ids: _FactIds, max_categories: int) -> Fact | None:
    name = str(series.name)
    present = series.dropna()
    distinct = int(present.nunique())
    if present.empty or (distinct == len(present) and distinct > 10):
        return None
    counts = present.astype(str).value_counts(sort=True).head(max_categories)
    values: dict[str, float] = {"distinct": float(distinct), "non_missing": float(len(present))}
    parts = []
    for rank, (value, count) in enumerate(counts.items(), start=1):
        pct = 100.0 * int(count) / len(present)
        values[f"top{rank}_count"] = float(count)
        values[f"top{rank}_pct"] = pct
        parts.append(f"{quote(str(value), VALUE_CHARS)} {fmt(int(count))} ({fmt_pct(pct)})")
    shown = "top values" if distinct > len(counts) else "values"
    text = (
        f"Column {quote(name, NAME_CHARS)} {shown}: {', '.join(parts)} of {fmt(len(present))} non-missing; "
        f"{fmt(distinct)} distinct."
    )
    return Fact(id=ids.make(name, "categories"), kind="categories", text=text, values=values)


def _correlation_facts(
    frame: pd.DataFrame, columns: list[str], threshold: float, ids: _FactIds
) -> list[tuple[Fact, float]]:
    usable = [c for c in columns if frame[c].nunique(dropna=True) > 1]
    if len(usable) < 2:
        return []
    data = frame[usable].astype("float64")
    matrix = data.corr(method="pearson", min_periods=3).to_numpy(dtype="float64")
    present = data.notna().to_numpy(dtype="int64")
    pair_counts = present.T @ present  # rows where both columns have a value
    pairs: list[tuple[float, int, int]] = []
    for i in range(len(usable)):
        for j in range(i + 1, len(usable)):
            r = float(matrix[i, j])
            if math.isfinite(r) and abs(r) >= threshold:
                pairs.append((r, i, j))
    pairs.sort(key=lambda p: -abs(p[0]))
    facts = []
    for r, i, j in pairs[:MAX_CORRELATIONS]:
        left, right = usable[i], usable[j]
        strength = "strongly" if abs(r) >= 0.8 else "moderately"
        sign = "positively" if r > 0 else "negatively"
        n = int(pair_counts[i, j])
        text = (
            f"Columns {quote(left, NAME_CHARS)} and {quote(right, NAME_CHARS)} are {strength} {sign} correlated "
            f"(Pearson r = {r:.2f}, {fmt(n)} rows)."
        )
        fact = Fact(id=ids.pair(left, right), kind="correlation", text=text, values={"r": r, "rows": float(n)})
        facts.append((fact, 70.0 + 20.0 * abs(r)))
    return facts


def _trend_facts(
    frame: pd.DataFrame, time_column: str, measures: list[str], ids: _FactIds
) -> list[tuple[str, Fact, float]]:
    if not measures:
        return []
    keys, unit = _period_keys(frame[time_column])
    data = frame[measures].astype("float64")
    grouped = data.groupby(keys, sort=True)
    means = grouped.mean()
    one_row_each = bool((grouped.size() == 1).all())
    how = "one row per period" if one_row_each else f"mean per {unit}"
    facts = []
    for column in measures:
        series = means[column].dropna()
        if len(series) < 2:
            continue
        first, last = float(series.iloc[0]), float(series.iloc[-1])
        change = last - first
        pct = 100.0 * change / abs(first) if first != 0 else None
        if pct is not None:
            direction = "flat" if abs(pct) < FLAT_PCT else ("up" if change > 0 else "down")
        else:
            direction = "flat" if change == 0 else ("up" if change > 0 else "down")
        values = {"first": first, "last": last, "change": change, "periods": float(len(series))}
        change_text = fmt(change, signed=True)
        if pct is not None:
            values["change_pct"] = pct
            change_text += f" ({fmt_pct(pct, signed=True)})"
        text = (
            f"Trend of {quote(column, NAME_CHARS)} over {quote(time_column, NAME_CHARS)}: {direction}, from "
            f"{fmt(first)} ({_label(series.index[0])}) to {fmt(last)} ({_label(series.index[-1])}), change "
            f"{change_text}; {fmt(len(series))} periods, {how}."
        )
        fact = Fact(id=ids.make(column, "trend"), kind="trend", text=text, values=values)
        facts.append((column, fact, 90.0 + min(abs(pct) if pct is not None else 100.0, 100.0) / 10))
    return facts


def _period_keys(series: pd.Series[Any]) -> tuple[pd.Series[Any], str]:
    """Group keys for a time column: each distinct time when there are few, else the finest period that gives
    at most ``MAX_PERIODS`` (day, week, month, quarter, year)."""
    if not pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series, "period"
    if series.nunique() <= MAX_PERIODS:
        return series, "date"
    naive = series.dt.tz_convert("UTC").dt.tz_localize(None) if series.dt.tz is not None else series
    periods = naive.dt.to_period(_PERIODS[-1][0])
    unit = _PERIODS[-1][1]
    for code, word in _PERIODS:
        periods = naive.dt.to_period(code)
        unit = word
        if periods.nunique() <= MAX_PERIODS:
            break
    return periods, unit


class _FactIds:
    """Readable, unique fact ids: ``columns.<slug>.<aspect>`` and ``correlations.<a>~<b>``."""

    def __init__(self) -> None:
        self._slugs: dict[str, str] = {}

    def slug(self, column: str) -> str:
        if column not in self._slugs:
            base = re.sub(r"[^A-Za-z0-9_]+", "_", column).strip("_")[:NAME_CHARS] or "column"
            slug, n = base, 1
            taken = set(self._slugs.values())
            while slug in taken:
                n += 1
                slug = f"{base}_{n}"
            self._slugs[column] = slug
        return self._slugs[column]

    def make(self, column: str, aspect: str) -> str:
        return f"columns.{self.slug(column)}.{aspect}"

    def pair(self, left: str, right: str) -> str:
        return f"correlations.{self.slug(left)}~{self.slug(right)}"


def _when(value: Any) -> str:
    stamp = pd.Timestamp(value)
    if stamp == stamp.normalize():
        return stamp.strftime("%Y-%m-%d")
    return stamp.isoformat(timespec="minutes")


def _label(value: Any) -> str:
    if isinstance(value, pd.Timestamp):
        return _when(value)
    if isinstance(value, pd.Period):
        return str(value)
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def fmt(value: float, *, signed: bool = False) -> str:
    """A number for reading: integers with thousands separators, others to about three significant digits."""
    x = float(value)
    if not math.isfinite(x):
        return str(x)
    sign = "+" if signed and x > 0 else ""
    if x.is_integer() and abs(x) < 1e15:
        return f"{sign}{int(x):,}"
    magnitude = abs(x)
    if magnitude >= 1000:
        text = f"{x:,.0f}"
    elif magnitude >= 100:
        text = f"{x:.1f}"
    elif magnitude >= 1:
        text = f"{x:.2f}"
    else:
        decimals = min(12, -math.floor(math.log10(magnitude)) + 2)
        text = f"{x:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return sign + text if text not in ("0", "-0") else f"{x:.2g}"


def fmt_pct(pct: float, *, signed: bool = False) -> str:
    """A percentage (already ×100) with one decimal for everyday sizes: ``8.3%``, ``50%``, ``0.04%``."""
    if abs(pct) >= 1 or pct == 0:
        text = f"{pct:.1f}".rstrip("0").rstrip(".")
        return ("+" if signed and pct > 0 else "") + text + "%"
    return fmt(pct, signed=signed) + "%"
