"""Planted-pattern evaluation of the insight engine: seeded tables with one pattern of known size among
distractor columns (or none: null tables), the engine run over them, and per-type recall and precision.

**Tables.** Every table has 200–2,000 rows (the suite's range), column names and category labels that are
random pronounceable words (never tuned names), and distractors: 2–3 iid normal measures (mean 20–500,
SD 10–30 % of the mean, a few with 1–3 % missing cells), 1–2 categorical columns with 3–6 uniform levels,
and, for types that do not need one, a date column with no structure half of the time. Rows of tables
with a date are in date order. A **null table** has only distractors: 3–5 iid measures, 1–3 uniform
categories, a structureless date column (70 %) and an entity column with iid values (30 %).

**Planted patterns** (sizes an analyst would call clear; each truth records the size *measured* on the
generated table, not only the parameter drawn):

============== =====================================================================================
type           pattern
============== =====================================================================================
dominance      one of 3–6 categories holds 60–80 % of the rows (exactly: counts are allocated)
concentration  30–400 entities (rows spread evenly), Zipf weights on a measure: the top 20 % of
               entities hold 65–85 % of its total
category_out.  one of 5–8 categories has its measure mean 1.5–3 within-group SDs above or below the
               others (whose means are equal)
group_diff.    3–5 categories with evenly spaced means (shuffled), highest − lowest 1.0–1.5 SD
correlation    two measures with Pearson r 0.6–0.9 (30 % of them negative)
trend          over 1–3 years of dates: +30–80 % (70 %) or −25–45 % change over the period, row noise SD
               8–15 % of the level
seasonality    2–3 whole calendar years: a month-of-year cycle (peak 25–50 % above the mean, random
               peak month), or (1/3) one or two adjacent weekdays 30–60 % above the rest
change_point   over 1–3 years: one step of 1.5–3 noise SDs (up or down) at 30–70 % of the period
period_comp.   3–5 whole calendar years: one year's level 25–50 % above or below the others
extreme        one record 6–10 SDs above (70 %) or below the mean of an iid measure
outliers       1–3 % of the rows (at least 3) at 5–10 SDs from the mean, either side
exception      3–5 categories over 1–3 years: all rise by 35–86 % except one, which falls by the same
               amount (−26 to −46 %), so every category has the same mean over the period
============== =====================================================================================

**Matching.** An insight matches a table's truth when its type is the planted type or a related one (the
table below), it names the columns the pattern needs (its ``subspace`` column counts as named), it names
no column outside the pattern (the date column and, for ``extreme``/``outliers``, the where/when
context columns are allowed), and, for the planted exception, the category it names as the exception (its
subspace, or in the statement) is the planted one.
An insight in a one-filter subspace matches like one on the whole table: the planted patterns hold in
every subspace of an independent distractor.

**Related types** — findings a planted pattern makes legitimately true (kept small; anything else on a
planted table is a false positive, and so is every insight on a null table):

- dominance → category_outlier, concentration (same category column: its top value stands out in counts,
  and holds the top share; any measure's total too, as the dominant category holds most rows);
- concentration → outliers, extreme (the measure is heavy-tailed), category_outlier (the top entity
  stands out), dominance (only when the top entity holds ≥ 50 % of the total);
- category_outlier → group_difference (the means do differ);
- trend → period_comparison; change_point → trend, period_comparison (a step is a monotone change);
- period_comparison → change_point (the year's edges are level changes), trend (only when the year is
  the first or last one: then the shift is a step);
- extreme ↔ outliers (a record 6–10 SDs out is an outlier record; the largest planted outlier is an
  extreme);
- exception → trend, period_comparison on the measure (most categories rise, so the table does too).

Deliberately *not* related: trend/seasonality → change_point, seasonality → trend (a cycle is neither a
step nor a trend), outliers → group_difference (a few extreme rows do not make the groups differ).

**Scores.** Recall of type T: the share of tables planted with T on which an insight matches the planted
pattern. Precision of T: of the insights of type T reported over all tables (null ones included), the
share that match their table's truth. Null rate: the share of null tables with any insight. The engine
runs with ``top_k`` raised so that every significant insight is scored, not only the ones shown.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from insight.analysis.insights.model import INSIGHT_TYPES, Insight, InsightReport, Subspace
from insight.errors import SuiteInvalid
from insight.evaluation.stats import MetricSummary, TargetResult, bootstrap, check_target, percentile_of
from insight.evaluation.suites import PLANTED_TYPES, Suite

if TYPE_CHECKING:
    from insight.config import Settings

EVAL_TOP_K = 1000
"""Every significant insight is scored (the engine's default shows the top 8 and counts the rest)."""
TOP_SHARE_ENTITIES = 0.2
NULL = "null"
_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"
_RESERVED = frozenset({"date", "time", "year", "month", "day", "week", "total", "count", "sum", "mean", "id"})
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

RELATED: dict[str, tuple[str, ...]] = {
    "dominance": ("category_outlier", "concentration"),
    "concentration": ("outliers", "extreme", "category_outlier", "dominance"),
    "category_outlier": ("group_difference",),
    "group_difference": (),
    "correlation": (),
    "trend": ("period_comparison",),
    "seasonality": (),
    "change_point": ("trend", "period_comparison"),
    "period_comparison": ("change_point", "trend"),
    "extreme": ("outliers",),
    "outliers": ("extreme",),
    "exception": ("trend", "period_comparison"),
}
"""The most each planted type can make legitimately true (conditions in the module docstring); a
table's truth lists the ones that hold for it."""


@dataclass(frozen=True)
class Expect:
    """An insight this table legitimately shows: its type, the columns it must name, those it may name."""

    type: str
    required: frozenset[str]
    allowed: frozenset[str]
    subspace: Subspace | None = None

    def matches(self, insight: Insight) -> bool:
        named = set(insight.columns) | ({insight.subspace.column} if insight.subspace else set())
        if insight.type != self.type or not self.required <= named or not set(insight.columns) <= self.allowed:
            return False
        if self.subspace is None:
            return True
        if insight.subspace is not None and insight.subspace.column == self.subspace.column:
            return insight.subspace.value == self.subspace.value
        # Named in the statement instead ("… in every region except APAC"): the label must be the planted one.
        said = re.search(rf"\b{re.escape(self.subspace.value)}\b", insight.statement) is not None
        return said or any(v.text == self.subspace.value for v in insight.values)


@dataclass(frozen=True)
class Truth:
    """What was planted: the type (None for a null table), the columns and subspace, the measured size."""

    type: str | None
    columns: tuple[str, ...]
    size: float
    size_name: str
    subspace: Subspace | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    expect: tuple[Expect, ...] = ()
    """The planted pattern first, then the related findings it makes true."""
    distractors: tuple[str, ...] = ()

    def match(self, insight: Insight) -> Expect | None:
        return next((e for e in self.expect if e.matches(insight)), None)

    def found_by(self, insight: Insight) -> bool:
        """The insight reports the planted pattern itself (recall), not only a related finding."""
        return bool(self.expect) and self.expect[0].matches(insight)

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "columns": list(self.columns),
            "size": self.size,
            "size_name": self.size_name,
            "subspace": self.subspace.describe() if self.subspace else None,
            "detail": self.detail,
            "related": sorted({e.type for e in self.expect[1:]}),
            "distractors": list(self.distractors),
        }


@dataclass(frozen=True)
class PlantedTable:
    id: str
    frame: pd.DataFrame
    truth: Truth


class _Builder:
    """One table's columns, names and random draws."""

    def __init__(self, rng: np.random.Generator, rows: int) -> None:
        self.rng = rng
        self.rows = rows
        self.columns: dict[str, Any] = {}
        self.used: set[str] = set()
        self.distractors: list[str] = []
        self.measures: list[str] = []
        self.dimensions: list[str] = []
        self.entities: list[str] = []
        self.time: str | None = None

    def word(self, capital: bool = False) -> str:
        while True:
            syllables = int(self.rng.integers(2, 4))
            text = "".join(
                str(self.rng.choice(list(_CONSONANTS))) + str(self.rng.choice(list(_VOWELS))) for _ in range(syllables)
            )
            if self.rng.random() < 0.4:
                text += str(self.rng.choice(list(_CONSONANTS)))
            if text in _RESERVED or text in self.used:
                continue
            self.used.add(text)
            return text.capitalize() if capital else text

    def labels(self, k: int) -> list[str]:
        return [self.word(capital=True) for _ in range(k)]

    # -- columns ----------------------------------------------------------------------------------
    def level(self) -> tuple[float, float]:
        mean = float(self.rng.uniform(20.0, 500.0))
        return mean, mean * float(self.rng.uniform(0.1, 0.3))

    def add(self, name: str, values: Any, role: str, distractor: bool = False) -> str:
        self.columns[name] = values
        {"measure": self.measures, "dimension": self.dimensions, "entity": self.entities}.get(role, []).append(name)
        if role == "time":
            self.time = name
        if distractor:
            self.distractors.append(name)
        return name

    def noise_measure(self, missing: bool = True) -> str:
        mean, sd = self.level()
        values = np.round(self.rng.normal(mean, sd, self.rows), 2)
        if missing and self.rng.random() < 0.3:
            holes = self.rng.random(self.rows) < self.rng.uniform(0.01, 0.03)
            values = np.where(holes, np.nan, values)
        return self.add(self.word(), values, "measure", distractor=True)

    def uniform_category(self, k: int | None = None) -> str:
        levels = self.labels(k or int(self.rng.integers(3, 7)))
        return self.add(self.word(), self.rng.choice(levels, self.rows), "dimension", distractor=True)

    def noise_entity(self) -> str:
        names = self.entity_names(int(self.rng.integers(max(30, self.rows // 40), max(31, self.rows // 5) + 1)))
        return self.add(self.word(), self.rng.choice(names, self.rows), "entity", distractor=True)

    def entity_names(self, n: int) -> list[str]:
        names: set[str] = set()
        while len(names) < n:
            names.add(f"{self.word(capital=True)}-{int(self.rng.integers(10, 100))}")
        return sorted(names)

    def dates(self, start: pd.Timestamp, days: int) -> np.ndarray:
        """``rows`` dates drawn uniformly from ``days`` days after ``start``, in order."""
        offsets = np.sort(self.rng.integers(0, days, self.rows))
        return np.asarray(start.to_datetime64() + offsets.astype("timedelta64[D]"), dtype="datetime64[ns]")

    def whole_years(self, years: int) -> tuple[pd.Timestamp, int]:
        start = pd.Timestamp(year=int(self.rng.integers(2012, 2022)), month=1, day=1)
        end = pd.Timestamp(year=start.year + years, month=1, day=1)
        return start, int((end - start).days)

    def span(self) -> tuple[pd.Timestamp, int]:
        start = pd.Timestamp("2012-01-01") + pd.Timedelta(days=int(self.rng.integers(0, 3650)))
        return start, 365 * int(self.rng.integers(1, 4))

    def time_column(self, start: pd.Timestamp, days: int, distractor: bool = False) -> tuple[str, np.ndarray]:
        """A date column and each row's position in the period (0 at the start, 1 at the end)."""
        values = self.dates(start, days)
        position = (values - start.to_datetime64()).astype("timedelta64[D]").astype("float64") / days
        return self.add(self.word(), values, "time", distractor=distractor), position

    def distract(self, with_date: bool) -> None:
        for _ in range(int(self.rng.integers(2, 4))):
            self.noise_measure()
        for _ in range(int(self.rng.integers(1, 3))):
            self.uniform_category()
        if with_date and self.time is None and self.rng.random() < 0.5:
            start, days = self.span()
            self.time_column(start, days, distractor=True)

    def frame(self) -> pd.DataFrame:
        order = list(self.columns)
        self.rng.shuffle(order)
        return pd.DataFrame({name: self.columns[name] for name in order})

    def context(self, *names: str) -> frozenset[str]:
        """The planted columns plus the date column (an insight may say when)."""
        return frozenset({*names, *([self.time] if self.time else [])})


def _expect(kind: str, required: Iterable[str], allowed: Iterable[str], subspace: Subspace | None = None) -> Expect:
    needed = frozenset(required)
    return Expect(kind, needed, frozenset(allowed) | needed, subspace)


def _pct_change(values: np.ndarray, position: np.ndarray) -> float:
    """The least-squares line's change over the period, in % of its start."""
    slope, intercept = np.polyfit(position, values, 1)
    return float(100.0 * slope / intercept)


def _top_key(means: pd.Series[float]) -> int:
    """The integer key (group number, weekday, month − 1) of the largest mean."""
    return int(means.index.to_numpy()[int(np.argmax(means.to_numpy()))])


def _robust_z(values: np.ndarray) -> np.ndarray:
    median = np.nanmedian(values)
    mad = 1.4826 * np.nanmedian(np.abs(values - median))
    return np.asarray((values - median) / mad, dtype=np.float64)


# -- one function per planted type: (builder) → truth ---------------------------------------------------
def _dominance(b: _Builder) -> Truth:
    k = int(b.rng.integers(3, 7))
    levels = b.labels(k)
    share = float(b.rng.uniform(0.60, 0.80))
    top = int(round(share * b.rows))
    rest = b.rng.multinomial(b.rows - top, [1.0 / (k - 1)] * (k - 1))
    values = np.repeat(np.array(levels), [top, *rest])
    b.rng.shuffle(values)
    name = b.add(b.word(), values, "dimension")
    b.distract(with_date=True)
    allowed = b.context(name, *b.measures)
    return Truth(
        type="dominance",
        columns=(name,),
        size=top / b.rows,
        size_name="top_share",
        detail={"label": levels[0], "categories": k},
        expect=tuple(_expect(t, [name], allowed) for t in ("dominance", "category_outlier", "concentration")),
        distractors=tuple(b.distractors),
    )


def _zipf_exponent(n: int, top: int, share: float) -> float:
    """The exponent a of weights i^-a (i = 1..n) whose top ``top`` hold ``share`` of the total."""
    ranks = np.arange(1, n + 1, dtype=np.float64)
    low, high = 0.0, 8.0
    for _ in range(60):
        mid = (low + high) / 2
        weights = ranks**-mid
        if weights[:top].sum() / weights.sum() < share:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def _concentration(b: _Builder) -> Truth:
    n = int(b.rng.integers(max(30, b.rows // 40), max(31, b.rows // 5) + 1))
    names = b.entity_names(n)
    b.rng.shuffle(names)
    top = math.ceil(TOP_SHARE_ENTITIES * n)
    target = float(b.rng.uniform(0.65, 0.85))
    weights = np.arange(1, n + 1, dtype=np.float64) ** -_zipf_exponent(n, top, target)
    owner = b.rng.permutation(np.arange(b.rows) % n)
    mean, _ = b.level()
    values = np.round(mean * n * weights[owner] * b.rng.lognormal(0.0, 0.25, b.rows), 2)
    entity = b.add(b.word(), np.array(names)[owner], "entity")
    measure = b.add(b.word(), values, "measure")
    b.distract(with_date=True)
    totals = pd.Series(values).groupby(np.array(names)[owner]).sum().sort_values(ascending=False)
    share = float(totals.iloc[:top].sum() / totals.sum())
    top_one = float(totals.iloc[0] / totals.sum())
    context = b.context(entity, measure) | set(b.dimensions)
    expect = [
        _expect("concentration", [entity, measure], b.context(entity, measure)),
        _expect("outliers", [measure], context),
        _expect("extreme", [measure], context),
        _expect("category_outlier", [entity, measure], b.context(entity, measure)),
    ]
    if top_one >= 0.5:
        expect.append(_expect("dominance", [entity, measure], b.context(entity, measure)))
    return Truth(
        type="concentration",
        columns=(entity, measure),
        size=share,
        size_name="top_20pct_share",
        detail={"entities": n, "top_entities": top, "top_entity_share": round(top_one, 4)},
        expect=tuple(expect),
        distractors=tuple(b.distractors),
    )


def _category_outlier(b: _Builder) -> Truth:
    k = int(b.rng.integers(5, 9))
    levels = b.labels(k)
    groups = b.rng.integers(0, k, b.rows)
    mean, sd = b.level()
    shift = float(b.rng.uniform(1.5, 3.0)) * (1 if b.rng.random() < 0.5 else -1)
    values = b.rng.normal(mean, sd, b.rows) + np.where(groups == 0, shift * sd, 0.0)
    dimension = b.add(b.word(), np.array(levels)[groups], "dimension")
    values = np.round(values, 2)
    measure = b.add(b.word(), values, "measure")
    b.distract(with_date=True)
    means = pd.Series(values).groupby(groups).mean()
    within = float(pd.Series(values).groupby(groups).std().mean())
    allowed = b.context(dimension, measure)
    return Truth(
        type="category_outlier",
        columns=(dimension, measure),
        size=float((means.loc[0] - means.drop(0).mean()) / within),
        size_name="gap_in_within_sd",
        detail={"label": levels[0], "categories": k},
        expect=(
            _expect("category_outlier", [dimension, measure], allowed),
            _expect("group_difference", [dimension, measure], allowed),
        ),
        distractors=tuple(b.distractors),
    )


def _group_difference(b: _Builder) -> Truth:
    k = int(b.rng.integers(3, 6))
    levels = b.labels(k)
    groups = b.rng.integers(0, k, b.rows)
    mean, sd = b.level()
    spread = float(b.rng.uniform(1.0, 1.5))
    offsets = b.rng.permutation(np.linspace(0.0, spread, k)) * sd
    values = b.rng.normal(mean, sd, b.rows) + offsets[groups]
    dimension = b.add(b.word(), np.array(levels)[groups], "dimension")
    values = np.round(values, 2)
    measure = b.add(b.word(), values, "measure")
    b.distract(with_date=True)
    series = pd.Series(values)
    means = series.groupby(groups).mean()
    pooled = float(np.sqrt(series.groupby(groups).var().mean()))
    total = float(((series - series.mean()) ** 2).sum())
    between = float((series.groupby(groups).size() * (means - series.mean()) ** 2).sum())
    allowed = b.context(dimension, measure)
    return Truth(
        type="group_difference",
        columns=(dimension, measure),
        size=float((means.max() - means.min()) / pooled),
        size_name="max_gap_in_pooled_sd",
        detail={"eta_squared": round(between / total, 4), "categories": k, "top": levels[_top_key(means)]},
        expect=(_expect("group_difference", [dimension, measure], allowed),),
        distractors=tuple(b.distractors),
    )


def _correlation(b: _Builder) -> Truth:
    r = float(b.rng.uniform(0.6, 0.9)) * (-1 if b.rng.random() < 0.3 else 1)
    x = b.rng.standard_normal(b.rows)
    y = r * x + math.sqrt(1 - r * r) * b.rng.standard_normal(b.rows)
    (mx, sx), (my, sy) = b.level(), b.level()
    left = b.add(b.word(), np.round(mx + sx * x, 2), "measure")
    right = b.add(b.word(), np.round(my + sy * y, 2), "measure")
    b.distract(with_date=True)
    measured = float(np.corrcoef(b.columns[left], b.columns[right])[0, 1])
    allowed = b.context(left, right)
    return Truth(
        type="correlation",
        columns=(left, right),
        size=measured,
        size_name="pearson_r",
        detail={"planted_r": round(r, 4)},
        expect=(_expect("correlation", [left, right], allowed),),
        distractors=tuple(b.distractors),
    )


def _noise_sd(b: _Builder, mean: float) -> float:
    return mean * float(b.rng.uniform(0.08, 0.15))


def _trend(b: _Builder) -> Truth:
    start, days = b.span()
    when, position = b.time_column(start, days)
    change = float(b.rng.uniform(0.3, 0.8)) if b.rng.random() < 0.7 else -float(b.rng.uniform(0.25, 0.45))
    mean, _ = b.level()
    values = mean * (1 + change * position) + b.rng.normal(0.0, _noise_sd(b, mean), b.rows)
    values = np.round(values, 2)
    measure = b.add(b.word(), values, "measure")
    b.distract(with_date=False)
    allowed = b.context(measure)
    return Truth(
        type="trend",
        columns=(measure, when),
        size=_pct_change(values, position),
        size_name="pct_change_over_period",
        detail={"planted_pct": round(100 * change, 2), "days": days},
        expect=(_expect("trend", [measure], allowed), _expect("period_comparison", [measure], allowed)),
        distractors=tuple(b.distractors),
    )


def _seasonality(b: _Builder) -> Truth:
    weekly = b.rng.random() < 1 / 3
    start, days = b.whole_years(int(b.rng.integers(2, 4)))
    when, _ = b.time_column(start, days)
    stamps = pd.DatetimeIndex(b.columns[when])
    mean, _ = b.level()
    if weekly:
        first = int(b.rng.integers(0, 7))
        peak_days = {first, (first + int(b.rng.integers(0, 2))) % 7}
        lift = float(b.rng.uniform(0.3, 0.6))
        profile = 1 + lift * np.isin(stamps.day_of_week, sorted(peak_days))
        key = np.asarray(stamps.day_of_week)
        names: Sequence[str] = _WEEKDAYS
    else:
        peak = int(b.rng.integers(0, 12))
        amplitude = float(b.rng.uniform(0.25, 0.5))
        phase = (stamps.day_of_year.to_numpy() - 1) / 365.25 - (peak + 0.5) / 12
        profile = 1 + amplitude * np.cos(2 * np.pi * phase)
        key = np.asarray(stamps.month - 1)
        names = _MONTHS
    values = mean * profile + b.rng.normal(0.0, _noise_sd(b, mean), b.rows)
    values = np.round(values, 2)
    measure = b.add(b.word(), values, "measure")
    b.distract(with_date=False)
    means = pd.Series(values).groupby(key).mean()
    return Truth(
        type="seasonality",
        columns=(measure, when),
        size=float((means.max() - means.min()) / np.mean(values)),
        size_name="peak_to_trough_over_mean",
        detail={"cycle": "weekday" if weekly else "month", "peak": names[_top_key(means)]},
        expect=(_expect("seasonality", [measure], b.context(measure)),),
        distractors=tuple(b.distractors),
    )


def _change_point(b: _Builder) -> Truth:
    start, days = b.span()
    when, position = b.time_column(start, days)
    at = float(b.rng.uniform(0.3, 0.7))
    mean, _ = b.level()
    sd = _noise_sd(b, mean)
    step = float(b.rng.uniform(1.5, 3.0)) * (1 if b.rng.random() < 0.5 else -1)
    after = position >= at
    values = mean + np.where(after, step * sd, 0.0) + b.rng.normal(0.0, sd, b.rows)
    values = np.round(values, 2)
    measure = b.add(b.word(), values, "measure")
    b.distract(with_date=False)
    before_mean, after_mean = float(values[~after].mean()), float(values[after].mean())
    allowed = b.context(measure)
    return Truth(
        type="change_point",
        columns=(measure, when),
        size=(after_mean - before_mean) / sd,
        size_name="step_in_noise_sd",
        detail={
            "date": str((start + pd.Timedelta(days=int(at * days))).date()),
            "pct": round(100 * (after_mean - before_mean) / before_mean, 2),
        },
        expect=tuple(_expect(t, [measure], allowed) for t in ("change_point", "trend", "period_comparison")),
        distractors=tuple(b.distractors),
    )


def _period_comparison(b: _Builder) -> Truth:
    years = int(b.rng.integers(3, 6))
    start, days = b.whole_years(years)
    when, _ = b.time_column(start, days)
    year = pd.DatetimeIndex(b.columns[when]).year.to_numpy()
    chosen = start.year + int(b.rng.integers(0, years))
    shift = float(b.rng.uniform(0.25, 0.5)) * (1 if b.rng.random() < 0.5 else -1)
    mean, _ = b.level()
    values = mean * (1 + np.where(year == chosen, shift, 0.0)) + b.rng.normal(0.0, _noise_sd(b, mean), b.rows)
    values = np.round(values, 2)
    measure = b.add(b.word(), values, "measure")
    b.distract(with_date=False)
    inside, outside = float(values[year == chosen].mean()), float(values[year != chosen].mean())
    allowed = b.context(measure)
    related = ["change_point"] + (["trend"] if chosen in (start.year, start.year + years - 1) else [])
    return Truth(
        type="period_comparison",
        columns=(measure, when),
        size=100.0 * (inside - outside) / outside,
        size_name="pct_vs_other_years",
        detail={"year": chosen, "years": years},
        expect=tuple(_expect(t, [measure], allowed) for t in ("period_comparison", *related)),
        distractors=tuple(b.distractors),
    )


def _extreme(b: _Builder) -> Truth:
    if b.rng.random() < 0.7:
        start, days = b.span()
        b.time_column(start, days, distractor=True)
    mean, sd = b.level()
    values = b.rng.normal(mean, sd, b.rows)
    row = int(b.rng.integers(0, b.rows))
    values[row] = mean + float(b.rng.uniform(6.0, 10.0)) * sd * (1 if b.rng.random() < 0.7 else -1)
    values = np.round(values, 2)
    measure = b.add(b.word(), values, "measure")
    b.distract(with_date=False)
    context = b.context(measure) | set(b.dimensions) | set(b.entities)
    detail: dict[str, Any] = {"value": round(float(values[row]), 2)}
    if b.time:
        detail["date"] = str(pd.Timestamp(b.columns[b.time][row]).date())
    return Truth(
        type="extreme",
        columns=(measure,),
        size=float(_robust_z(values)[row]),
        size_name="robust_z",
        detail=detail,
        expect=(_expect("extreme", [measure], context), _expect("outliers", [measure], context)),
        distractors=tuple(b.distractors),
    )


def _outliers(b: _Builder) -> Truth:
    if b.rng.random() < 0.5:
        start, days = b.span()
        b.time_column(start, days, distractor=True)
    mean, sd = b.level()
    values = b.rng.normal(mean, sd, b.rows)
    count = max(3, int(round(float(b.rng.uniform(0.01, 0.03)) * b.rows)))
    rows = b.rng.choice(b.rows, count, replace=False)
    signs = np.where(b.rng.random(count) < 0.5, 1.0, -1.0)
    values[rows] = mean + signs * b.rng.uniform(5.0, 10.0, count) * sd
    values = np.round(values, 2)
    measure = b.add(b.word(), values, "measure")
    b.distract(with_date=False)
    context = b.context(measure) | set(b.dimensions) | set(b.entities)
    return Truth(
        type="outliers",
        columns=(measure,),
        size=float(count),
        size_name="records",
        detail={"min_abs_robust_z": round(float(np.abs(_robust_z(values)[rows]).min()), 2)},
        expect=(_expect("outliers", [measure], context), _expect("extreme", [measure], context)),
        distractors=tuple(b.distractors),
    )


def _exception(b: _Builder) -> Truth:
    start, days = b.span()
    when, position = b.time_column(start, days)
    k = int(b.rng.integers(3, 6))
    levels = b.labels(k)
    groups = b.rng.integers(0, k, b.rows)
    change = float(b.rng.uniform(0.3, 0.6))
    mean, _ = b.level()
    direction = np.where(groups == 0, -1.0, 1.0)
    values = mean * (1 + direction * change * (position - 0.5)) + b.rng.normal(
        0.0, mean * float(b.rng.uniform(0.06, 0.12)), b.rows
    )
    dimension = b.add(b.word(), np.array(levels)[groups], "dimension")
    values = np.round(values, 2)
    measure = b.add(b.word(), values, "measure")
    b.distract(with_date=False)
    exception = Subspace(column=dimension, value=levels[0])
    own = _pct_change(values[groups == 0], position[groups == 0])
    others = _pct_change(values[groups != 0], position[groups != 0])
    allowed = b.context(measure, dimension)
    return Truth(
        type="exception",
        columns=(measure, when, dimension),
        size=own,
        size_name="exception_pct_change",
        subspace=exception,
        detail={"label": levels[0], "others_pct_change": round(others, 2), "categories": k},
        expect=(
            _expect("exception", [measure, dimension], allowed, exception),
            _expect("trend", [measure], allowed),
            _expect("period_comparison", [measure], allowed),
        ),
        distractors=tuple(b.distractors),
    )


def _null(b: _Builder) -> Truth:
    for _ in range(int(b.rng.integers(3, 6))):
        b.noise_measure()
    for _ in range(int(b.rng.integers(1, 4))):
        b.uniform_category()
    if b.rng.random() < 0.7:
        start, days = b.span()
        b.time_column(start, days, distractor=True)
    if b.rng.random() < 0.3:
        b.noise_entity()
    return Truth(type=None, columns=(), size=0.0, size_name="none", distractors=tuple(b.distractors))


PLANTERS: dict[str, Callable[[_Builder], Truth]] = {
    "dominance": _dominance,
    "concentration": _concentration,
    "category_outlier": _category_outlier,
    "group_difference": _group_difference,
    "correlation": _correlation,
    "trend": _trend,
    "seasonality": _seasonality,
    "change_point": _change_point,
    "period_comparison": _period_comparison,
    "extreme": _extreme,
    "outliers": _outliers,
    "exception": _exception,
}
assert set(PLANTERS) == set(PLANTED_TYPES) == set(RELATED) and set(PLANTED_TYPES) <= set(INSIGHT_TYPES)


def generate(
    kind: str, seed: int, index: int = 0, rows: int | None = None, row_range: tuple[int, int] = (200, 2000)
) -> PlantedTable:
    """One table planted with ``kind`` (or ``"null"``), the same for the same (kind, seed, index)."""
    if kind != NULL and kind not in PLANTERS:
        raise ValueError(f"no planted type {kind!r}; known: {', '.join(PLANTERS)} and {NULL!r}")
    slot = [*PLANTED_TYPES, NULL].index(kind)
    rng = np.random.default_rng(np.random.SeedSequence([seed, slot, index]))
    count = rows if rows is not None else int(rng.integers(row_range[0], row_range[1] + 1))
    builder = _Builder(rng, count)
    truth = (PLANTERS[kind] if kind != NULL else _null)(builder)
    return PlantedTable(id=f"{kind}-{index:03d}", frame=builder.frame(), truth=truth)


def generate_suite(
    seed: int,
    tables_per_type: int,
    null_tables: int,
    types: Sequence[str] = PLANTED_TYPES,
    row_range: tuple[int, int] = (200, 2000),
) -> list[PlantedTable]:
    tables = [generate(t, seed, i, row_range=row_range) for t in types for i in range(tables_per_type)]
    return tables + [generate(NULL, seed, i, row_range=row_range) for i in range(null_tables)]


def tables_sha256(tables: Sequence[PlantedTable]) -> str:
    """The generated data's identity: every table's cells and truth."""
    digest = hashlib.sha256()
    for table in tables:
        digest.update(table.id.encode())
        digest.update(pd.util.hash_pandas_object(table.frame, index=False).to_numpy().tobytes())
        digest.update(json.dumps(table.truth.as_dict(), sort_keys=True, default=str).encode())
    return digest.hexdigest()


# -- scoring ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scored:
    """One reported insight: whether it is true of its table, and whether it names only distractors."""

    id: str
    type: str
    matched: bool
    distractor: bool


@dataclass(frozen=True)
class TableScore:
    table: str
    planted: str | None
    found: bool | None
    """None on a null table."""
    rank: int | None
    """1-based rank of the first insight reporting the planted pattern."""
    insights: tuple[Scored, ...]
    engine_ms: float

    @property
    def false_positives(self) -> int:
        return sum(not s.matched for s in self.insights)


def score_report(table: PlantedTable, report: InsightReport) -> TableScore:
    truth = table.truth
    distractors = set(truth.distractors)
    scored = []
    rank = None
    for position, insight in enumerate(report.insights, start=1):
        named = set(insight.columns) | ({insight.subspace.column} if insight.subspace else set())
        matched = truth.match(insight) is not None
        scored.append(Scored(insight.id, insight.type, matched, not matched and named <= distractors))
        if rank is None and truth.found_by(insight):
            rank = position
    return TableScore(
        table=table.id,
        planted=truth.type,
        found=None if truth.type is None else rank is not None,
        rank=rank,
        insights=tuple(scored),
        engine_ms=report.engine_ms,
    )


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    def statistic(idx: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(numerator[idx].sum(axis=1) / denominator[idx].sum(axis=1), dtype=np.float64)

    return statistic


def metric_names(types: Sequence[str] = PLANTED_TYPES) -> list[str]:
    return [
        *(f"recall.{t}" for t in types),
        *(f"precision.{t}" for t in types),
        "recall",
        "precision",
        "null_rate",
        "distractor_share",
        "latency_p50",
        "latency_p95",
    ]


def summarize_scores(
    scores: Sequence[TableScore], metrics: Sequence[str], *, samples: int, seed: int
) -> dict[str, MetricSummary]:
    """Each metric with a 95 % bootstrap interval over tables (ratios are resampled as ratios of sums)."""
    n = len(scores)
    planted = np.array([s.planted is not None for s in scores])
    found = np.array([bool(s.found) for s in scores], dtype=np.float64)
    count = np.array([len(s.insights) for s in scores], dtype=np.float64)
    out: dict[str, MetricSummary] = {}
    for metric in metrics:
        kind, _, type_name = metric.partition(".")
        if metric in ("latency_p50", "latency_p95"):
            values = np.array([s.engine_ms for s in scores], dtype=np.float64)
            statistic, counted = percentile_of(values, 50.0 if metric == "latency_p50" else 95.0), n
        elif kind == "recall":
            mask = planted & (np.array([s.planted == type_name for s in scores]) if type_name else True)
            statistic, counted = _ratio(found * mask, mask.astype(np.float64)), int(mask.sum())
        elif kind == "precision":
            typed = [[i for i in s.insights if not type_name or i.type == type_name] for s in scores]
            reported = np.array([len(t) for t in typed], dtype=np.float64)
            matched = np.array([sum(i.matched for i in t) for t in typed], dtype=np.float64)
            statistic, counted = _ratio(matched, reported), int(reported.sum())
        elif metric == "null_rate":
            null = (~planted).astype(np.float64)
            statistic, counted = _ratio((count > 0) * null, null), int(null.sum())
        elif metric == "distractor_share":
            on_planted = count * planted
            distractor = np.array([sum(i.distractor for i in s.insights) for s in scores], dtype=np.float64) * planted
            statistic, counted = _ratio(distractor, on_planted), int(on_planted.sum())
        else:
            raise ValueError(f"metric {metric!r} is not measured on planted tables")
        if counted == 0 or n == 0:
            out[metric] = MetricSummary(metric, None, None, None, 0, 0)
            continue
        value, low, high = bootstrap(statistic, n, samples, seed)
        out[metric] = MetricSummary(metric, value, low, high, int(counted), 0)
    return out


def per_type_table(scores: Sequence[TableScore], types: Sequence[str] = PLANTED_TYPES) -> dict[str, dict[str, Any]]:
    """Per type: tables planted, found, insights reported, matched, recall and precision (None: undefined),
    and its false positives: on null tables, naming distractor columns only, and by the table's planted type."""
    out: dict[str, dict[str, Any]] = {}
    for kind in types:
        tables = [s for s in scores if s.planted == kind]
        found = sum(bool(s.found) for s in tables)
        reported = [i for s in scores for i in s.insights if i.type == kind]
        matched = sum(i.matched for i in reported)
        out[kind] = {
            "tables": len(tables),
            "found": found,
            "reported": len(reported),
            "matched": matched,
            "recall": round(found / len(tables), 4) if tables else None,
            "precision": round(matched / len(reported), 4) if reported else None,
            "false_positives_on_null": sum(
                1 for s in scores if s.planted is None for i in s.insights if i.type == kind
            ),
            "false_positives_on_distractors": sum(i.distractor for i in reported),
            "false_positives_by_table": dict(
                sorted(
                    Counter(
                        s.planted or NULL for s in scores for i in s.insights if i.type == kind and not i.matched
                    ).most_common()
                )
            ),
        }
    return out


class Engine(Protocol):
    def run(self, frame: pd.DataFrame, question: str | None = None, notes: Sequence[str] = ()) -> InsightReport: ...


def evaluation_engine(settings: Settings) -> Engine:
    """The service's engine with its configured FDR level, budget and subspace floor; every insight kept."""
    from insight.analysis.insights.engine import EngineSettings, InsightEngine

    analysis = settings.analysis
    return InsightEngine(
        EngineSettings(
            top_k=EVAL_TOP_K,
            fdr_q=analysis.fdr_q,
            time_budget_s=analysis.insight_budget_s,
            min_subspace_rows=analysis.min_subspace_rows,
        )
    )


def run_tables(
    engine: Engine, tables: Sequence[PlantedTable], progress: Callable[[int, int], None] | None = None
) -> list[tuple[TableScore, InsightReport]]:
    out = []
    for done, table in enumerate(tables, start=1):
        report = engine.run(table.frame)
        out.append((score_report(table, report), report))
        if progress is not None:
            progress(done, len(tables))
    return out


@dataclass(frozen=True)
class PlantedCase:
    """One table's outcome, as the runner records a case."""

    case_id: str
    scores: dict[str, float]
    latency_ms: float
    output: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class PlantedRun:
    """A ``kind: insights`` suite's outcome: the cases, every metric, each target checked, the run's params."""

    dataset: str
    dataset_sha256: str
    params: dict[str, str]
    metrics: dict[str, MetricSummary]
    targets: list[TargetResult]
    cases: list[PlantedCase]
    seconds: float

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.targets)


def run_planted(
    suite: Suite,
    settings: Settings,
    *,
    engine: Engine | None = None,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PlantedRun:
    """A ``kind: insights`` suite: generate its tables, run the engine, score, check the suite's targets."""
    spec = suite.planted
    if spec is None:
        raise SuiteInvalid(f"suite {suite.name} has no 'planted' section")
    types = spec.types or list(PLANTED_TYPES)
    per_type = min(spec.tables_per_type, limit) if limit else spec.tables_per_type
    nulls = min(spec.null_tables, limit) if limit else spec.null_tables
    started = time.perf_counter()
    tables = generate_suite(spec.seed, per_type, nulls, types, (spec.min_rows, spec.max_rows))
    digest = tables_sha256(tables)
    chosen = engine if engine is not None else evaluation_engine(settings)
    scored = run_tables(chosen, tables, progress)
    cases = [
        PlantedCase(
            case_id=score.table,
            scores={"found": float(score.found)} if score.found is not None else {},
            latency_ms=score.engine_ms,
            output="; ".join(i.id for i in report.insights[:10]),
            detail={
                "rows": len(table.frame),
                "truth": table.truth.as_dict(),
                "rank": score.rank,
                "insights": [asdict(i) for i in score.insights],
                "false_positives": score.false_positives,
            },
        )
        for table, (score, report) in zip(tables, scored, strict=True)
    ]
    samples, seed = settings.evaluation.bootstrap_samples, settings.evaluation.seed
    summaries = summarize_scores([score for score, _ in scored], suite.metrics, samples=samples, seed=seed)
    targets = [check_target(t, summaries.get(t.metric), suite.max_unmeasured) for t in suite.targets]
    finders = getattr(chosen, "finders", {})
    params = {
        "planted_seed": str(spec.seed),
        "rows": f"{spec.min_rows}-{spec.max_rows}",
        "engine_types": ",".join(sorted(finders)) if isinstance(finders, dict) else "",
        "eval_top_k": str(EVAL_TOP_K),
        "fdr_q": str(settings.analysis.fdr_q),
    }
    return PlantedRun(
        dataset=f"planted: {per_type} per type × {len(types)} types + {nulls} null tables, seed {spec.seed}",
        dataset_sha256=digest,
        params=params,
        metrics=summaries,
        targets=targets,
        cases=cases,
        seconds=round(time.perf_counter() - started, 2),
    )
