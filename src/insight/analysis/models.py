"""What the analysis job returns: the model's ``AnalysisResult`` and the response around it.

``AnalysisResult`` is the structured-output schema. Its JSON schema carries ``maxLength``/``maxItems`` so
that grammar-constrained generation (llama.cpp) always ends; the grammar does not enforce a number's
bounds, so ``confidence`` is brought into 0..1 after parsing instead of being rejected.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

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


FactKind = Literal["shape", "column", "distribution", "categories", "correlation", "trend", "outliers"]


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


class AnalysisMeta(BaseModel):
    prompt_name: str
    prompt_version: int
    prompt_sha256: str
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    tokens_estimated: bool = Field(description="true when counted with tiktoken because the provider gave none")
    latency_ms: float = Field(description="the model call (profiling excluded)")
    profile_ms: float
    rows: int
    columns: int
    facts_shown: int
    facts_dropped: int
    notes: list[str] = Field(description="sampling, dropped facts, data-quality notes")


class AnalysisResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "result": {
                        "summary": "Revenue rose in every month of the quarter, from 120.5 to 142.2.",
                        "key_points": ["Revenue went from 120.5 to 142.2 (+18.0%)."],
                        "confidence": 0.8,
                        "recommendations": ["Check whether the growth continues in April."],
                    },
                    "facts": [
                        {
                            "id": "trend.revenue",
                            "kind": "trend",
                            "text": "revenue went from 120.5 (2026-01-01) to 142.2 (2026-03-01): +18.0%, up",
                            "values": {"first": 120.5, "last": 142.2, "pct_change": 18.0},
                        }
                    ],
                    "grounding": {
                        "supported": [{"value": 120.5, "text": "120.5", "fact_id": "trend.revenue"}],
                        "unsupported": [],
                        "grounded_rate": 1.0,
                        "model_confidence": 0.8,
                        "adjusted_confidence": 0.8,
                    },
                    "meta": {
                        "prompt_name": "analysis",
                        "prompt_version": 2,
                        "prompt_sha256": "…",
                        "provider": "local",
                        "model": "qwen2.5-coder-0.5b-instruct-q4_k_m",
                        "input_tokens": 412,
                        "output_tokens": 88,
                        "tokens_estimated": True,
                        "latency_ms": 5200.0,
                        "profile_ms": 12.0,
                        "rows": 3,
                        "columns": 3,
                        "facts_shown": 9,
                        "facts_dropped": 0,
                        "notes": [],
                    },
                }
            ]
        }
    )
    result: AnalysisResult
    facts: list[Fact]
    grounding: GroundingReport
    meta: AnalysisMeta
