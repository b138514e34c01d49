"""A plan checked against the real table before anything runs: columns exist, types fit the operation.

Column names are matched exactly, else by a unique case- and spacing-insensitive match (the model often
writes ``passenger_id`` for ``PassengerId``); the checked plan carries the table's own spelling. Every
problem is listed, so the planner's one repair round can fix them all.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import pandas as pd

from insight.analysis.plan import language as lang
from insight.errors import PlanRejected

Kind = Literal["number", "bool", "datetime", "text"]
_NUMERIC_FNS = {"sum", "mean", "median", "std", "var", "range", "quantile", "skew", "kurtosis"}
_ORDERED_FNS = {"min", "max"}


def column_kind(series: pd.Series[Any]) -> Kind:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_numeric_dtype(dtype):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "text"


def table_kinds(frame: pd.DataFrame) -> dict[str, Kind]:
    return {str(name): column_kind(frame[name]) for name in frame.columns}


def _key(name: str) -> str:
    return re.sub(r"[\s_\-.]+", "", name).lower()


class _Checker:
    def __init__(self, kinds: dict[str, Kind]) -> None:
        self.kinds = dict(kinds)
        self.measures: set[str] = set()
        self.problems: list[str] = []

    def resolve(self, name: str | None, where: str) -> str | None:
        if name is None:
            return None
        if name in self.kinds:
            return name
        matches = [column for column in self.kinds if _key(column) == _key(name)]
        if len(matches) == 1:
            return matches[0]
        known = ", ".join(repr(c) for c in list(self.kinds)[:40])
        self.problems.append(f"{where}: no column {name!r} (columns: {known})")
        return None

    def need(self, name: str | None, where: str, allowed: set[Kind]) -> None:
        if name is None or name not in self.kinds:
            return
        kind = self.kinds[name]
        if kind not in allowed:
            wanted = " or ".join(sorted(allowed))
            self.problems.append(f"{where}: column {name!r} is {kind}, the operation needs {wanted}")


NUMERIC: set[Kind] = {"number", "bool"}
DATES: set[Kind] = {"datetime", "text"}
ANY: set[Kind] = {"number", "bool", "datetime", "text"}

_SINGLE_FIELDS = ("column", "by", "x", "y", "a", "b", "left", "right", "start", "end", "at", "values_of")
_LIST_FIELDS = ("columns",)


def _renamed(step: lang.Step, checker: _Checker, where: str) -> lang.Step:
    """The step with each column reference resolved to the table's spelling."""
    update: dict[str, object] = {}
    for field in _SINGLE_FIELDS:
        if field in type(step).model_fields:
            value = getattr(step, field)
            if isinstance(value, str):
                resolved = checker.resolve(value, f"{where}.{field}")
                if resolved is not None and resolved != value:
                    update[field] = resolved
    for field in _LIST_FIELDS:
        if field in type(step).model_fields:
            values = getattr(step, field)
            resolved_list = [checker.resolve(v, f"{where}.{field}") or v for v in values]
            if resolved_list != values:
                update[field] = resolved_list
    conditions = getattr(step, "where", None)
    if conditions:
        renamed = []
        for index, condition in enumerate(conditions):
            resolved = checker.resolve(condition.column, f"{where}.where[{index}].column")
            renamed.append(condition.model_copy(update={"column": resolved or condition.column}))
        update["where"] = renamed
    return step.model_copy(update=update) if update else step


def _check_condition(condition: lang.Filter | lang.Condition, checker: _Checker, where: str) -> None:
    if condition.test in ("in", "not_in") and not condition.values:
        checker.problems.append(f"{where}: test {condition.test} needs values")
    if condition.test == "between" and len(condition.values) != 2:
        checker.problems.append(f"{where}: between needs two values")
    if condition.test in ("eq", "ne", "lt", "le", "gt", "ge") and condition.value is None:
        checker.problems.append(f"{where}: test {condition.test} needs a value")
    if condition.test in ("lt", "le", "gt", "ge", "between"):
        checker.need(condition.column, where, {"number", "datetime"})


def _check_step(step: lang.Step, checker: _Checker, where: str) -> None:  # noqa: PLR0912 - one branch per op
    need = checker.need
    match step:
        case lang.Filter():
            _check_condition(step, checker, where)
        case lang.FillMissing():
            if step.strategy in ("mean", "median", "group_mean", "group_median"):
                need(step.column, where, NUMERIC)
            if step.strategy == "value" and step.value is None:
                checker.problems.append(f"{where}: strategy value needs a value")
            if step.strategy.startswith("group_") and step.by is None:
                checker.problems.append(f"{where}: strategy {step.strategy} needs by")
        case lang.RemoveOutliers() | lang.OutlierCount() | lang.OutlierValues():
            need(step.column, where, NUMERIC)
        case lang.Arithmetic():
            need(step.left, where, NUMERIC)
            need(step.right, where, NUMERIC)
            if (step.right is None) == (step.right_value is None):
                checker.problems.append(f"{where}: give exactly one of right (a column) and right_value")
        case lang.RowStat():
            for column in step.columns:
                need(column, where, NUMERIC)
        case lang.ColumnTransform():
            need(step.column, where, ANY if step.fn in ("to_number", "to_seconds", "rank") else NUMERIC)
        case lang.DatePart():
            need(step.column, where, DATES)
        case lang.DateDiff():
            need(step.start, where, DATES)
            need(step.end, where, DATES)
        case lang.Bin():
            need(step.column, where, NUMERIC)
            if len(step.edges) != len(step.labels) + 1:
                checker.problems.append(f"{where}: bin needs one edge more than labels")
            if sorted(step.edges) != step.edges:
                checker.problems.append(f"{where}: bin edges must increase")
        case lang.Aggregate():
            if step.fn in _NUMERIC_FNS:
                need(step.column, where, NUMERIC)
            elif step.fn in _ORDERED_FNS:
                need(step.column, where, {"number", "bool", "datetime"})
            if step.fn == "quantile" and (step.q is None or not 0.0 <= step.q <= 1.0):
                checker.problems.append(f"{where}: quantile needs q between 0 and 1")
            if (step.by is None) != (step.group is None):
                checker.problems.append(f"{where}: give both by and group, or neither")
        case lang.TopGroup():
            if step.fn in _NUMERIC_FNS:
                need(step.column, where, NUMERIC)
        case lang.ValueAtExtreme():
            need(step.at, where, {"number", "bool", "datetime"})
        case lang.Correlation():
            need(step.x, where, NUMERIC)
            need(step.y, where, NUMERIC)
            if (step.by is None) != (step.group is None):
                checker.problems.append(f"{where}: give both by and group, or neither")
        case lang.StrongestCorrelation():
            for column in step.columns:
                need(column, where, NUMERIC)
        case lang.NormalityTest():
            need(step.column, where, NUMERIC)
        case lang.TTest() | lang.Anova() | lang.KsTwoSample():
            need(step.column, where, NUMERIC)
        case lang.Decision():
            for case in step.cases:
                for check in case.when:
                    if check.ref not in checker.measures:
                        checker.problems.append(f"{where}: {check.ref!r} is not an earlier measure's name")
        case _:
            pass


def _new_column(step: lang.Step) -> tuple[str, Kind] | None:
    match step:
        case lang.Arithmetic() | lang.RowStat() | lang.DateDiff():
            return step.name, "number"
        case lang.ColumnTransform():
            return step.name, "number"
        case lang.DatePart():
            return step.name, "bool" if step.part == "is_weekend" else "number"
        case lang.Bin():
            return step.name, "text"
        case _:
            return None


def check_plan(plan: lang.TablePlan, kinds: dict[str, Kind]) -> lang.TablePlan:
    """The plan with the table's column spellings, or ``PlanRejected`` listing every problem."""
    if not plan.supported:
        raise PlanRejected([plan.reason or "the question is outside the plan language"])
    if not plan.steps:
        raise PlanRejected(["the plan has no steps"])
    if not any(lang.is_measure(step) for step in plan.steps):
        raise PlanRejected(["the plan measures nothing (add an aggregate, correlation, test or count)"])
    checker = _Checker(kinds)
    checked: list[lang.Step] = []
    for index, step in enumerate(plan.steps):
        where = f"steps[{index}] ({step.op})"
        step = _renamed(step, checker, where)
        _check_step(step, checker, where)
        for position, condition in enumerate(getattr(step, "where", [])):
            _check_condition(condition, checker, f"{where}.where[{position}]")
        created = _new_column(step)
        if created is not None:
            checker.kinds[created[0]] = created[1]
        if lang.is_measure(step):
            name = step.name  # type: ignore[union-attr]
            if name in checker.measures:
                checker.problems.append(f"{where}: the name {name!r} is used twice")
            checker.measures.add(name)
        checked.append(step)
    if checker.problems:
        raise PlanRejected(checker.problems)
    return plan.model_copy(update={"steps": checked})
