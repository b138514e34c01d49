"""Prompt evaluation runs: suites with targets fixed in the file, metrics with bootstrap intervals,
unmeasured cases counted (never averaged in), a cache of model outputs, MLflow tracking and a gate.

Public API: ``find_suite``/``load_suite_file`` (→ ``LoadedSuite``), ``Evaluator`` (``run`` →
``RunResult`` per prompt version), ``log_results`` and ``compare`` (MLflow), ``EvalJobs`` (the API's runs).
"""

from __future__ import annotations

from insight.evaluation.runner import CaseRecord, Evaluator, RunResult
from insight.evaluation.suites import LoadedSuite, Suite, Target, find_suite, list_suites, load_suite_file

__all__ = [
    "CaseRecord",
    "Evaluator",
    "LoadedSuite",
    "RunResult",
    "Suite",
    "Target",
    "find_suite",
    "list_suites",
    "load_suite_file",
]
