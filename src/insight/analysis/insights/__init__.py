"""The insight engine: typed, tested, ranked findings computed from a table (one module per type).

The engine is imported lazily: ``insight.analysis.models`` needs the insight types, and the engine's
modules need ``insight.analysis.profile``, which needs the models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from insight.analysis.insights.model import (
    INSIGHT_TYPES,
    Insight,
    InsightReport,
    InsightTest,
    InsightType,
    InsightValue,
    QualityIssue,
    Subspace,
)

if TYPE_CHECKING:
    from insight.analysis.insights.engine import EngineSettings, InsightEngine, default_finders

__all__ = [
    "INSIGHT_TYPES",
    "EngineSettings",
    "Insight",
    "InsightEngine",
    "InsightReport",
    "InsightTest",
    "InsightType",
    "InsightValue",
    "QualityIssue",
    "Subspace",
    "default_finders",
]

_ENGINE_NAMES = frozenset({"EngineSettings", "InsightEngine", "default_finders"})


def __getattr__(name: str) -> Any:
    if name in _ENGINE_NAMES:
        from insight.analysis.insights import engine

        return getattr(engine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
