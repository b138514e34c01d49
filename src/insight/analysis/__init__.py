"""Structured analysis of tabular data: parse → profile (pandas facts) → prompt → ``AnalysisResult`` → grounding.

Public API: ``parse_records``/``parse_csv_text``/``parse_file`` (→ ``ParsedData``), ``profile`` (→
``DataProfile``), ``Analyzer`` (``analyze``/``analyze_sync`` → ``AnalysisResponse``) and ``ground``.
"""

from __future__ import annotations

from insight.analysis.chain import DEFAULT_MAX_FACT_TOKENS, Analyzer, as_parsed
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
    "DEFAULT_MAX_FACT_TOKENS",
    "SUPPORTED_SUFFIXES",
    "AnalysisMeta",
    "AnalysisResponse",
    "AnalysisResult",
    "Analyzer",
    "DataLimits",
    "DataProfile",
    "Fact",
    "GroundingReport",
    "ParsedData",
    "SupportedNumber",
    "UnsupportedNumber",
    "as_parsed",
    "extract_numbers",
    "ground",
    "parse_csv_text",
    "parse_file",
    "parse_records",
    "profile",
    "render_facts",
]
