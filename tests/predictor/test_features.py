import math

import numpy as np
import pytest

from insight.errors import InvalidInput
from insight.predictor.features import MAX_REPORTED_PROBLEMS, row_to_matrix, rows_to_matrix

NAMES = ["a", "b", "c"]
LOC = ("body", "instances")


def problems(exc: pytest.ExceptionInfo[InvalidInput]) -> list[tuple[tuple[str | int, ...], str]]:
    return [(p.loc, p.msg) for p in exc.value.problems]


def test_lists_in_schema_order_become_one_float_matrix() -> None:
    matrix = rows_to_matrix([[1, 2.5, 3], [4, 5, 6]], NAMES, LOC)
    assert matrix.dtype == np.float64
    assert matrix.tolist() == [[1.0, 2.5, 3.0], [4.0, 5.0, 6.0]]


def test_mappings_are_reordered_to_the_schema() -> None:
    matrix = rows_to_matrix([{"c": 3, "a": 1, "b": 2}, [7, 8, 9]], NAMES, LOC)
    assert matrix.tolist() == [[1.0, 2.0, 3.0], [7.0, 8.0, 9.0]]


def test_wrong_count_names_the_row_and_both_counts() -> None:
    with pytest.raises(InvalidInput) as exc:
        rows_to_matrix([[1, 2, 3], [1, 2]], NAMES, LOC)
    assert problems(exc) == [(("body", "instances", 1), "expected 3 feature values in schema order, got 2")]


def test_unknown_and_missing_names_are_each_reported() -> None:
    with pytest.raises(InvalidInput) as exc:
        rows_to_matrix([{"a": 1, "b": 2, "zz": 3}], NAMES, LOC)
    assert problems(exc) == [
        (("body", "instances", 0, "zz"), "unknown feature 'zz'"),
        (("body", "instances", 0, "c"), "missing feature 'c'"),
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("7.1", "feature 'b' must be a number, got string '7.1'"),
        (None, "feature 'b' must be a number, got null"),
        (True, "feature 'b' must be a number, got boolean"),
        ([1], "feature 'b' must be a number, got array"),
        (math.nan, "feature 'b' must be a finite number, got nan"),
        (math.inf, "feature 'b' must be a finite number, got inf"),
        (-math.inf, "feature 'b' must be a finite number, got -inf"),
        (10**400, "feature 'b' must be a finite number, got inf"),
    ],
)
def test_bad_values_are_named_by_position_and_feature(value: object, message: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        rows_to_matrix([[1, 2, 3], [1, value, 3]], NAMES, LOC)
    assert problems(exc) == [(("body", "instances", 1, 1), message)]


def test_bad_value_in_a_mapping_is_located_by_name() -> None:
    with pytest.raises(InvalidInput) as exc:
        rows_to_matrix([{"a": 1, "b": "x", "c": 3}], NAMES, LOC)
    assert problems(exc) == [(("body", "instances", 0, "b"), "feature 'b' must be a number, got string 'x'")]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "must hold at least one instance"),
        ({"a": 1}, "must be a list of instances"),
        ("1,2,3", "must be a list of instances"),
    ],
)
def test_the_batch_itself_must_be_a_non_empty_list(rows: object, message: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        rows_to_matrix(rows, NAMES, LOC)
    assert problems(exc) == [(LOC, message)]


def test_row_of_the_wrong_shape_is_rejected() -> None:
    with pytest.raises(InvalidInput) as exc:
        rows_to_matrix(["1,2,3"], NAMES, LOC)
    assert "must be a list of 3 numbers or a mapping" in exc.value.problems[0].msg


def test_batch_over_the_maximum_is_rejected_before_any_work() -> None:
    with pytest.raises(InvalidInput) as exc:
        rows_to_matrix([[1, 2, 3]] * 5, NAMES, LOC, max_rows=4)
    assert problems(exc) == [(LOC, "holds 5 instances; at most 4 are allowed per request")]


def test_problem_list_is_bounded() -> None:
    with pytest.raises(InvalidInput) as exc:
        rows_to_matrix([["x", "y", "z"]] * 100, NAMES, LOC)
    assert len(exc.value.problems) == MAX_REPORTED_PROBLEMS
    assert "(and 19 more)" in exc.value.message


def test_single_row_locations_have_no_row_index() -> None:
    assert row_to_matrix({"a": 1, "b": 2, "c": 3}, NAMES, ("body", "features")).shape == (1, 3)
    with pytest.raises(InvalidInput) as exc:
        row_to_matrix([1, "2", 3], NAMES, ("body", "features"))
    assert problems(exc) == [(("body", "features", 1), "feature 'b' must be a number, got string '2'")]
