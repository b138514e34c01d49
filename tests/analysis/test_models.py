"""``AnalysisResult``: bounded lengths in the JSON schema (so constrained generation ends), confidence clamped."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from insight.analysis import AnalysisResult


def test_the_json_schema_bounds_every_string_and_list() -> None:
    schema = AnalysisResult.model_json_schema()
    props = schema["properties"]
    assert props["summary"]["maxLength"] == 600
    assert props["key_points"]["maxItems"] == 6 and props["key_points"]["minItems"] == 1
    assert props["key_points"]["items"]["maxLength"] == 240
    recommendations = next(s for s in props["recommendations"]["anyOf"] if s.get("type") == "array")
    assert recommendations["maxItems"] == 5 and recommendations["items"]["maxLength"] == 240
    assert props["confidence"]["minimum"] == 0.0 and props["confidence"]["maximum"] == 1.0
    assert set(schema["required"]) == {"summary", "key_points", "confidence"}


@pytest.mark.parametrize(("given", "kept"), [(0.42, 0.42), (1.7, 0.017), (85, 0.85), (250, 1.0), (-0.3, 0.0)])
def test_confidence_is_brought_into_the_unit_interval(given: float, kept: float) -> None:
    result = AnalysisResult(summary="s", key_points=["p"], confidence=given)
    assert result.confidence == pytest.approx(kept)


@pytest.mark.parametrize(
    "changes",
    [
        {"summary": "x" * 601},
        {"summary": "   "},
        {"key_points": []},
        {"key_points": ["p"] * 7},
        {"key_points": ["x" * 241]},
        {"recommendations": ["r"] * 6},
        {"confidence": "high"},
    ],
)
def test_out_of_bounds_answers_are_rejected(changes: dict[str, object]) -> None:
    data: dict[str, object] = {"summary": "s", "key_points": ["p"], "confidence": 0.5, **changes}
    with pytest.raises(ValidationError):
        AnalysisResult.model_validate(data)


def test_whitespace_is_trimmed() -> None:
    result = AnalysisResult(summary="  s \n", key_points=[" p "], confidence=0.5, recommendations=[" r"])
    assert (result.summary, result.key_points, result.recommendations) == ("s", ["p"], ["r"])


def test_the_documented_response_example_is_what_the_service_computes() -> None:
    """The OpenAPI example (analysis/response_example.json) is a real response to this table, trimmed."""
    import json
    from pathlib import Path

    import numpy as np
    import pandas as pd

    from insight.analysis import AnalysisResponse, build_analyzer
    from insight.config import AnalysisSettings, LLMSettings
    from insight.llm.slot import LLMSlot
    from insight.prompts import PromptRegistry, default_prompt_root

    rng = np.random.default_rng(1)
    units = rng.integers(10, 60, size=40).astype(float)
    frame = pd.DataFrame({"units": units, "revenue": (units * 4.2 + rng.normal(scale=8, size=40)).round(1)})
    analyzer = build_analyzer(
        AnalysisSettings(), PromptRegistry(default_prompt_root()), LLMSlot(LLMSettings(provider="none"))
    )
    computed = analyzer.analyze_sync(frame)
    path = Path(__file__).resolve().parents[2] / "src" / "insight" / "analysis" / "response_example.json"
    example = AnalysisResponse.model_validate(json.loads(path.read_text("utf-8")))
    assert example.result == computed.result
    assert example.insights[0].statement == computed.insights[0].statement
    assert example.insights[0].values == computed.insights[0].values
    assert example.descriptive[0] == computed.descriptive[0]
    assert example.meta.narrator == computed.meta.narrator == "template"
