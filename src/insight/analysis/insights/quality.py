"""Data-quality checks (as ydata-profiling's alerts): reported, and used to qualify or suppress insights."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from insight.analysis.insights.model import QualityIssue
from insight.analysis.profile import column_kind, fmt, fmt_pct

MISSING_SHARE = 0.05
SUPPRESS_MISSING_SHARE = 0.5
SKEW = 2.0
HIGH_CARDINALITY_SHARE = 0.5
MIN_HIGH_CARDINALITY = 50


def assess(frame: pd.DataFrame, parse_notes: list[str] | None = None) -> list[QualityIssue]:
    rows = len(frame)
    issues: list[QualityIssue] = []
    if rows == 0:
        return issues
    duplicates = int(frame.duplicated().sum())
    if duplicates:
        issues.append(
            QualityIssue(
                column=None,
                kind="duplicate_rows",
                detail=f"{fmt(duplicates)} duplicate rows ({fmt_pct(100.0 * duplicates / rows)})",
                share=duplicates / rows,
            )
        )
    for name in frame.columns:
        column = str(name)
        series = frame[name]
        missing = int(series.isna().sum())
        if missing / rows >= MISSING_SHARE:
            issues.append(
                QualityIssue(
                    column=column,
                    kind="missing",
                    detail=f"{column}: {fmt(missing)} missing values ({fmt_pct(100.0 * missing / rows)})",
                    share=missing / rows,
                )
            )
        present = series.dropna()
        distinct = int(present.nunique())
        if distinct == 1 and len(present) > 1:
            issues.append(QualityIssue(column=column, kind="constant", detail=f"{column} has one value only"))
            continue
        kind = column_kind(series)
        if kind == "numeric" and len(present) >= 20:
            values = present.to_numpy(dtype="float64")
            if np.ptp(values) > 0:
                skew = float(stats.skew(values))
                if abs(skew) >= SKEW:
                    issues.append(
                        QualityIssue(
                            column=column, kind="skew", detail=f"{column} is skewed (skewness {fmt(round(skew, 2))})"
                        )
                    )
        elif kind == "text":
            if _mixed(present):
                issues.append(
                    QualityIssue(column=column, kind="mixed_types", detail=f"{column} mixes numbers and text")
                )
            if distinct >= MIN_HIGH_CARDINALITY and distinct / max(1, len(present)) >= HIGH_CARDINALITY_SHARE:
                issues.append(
                    QualityIssue(
                        column=column,
                        kind="high_cardinality",
                        detail=f"{column} has {fmt(distinct)} distinct values",
                        share=distinct / max(1, len(present)),
                    )
                )
    return issues


def suppressed_columns(issues: list[QualityIssue]) -> set[str]:
    """Columns too incomplete to draw findings from."""
    return {
        issue.column
        for issue in issues
        if issue.column is not None and issue.kind == "missing" and (issue.share or 0.0) >= SUPPRESS_MISSING_SHARE
    }


def caveats_for(columns: list[str], issues: list[QualityIssue]) -> list[str]:
    """The quality issues that qualify a finding on these columns."""
    wanted = set(columns)
    return [issue.detail for issue in issues if issue.column in wanted and issue.kind in ("missing", "skew")]


def _mixed(values: pd.Series[Any]) -> bool:
    sample = values.astype(str).head(1000)
    numeric = pd.to_numeric(sample.str.replace(",", "", regex=False), errors="coerce").notna()
    share = float(numeric.mean())
    return 0.2 <= share < 1.0
