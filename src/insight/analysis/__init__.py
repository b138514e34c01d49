"""Structured analysis of tabular data: parse → insights (computed, tested, ranked) → narration → grounding.

Public API: ``parse_records``/``parse_csv_text``/``parse_file`` (→ ``ParsedData``), ``build_analyzer`` /
``Analyzer`` (``compute`` → ``Computed``; ``analyze``/``narrate``/``analyze_sync`` → ``AnalysisResponse``),
``profile`` (→ ``DataProfile``) and ``ground``.
"""

from __future__ import annotations

from insight.analysis.chain import Analyzer, Computed, as_parsed, build_analyzer
from insight.analysis.grounding import extract_numbers, ground
from insight.analysis.models import (
    AnalysisMeta,
    AnalysisResponse,
    AnalysisResult,
    Fact,
    GroundingReport,
    SupportedNumber,
    UnsupportedNumber,
)
from insight.analysis.parsing import (
    SUPPORTED_SUFFIXES,
    DataLimits,
    ParsedData,
    parse_csv_text,
    parse_file,
    parse_records,
)
from insight.analysis.profile import DataProfile, profile, render_facts

__all__ = [
    "SUPPORTED_SUFFIXES",
    "AnalysisMeta",
    "AnalysisResponse",
    "AnalysisResult",
    "Analyzer",
    "Computed",
    "DataLimits",
    "DataProfile",
    "Fact",
    "GroundingReport",
    "ParsedData",
    "SupportedNumber",
    "UnsupportedNumber",
    "as_parsed",
    "build_analyzer",
    "extract_numbers",
    "ground",
    "parse_csv_text",
    "parse_file",
    "parse_records",
    "profile",
    "render_facts",
]
