"""What the analysis job returns: the model's ``AnalysisResult`` and the response around it.

``AnalysisResult`` is the structured-output schema. Its JSON schema carries ``maxLength``/``maxItems`` so
that grammar-constrained generation (llama.cpp) always ends; the grammar does not enforce a number's
bounds, so ``confidence`` is brought into 0..1 after parsing instead of being rejected.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from insight.analysis.insights.model import Insight, QualityIssue
from insight.analysis.plan.result import TableAnswer

SUMMARY_MAX_CHARS = 600
POINT_MAX_CHARS = 240
MAX_KEY_POINTS = 6
MAX_RECOMMENDATIONS = 5

Point = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=POINT_MAX_CHARS)]


class AnalysisResult(BaseModel):
    """An analysis of a dataset, written only from the computed facts given."""

    summary: str = Field(
        min_length=1,
        max_length=SUMMARY_MAX_CHARS,
        description="Two or three sentences on what the facts show, most important first.",
    )
    key_points: list[Point] = Field(
        min_length=1,
        max_length=MAX_KEY_POINTS,
        description="The most important findings, one per item, each with its figure copied from the facts.",
    )
    confidence: float = Field(
        description="How well the facts support this analysis, from 0 (not at all) to 1 (fully).",
        json_schema_extra={"minimum": 0.0, "maximum": 1.0},
    )
    recommendations: list[Point] | None = Field(
        default=None,
        max_length=MAX_RECOMMENDATIONS,
        description="Optional next steps that follow from the facts.",
    )

    @field_validator("summary")
    @classmethod
    def _strip(cls, value: str) -> str:
        stripped = value.strip()
        if not stripped:
            raise ValueError("summary is blank")
        return stripped

    @field_validator("confidence")
    @classmethod
    def _into_unit_interval(cls, value: float) -> float:
        """0..1; a value in (1, 100] is read as a percentage (85 → 0.85); anything else is clamped."""
        if math.isnan(value):
            return 0.0
        if 1.0 < value <= 100.0:
            value = value / 100.0
        return min(1.0, max(0.0, value))


FactKind = Literal["shape", "column", "distribution", "categories", "correlation", "trend", "outliers", "insight"]


class Fact(BaseModel):
    """One computed fact: a short sentence for the model and its exact numbers for grounding."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: FactKind
    text: str
    values: dict[str, float] = Field(default_factory=dict)


class SupportedNumber(BaseModel):
    """A figure in the result that one of the facts backs (``value`` is None for a date)."""

    value: float | None
    text: str
    fact_id: str


class UnsupportedNumber(BaseModel):
    """A figure in the result that no fact backs."""

    value: float | None
    text: str


class GroundingReport(BaseModel):
    """Which figures in the result the facts support; ``grounded_rate`` is 1.0 when it states none."""

    supported: list[SupportedNumber]
    unsupported: list[UnsupportedNumber]
    grounded_rate: float = Field(ge=0.0, le=1.0)
    model_confidence: float = Field(ge=0.0, le=1.0, description="the confidence the model gave")
    adjusted_confidence: float = Field(ge=0.0, le=1.0, description="model_confidence × grounded_rate^alpha")


class FigureRef(BaseModel):
    """Where a figure in ``summary`` or a key point comes from: the insight value it was filled in from."""

    field: str = Field(description='"summary" or "key_points.N"')
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    text: str
    insight_id: str
    value_key: str


class AnalysisMeta(BaseModel):
    narrator: Literal["model", "template"] = Field(
        description="who wrote summary and key points: the model (figures filled in by the service) or the "
        "template narrator (no model call, or the model's output was unusable)"
    )
    narrator_reason: str | None = Field(default=None, description="why the template narrator was used")
    recommendations_source: Literal["model", "template"] = Field(
        description="recommendations are suggestions, not findings: by the model or from the finding types"
    )
    prompt_name: str | None = Field(default=None, description="the narration prompt (None: no model call)")
    prompt_version: int | None = None
    prompt_sha256: str | None = None
    repair_prompt_name: str | None = Field(default=None, description="the structured-output repair prompt")
    repair_prompt_version: int | None = None
    repair_prompt_sha256: str | None = None
    provider: str
    model: str | None
    input_tokens: int
    output_tokens: int
    tokens_estimated: bool = Field(description="true when counted with tiktoken because the provider gave none")
    latency_ms: float = Field(description="the model call (0 when none was made)")
    profile_ms: float = Field(description="reading the table and computing the insights")
    engine_ms: float = Field(description="the insight engine alone")
    rows: int
    columns: int
    insights_significant: int = Field(description="insights that passed the test (the top ones are listed)")
    candidates_tested: int = Field(description="tests run, all counted in the false-discovery-rate control")
    fdr_q: float
    facts_shown: int = Field(description="insights shown to the narrator")
    facts_dropped: int = Field(description="significant insights not listed (beyond top_k)")
    notes: list[str] = Field(description="sampling, data-quality and narration notes")


class AnalysisResponse(BaseModel):
    # A real response, trimmed to one item per list (tests/analysis/test_models.py recomputes it).
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [json.loads((Path(__file__).with_name("response_example.json")).read_text("utf-8"))]
        }
    )
    result: AnalysisResult
    insights: list[Insight] = Field(description="ranked by score; each with its test, figures, expression and chart")
    descriptive: list[Insight] = Field(
        default_factory=list, description="the table's shape and each measure's distribution (no test, not ranked)"
    )
    figures: list[FigureRef] = Field(description="every figure in summary and key points, linked to its insight")
    quality: list[QualityIssue]
    facts: list[Fact] = Field(description="the insights as grounding facts (id, statement, numeric values)")
    grounding: GroundingReport
    meta: AnalysisMeta
    answer: TableAnswer | None = Field(
        default=None,
        description="the question answered by computation: a typed plan run on the table (null without a question)",
    )
