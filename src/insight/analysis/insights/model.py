"""Typed insights: what the engine computes, ranks and hands to the narrator.

Every figure in a ``statement`` is one of its ``values`` (with what it is), so a narrator can refer to
figures by key and the service can fill them in; ``expression`` is pandas code that reproduces them on
the posted table (``df``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

InsightType = Literal[
    "dominance",
    "concentration",
    "category_outlier",
    "group_difference",
    "correlation",
    "trend",
    "seasonality",
    "change_point",
    "period_comparison",
    "extreme",
    "outliers",
    "exception",
    "overview",
    "distribution",
]
INSIGHT_TYPES: tuple[str, ...] = InsightType.__args__  # type: ignore[attr-defined]
DESCRIPTIVE_TYPES = frozenset({"overview", "distribution"})
"""Stated, not tested: never counted among the insights (a table of noise still has a shape)."""

QualityKind = Literal["missing", "constant", "duplicate_rows", "mixed_types", "skew", "high_cardinality"]


class Subspace(BaseModel):
    """A one-column filter (``column == value``) the insight holds in."""

    model_config = ConfigDict(frozen=True)

    column: str
    value: str

    def describe(self) -> str:
        return f'{self.column} = "{self.value}"'


class InsightValue(BaseModel):
    """One figure of a statement: its key, exact value, the text it appears as, and what it is."""

    model_config = ConfigDict(frozen=True)

    key: str
    value: float | None = Field(description="the number (None for a date or a label)")
    text: str = Field(description="the figure exactly as the statement writes it")
    what: str


class InsightTest(BaseModel):
    """The statistical criterion behind an insight; ``p_adjusted`` is after Benjamini–Hochberg."""

    name: str
    statistic: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    effect_name: str | None = None
    effect_size: float | None = None


class Insight(BaseModel):
    id: str
    type: InsightType
    columns: list[str]
    subspace: Subspace | None = None
    statement: str
    values: list[InsightValue]
    test: InsightTest
    impact: float = Field(ge=0.0, le=1.0, description="coverage (share of rows or of the total) × effect strength")
    score: float = Field(ge=0.0, le=1.0, description="significance (1 − adjusted p) × impact")
    expression: str = Field(description="pandas code that reproduces the figures on the table `df`")
    chart: dict[str, Any] | None = Field(default=None, description="a Vega-Lite spec with its data inline")
    caveats: list[str] = Field(default_factory=list, description="data-quality qualifications")

    def value(self, key: str) -> InsightValue | None:
        return next((v for v in self.values if v.key == key), None)


class QualityIssue(BaseModel):
    column: str | None
    kind: QualityKind
    detail: str
    share: float | None = Field(default=None, description="share of rows concerned, where that applies")


class InsightReport(BaseModel):
    """The engine's ranked output: the top ``insights`` and how many more passed."""

    insights: list[Insight]
    descriptive: list[Insight] = Field(
        default_factory=list, description="the table's shape and each measure's distribution (no test, not ranked)"
    )
    significant: int = Field(description="insights that passed (the top ones are listed)")
    candidates_tested: int = Field(description="statistical tests run, all of them counted in the FDR control")
    fdr_q: float
    quality: list[QualityIssue]
    subspaces_searched: int
    budget_exhausted: bool = Field(description="true when the time budget stopped the subspace search early")
    engine_ms: float
    notes: list[str] = Field(default_factory=list)
