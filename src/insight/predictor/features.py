"""Request rows → one float matrix, with errors that name the field and the problem.

Rows come straight from the JSON parser (lists in schema order, or name → value
mappings). The common case — all lists of finite numbers — is checked with a
few C-level passes; only a bad request pays for the per-field walk that builds
the error list.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import chain
from typing import Any

import numpy as np

from insight.errors import FieldProblem, InvalidInput
from insight.predictor.data import FloatMatrix

_NUMBER_TYPES = {int, float}
MAX_REPORTED_PROBLEMS = 20
Loc = tuple[str | int, ...]


def rows_to_matrix(rows: Any, feature_names: Sequence[str], loc: Loc, max_rows: int | None = None) -> FloatMatrix:
    if not isinstance(rows, list):
        raise InvalidInput([FieldProblem(loc, "must be a list of instances", "type_error")])
    if not rows:
        raise InvalidInput([FieldProblem(loc, "must hold at least one instance", "too_short")])
    if max_rows is not None and len(rows) > max_rows:
        raise InvalidInput(
            [
                FieldProblem(
                    loc,
                    f"holds {len(rows)} instances; at most {max_rows} are allowed per request",
                    "too_long",
                )
            ]
        )
    matrix = _fast_matrix(rows, len(feature_names))
    if matrix is not None:
        return matrix
    problems: list[FieldProblem] = []
    out = np.empty((len(rows), len(feature_names)), dtype=np.float64)
    for i, row in enumerate(rows):
        out[i] = _row_values(row, feature_names, (*loc, i), problems)
        if len(problems) >= MAX_REPORTED_PROBLEMS:
            break
    if problems:
        raise InvalidInput(problems[:MAX_REPORTED_PROBLEMS])
    return out


def row_to_matrix(row: Any, feature_names: Sequence[str], loc: Loc) -> FloatMatrix:
    """One instance (list in schema order, or name → value mapping) as a 1-row matrix."""
    matrix = _fast_matrix([row], len(feature_names))
    if matrix is not None:
        return matrix
    problems: list[FieldProblem] = []
    values = _row_values(row, feature_names, loc, problems)
    if problems:
        raise InvalidInput(problems[:MAX_REPORTED_PROBLEMS])
    return np.asarray([values], dtype=np.float64)


def _fast_matrix(rows: list[Any], width: int) -> FloatMatrix | None:
    """The matrix when every row is a list of ``width`` finite JSON numbers, else None."""
    if not all(type(row) is list and len(row) == width for row in rows):
        return None
    if not set(map(type, chain.from_iterable(rows))) <= _NUMBER_TYPES:
        return None
    try:
        matrix = np.array(rows, dtype=np.float64)
    except OverflowError:
        return None
    if not np.isfinite(matrix).all():
        return None
    return matrix


def _row_values(row: Any, names: Sequence[str], loc: Loc, problems: list[FieldProblem]) -> list[float]:
    values = [math.nan] * len(names)
    if isinstance(row, list):
        if len(row) != len(names):
            problems.append(
                FieldProblem(
                    loc,
                    f"expected {len(names)} feature values in schema order, got {len(row)}",
                    "wrong_length",
                )
            )
            return values
        for j, raw in enumerate(row):
            values[j] = _number(raw, names[j], (*loc, j), problems)
        return values
    if isinstance(row, dict):
        index = {name: j for j, name in enumerate(names)}
        problems.extend(
            FieldProblem((*loc, key), f"unknown feature {key!r}", "extra_forbidden") for key in row if key not in index
        )
        problems.extend(
            FieldProblem((*loc, name), f"missing feature {name!r}", "missing") for name in names if name not in row
        )
        for name, raw in row.items():
            if name in index:
                values[index[name]] = _number(raw, name, (*loc, name), problems)
        return values
    problems.append(
        FieldProblem(
            loc,
            f"must be a list of {len(names)} numbers or a mapping of feature name to number, got {_json_type(row)}",
            "type_error",
        )
    )
    return values


def _number(raw: Any, name: str, loc: Loc, problems: list[FieldProblem]) -> float:
    if type(raw) not in _NUMBER_TYPES:
        problems.append(FieldProblem(loc, f"feature {name!r} must be a number, got {_json_type(raw)}", "float_type"))
        return math.nan
    try:
        value = float(raw)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        problems.append(FieldProblem(loc, f"feature {name!r} must be a finite number, got {value}", "finite_number"))
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        shown = value if len(value) <= 20 else value[:20] + "…"
        return f"string {shown!r}"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
