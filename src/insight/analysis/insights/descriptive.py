"""Descriptive findings: the table's shape and each measure's distribution.

They run no test and are not ranked with the insights: they are what a narrator states when a question
names a column ("what is the average petal length?") and what every summary opens with (rows × columns).
Their figures are values like any insight's, so they can be referenced and are grounded the same way.
"""

from __future__ import annotations

import pandas as pd

from insight.analysis.insights.base import Roles, col, num
from insight.analysis.insights.model import Insight, InsightTest

_DESCRIPTIVE = InsightTest(name="descriptive (no test)")


def overview(frame: pd.DataFrame, roles: Roles) -> Insight:
    rows, columns = len(frame), len(frame.columns)
    values = [
        num("rows", rows, "rows in the table"),
        num("columns", columns, "columns in the table"),
        num("measures", len(roles.measures), "numeric measures"),
        num("dimensions", len(roles.dimensions), "categorical dimensions"),
    ]
    time_part = f", with {roles.time} as the time column" if roles.time else ""
    statement = (
        f"The table has {_count(values[0].text, 'row')} and {_count(values[1].text, 'column')} "
        f"({_count(values[2].text, 'numeric measure')}, {_count(values[3].text, 'categorical dimension')}"
        f"{time_part})."
    )
    return Insight(
        id="overview",
        type="overview",
        columns=[],
        statement=statement,
        values=values,
        test=_DESCRIPTIVE,
        impact=0.0,
        score=0.0,
        expression="df.shape",
    )


def _count(text: str, noun: str) -> str:
    return f"{text} {noun}" + ("" if text == "1" else "s")


def distribution(frame: pd.DataFrame, column: str) -> Insight | None:
    series = pd.to_numeric(frame[column], errors="coerce").dropna()
    if series.empty:
        return None
    values = [
        num("mean", float(series.mean()), f"mean of {column}"),
        num("median", float(series.median()), f"median of {column}"),
        num("min", float(series.min()), f"smallest {column}"),
        num("max", float(series.max()), f"largest {column}"),
        num("std", float(series.std(ddof=1)) if len(series) > 1 else 0.0, f"standard deviation of {column}"),
        num("n", len(series), f"rows with a value of {column}"),
    ]
    mean, median, low, high, std, n = (v.text for v in values)
    statement = (
        f"{column} averages {mean} (median {median}, standard deviation {std}) and ranges from {low} to {high} "
        f"over {n} values."
    )
    return Insight(
        id=f"distribution:{column}",
        type="distribution",
        columns=[column],
        statement=statement,
        values=values,
        test=_DESCRIPTIVE,
        impact=0.0,
        score=0.0,
        expression=f"df{col(column)}.describe()",
    )


def describe(frame: pd.DataFrame, roles: Roles) -> list[Insight]:
    """The overview, then each measure's distribution."""
    out = [overview(frame, roles)]
    for column in roles.measures:
        found = distribution(frame, column)
        if found is not None:
            out.append(found)
    return out
