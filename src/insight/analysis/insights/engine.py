"""The insight engine: every type over the whole table and one-filter subspaces, within a time budget;
Benjamini–Hochberg over every test run; ranked by significance × impact; near-duplicates merged.

Ranking (documented in docs/insights.md):
- significance = 1 − p_adjusted (Benjamini–Hochberg over all tests); 1 for descriptive findings that
  have no p-value (a data-quality or a concentration threshold);
- impact = coverage × strength: coverage is the share of rows the subspace holds (1 for the whole
  table), strength the type's effect on a 0–1 scale (|r|, ε², a share, …);
- score = significance × impact. A question boosts (for ordering only) the insights on the columns and
  words it names, by 1 + 0.5 per name matched.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from insight.analysis.insights import (
    category_outlier,
    change_point,
    concentration,
    correlation,
    descriptive,
    dominance,
    exceptions,
    extremes,
    group_difference,
    period_comparison,
    quality,
    seasonality,
    trend,
)
from insight.analysis.insights.base import Candidate, Roles, TableView, column_roles
from insight.analysis.insights.model import Insight, InsightReport, QualityIssue, Subspace

Finder = Callable[[TableView], list[Candidate]]
Deriver = Callable[[list[Candidate], list[Candidate]], list[Candidate]]
"""Rewrites the findings that passed the FDR control (``(passed, all_candidates) -> passed``), e.g. sibling
subspace findings into one exception finding: no new test is run, so the p-values the new findings carry
come from the tests they combine."""

# Types searched in one-filter subspaces too; the rest read the whole table only.
SUBSPACE_TYPES = frozenset({"correlation", "trend", "group_difference"})
MAX_SUBSPACE_DIMENSION_VALUES = 12
MAX_NUMERIC_SEGMENT_VALUES = 3
QUESTION_BOOST = 0.5


def default_finders() -> dict[str, Finder]:
    """Every insight type the engine knows, by name."""
    return {
        "correlation": correlation.find,
        "dominance": dominance.find,
        "concentration": concentration.find,
        "category_outlier": category_outlier.find,
        "group_difference": group_difference.find,
        "trend": trend.find,
        "change_point": change_point.find,
        "seasonality": seasonality.find,
        "period_comparison": period_comparison.find,
        "extremes": extremes.find,
    }


def default_derivers() -> dict[str, Deriver]:
    """Findings made of other findings (exceptions across sibling subspaces), by name."""
    return {
        "category_outlier": category_outlier.prefer_outliers,
        "explained_outliers": explained_outliers,
        "exceptions": exceptions.derive,
    }


# Findings that split a measure into levels (by group, by period, by season, before/after a step).
_LEVELS = frozenset(
    {"group_difference", "category_outlier", "period_comparison", "seasonality", "change_point", "trend"}
)


def explained_outliers(passed: list[Candidate], _all: list[Candidate]) -> list[Candidate]:
    """Drop an ``outliers`` count on a measure whose levels a passed finding already explains: with one
    group, year or season shifted, its records sit far from the overall median without being anomalies
    (the planted-pattern evaluation counted those as false findings). The ``extreme`` value stays."""
    levelled = {c.columns[-1] for c in passed if c.subspace is None and c.type in _LEVELS}
    return [c for c in passed if not (c.type == "outliers" and c.subspace is None and c.columns[-1] in levelled)]


@dataclass(frozen=True)
class EngineSettings:
    top_k: int = 8
    fdr_q: float = 0.01
    time_budget_s: float = 2.5
    min_subspace_rows: int = 30
    min_subspace_share: float = 0.05


@dataclass
class _Search:
    candidates: list[Candidate] = field(default_factory=list)
    subspaces: int = 0
    exhausted: bool = False


class InsightEngine:
    """Computes the ranked insights of a typed table. Stateless: one instance serves every request."""

    def __init__(
        self,
        settings: EngineSettings = EngineSettings(),
        finders: dict[str, Finder] | None = None,
        derivers: dict[str, Deriver] | None = None,
    ) -> None:
        self.settings = settings
        self.finders = finders if finders is not None else default_finders()
        self.derivers = derivers if derivers is not None else default_derivers()

    def run(self, frame: pd.DataFrame, question: str | None = None, notes: Sequence[str] = ()) -> InsightReport:
        started = time.perf_counter()
        # The whole table is always searched completely; the subspace search gets what is left of the budget.
        issues = quality.assess(frame)
        suppressed = quality.suppressed_columns(issues)
        roles = _without(column_roles(frame), suppressed)
        search = _Search()
        whole = TableView(frame, roles)
        for finder in self.finders.values():
            search.candidates.extend(finder(whole))
        self._subspaces(frame, roles, started + self.settings.time_budget_s, search)
        tested = _adjust(search.candidates)
        passed = [c for c in search.candidates if _passes(c, self.settings.fdr_q)]
        for derive in self.derivers.values():
            passed = derive(passed, search.candidates)
        merged = _merge(passed)
        insights = _unique_ids([_insight(c, issues) for c in merged])
        ranked = sorted(insights, key=lambda i: (-_boosted(i, question), i.id))
        report_notes = list(notes)
        if suppressed:
            report_notes.append("left out as too incomplete (over half missing): " + ", ".join(sorted(suppressed)))
        return InsightReport(
            insights=ranked[: self.settings.top_k],
            descriptive=descriptive.describe(frame, roles),
            significant=len(ranked),
            candidates_tested=tested,
            fdr_q=self.settings.fdr_q,
            quality=issues,
            subspaces_searched=search.subspaces,
            budget_exhausted=search.exhausted,
            engine_ms=round((time.perf_counter() - started) * 1000.0, 1),
            notes=report_notes,
        )

    def _subspaces(self, frame: pd.DataFrame, roles: Roles, deadline: float, search: _Search) -> None:
        finders = [f for name, f in self.finders.items() if name in SUBSPACE_TYPES]
        if not finders:
            return
        rows = len(frame)
        floor = max(self.settings.min_subspace_rows, int(self.settings.min_subspace_share * rows))
        for dimension in roles.dimensions:
            column = frame[dimension]
            if _numeric(column) and column.nunique() > MAX_NUMERIC_SEGMENT_VALUES:
                continue  # a count or a rating is a dimension for group tests, not a segment to search
            labels = frame[dimension].astype(str).where(frame[dimension].notna())
            counts = labels.value_counts()
            if not 2 <= len(counts) <= MAX_SUBSPACE_DIMENSION_VALUES:
                continue
            inner = Roles(
                measures=[m for m in roles.measures if m != dimension],
                dimensions=[d for d in roles.dimensions if d != dimension],
                time=roles.time,
                entities=roles.entities,
            )
            for value, count in counts.items():
                if count < floor:
                    continue
                if time.perf_counter() > deadline:
                    search.exhausted = True
                    return
                part = frame[labels == value]
                view = TableView(
                    part,
                    inner,
                    subspace=Subspace(column=dimension, value=str(value)),
                    coverage=count / rows,
                    deadline=deadline,
                )
                search.subspaces += 1
                for finder in finders:
                    for candidate in finder(view):
                        candidate.subspace = view.subspace
                        candidate.coverage = view.coverage
                        search.candidates.append(candidate)


def _numeric(column: pd.Series[Any]) -> bool:
    return bool(pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype))


def _without(roles: Roles, suppressed: set[str]) -> Roles:
    return Roles(
        measures=[c for c in roles.measures if c not in suppressed],
        dimensions=[c for c in roles.dimensions if c not in suppressed],
        time=roles.time if roles.time not in suppressed else None,
        entities=[c for c in roles.entities if c not in suppressed],
    )


def _adjust(candidates: list[Candidate]) -> int:
    """Benjamini–Hochberg over every candidate with a p-value; returns how many tests that was."""
    tested = [c for c in candidates if c.test.p_value is not None]
    if not tested:
        return 0
    p_values = np.array([_clean_p(c.test.p_value) for c in tested])
    adjusted = stats.false_discovery_control(p_values, method="bh")
    for candidate, value in zip(tested, adjusted, strict=True):
        candidate.test = candidate.test.model_copy(update={"p_adjusted": float(value)})
    return len(tested)


def _clean_p(p: float | None) -> float:
    """A p-value in [0, 1]; NaN (an undefined test) counts as 1, never as significant."""
    if p is None or not np.isfinite(p):
        return 1.0
    return min(1.0, max(0.0, float(p)))


def _passes(candidate: Candidate, q: float) -> bool:
    if not candidate.reportable:
        return False
    return candidate.test.p_value is None or (candidate.test.p_adjusted is not None and candidate.test.p_adjusted <= q)


# Types that describe the same shape of a series: a step over the whole table shows as a trend in a subspace.
_FAMILIES = {"trend": "shape", "change_point": "shape"}


def _merge(passed: list[Candidate]) -> list[Candidate]:
    """A subspace finding that the whole table already shows (same type — or shape family — columns and
    direction) is dropped; so is the weaker of two findings on the same key in one subspace."""
    whole: dict[tuple[object, ...], list[Candidate]] = defaultdict(list)
    for c in passed:
        if c.subspace is None:
            whole[(_FAMILIES.get(c.type, c.type), tuple(c.columns))].append(c)
    best: dict[tuple[object, ...], Candidate] = {}
    for candidate in passed:
        if candidate.subspace is not None:
            family = (_FAMILIES.get(candidate.type, candidate.type), tuple(candidate.columns))
            if any(same.direction == candidate.direction for same in whole.get(family, [])):
                continue
        slot = (candidate.key, candidate.subspace)
        if slot not in best or _weight(candidate) > _weight(best[slot]):
            best[slot] = candidate
    return list(best.values())


def _unique_ids(insights: list[Insight]) -> list[Insight]:
    """Two findings on the same columns by different tests get ids told apart by the test's name."""
    counts: dict[str, int] = defaultdict(int)
    for insight in insights:
        counts[insight.id] += 1
    out = []
    for insight in insights:
        if counts[insight.id] > 1:
            slug = re.sub(r"[^a-z0-9]+", "-", insight.test.name.lower()).strip("-")
            insight = insight.model_copy(update={"id": f"{insight.id}#{slug}"})
        out.append(insight)
    return out


def _weight(candidate: Candidate) -> float:
    return _significance(candidate) * candidate.strength


def _significance(candidate: Candidate) -> float:
    if candidate.test.p_adjusted is None:
        return 1.0
    return max(0.0, 1.0 - candidate.test.p_adjusted)


def _insight(candidate: Candidate, issues: list[QualityIssue]) -> Insight:
    impact = min(1.0, max(0.0, candidate.coverage * candidate.strength))
    ident = f"{candidate.type}:{'~'.join(candidate.columns)}"
    if candidate.subspace is not None:
        ident += f"@{candidate.subspace.column}={candidate.subspace.value}"
    return Insight(
        id=ident,
        type=candidate.type,
        columns=candidate.columns,
        subspace=candidate.subspace,
        statement=candidate.statement,
        values=candidate.values,
        test=candidate.test,
        impact=round(impact, 4),
        score=round(_significance(candidate) * impact, 4),
        expression=candidate.expression,
        chart=candidate.chart() if callable(candidate.chart) else candidate.chart,
        caveats=[*candidate.caveats, *quality.caveats_for(candidate.columns, issues)],
    )


_WORD = re.compile(r"[a-z0-9]+")
_UNITS = re.compile(r"\([^)]*\)")


def _boosted(insight: Insight, question: str | None) -> float:
    return insight.score * (1.0 + QUESTION_BOOST * names_asked(insight, question))


def names_asked(insight: Insight, question: str | None) -> int:
    """How many of the insight's columns (and its subspace's value) the question names, word-wise."""
    if not question:
        return 0
    asked = set(_WORD.findall(question.lower()))
    named = set(insight.columns) | ({insight.subspace.value} if insight.subspace else set())
    return sum(1 for name in named if _named(name, asked))


def _named(name: str, asked: set[str]) -> bool:
    """Every word of the name (units in parentheses aside) is in the question: "petal length (cm)" is named by
    "what is the average petal length?", "sepal length (cm)" is not."""
    words = set(_WORD.findall(_UNITS.sub(" ", name.lower()))) or set(_WORD.findall(name.lower()))
    return bool(words) and words <= asked
