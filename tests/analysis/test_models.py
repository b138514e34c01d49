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
