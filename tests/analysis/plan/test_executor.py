"""The plan language, its check against the table and its execution on a small known table."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from scipy import stats

from insight.analysis.plan.executor import PlanExecutionError, execute, format_value
from insight.analysis.plan.language import TablePlan, operations
from insight.analysis.plan.validation import PlanRejected, check_plan, table_kinds
from insight.config import TablePlanSettings

SETTINGS = TablePlanSettings()


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Fare": [7.25, 71.28, 7.92, 53.1, 8.05, np.nan, 512.33, 8.46],
            "Age": [22.0, 38.0, 26.0, 35.0, 35.0, 54.0, 2.0, np.nan],
            "SibSp": [1, 1, 0, 1, 0, 0, 3, 0],
            "Parch": [0, 0, 0, 0, 0, 0, 1, 0],
            "Sex": ["male", "female", "female", "female", "male", "male", "male", "male"],
            "Day": pd.to_datetime(
                [
                    "2024-01-01",
                    "2024-01-06",
                    "2024-01-07",
                    "2024-01-08",
                    "2024-01-13",
                    "2024-01-14",
                    "2024-01-15",
                    "2024-01-16",
                ]
            ),
            "Wait": ["00:00:10", "00:01:00", "00:00:00", "00:00:05", "00:00:07", "00:00:03", "00:00:02", "00:00:01"],
        }
    )


def run(frame: pd.DataFrame, steps: list[dict[str, Any]]) -> dict[str, str]:
    plan = check_plan(TablePlan.model_validate({"steps": steps}), table_kinds(frame))
    return execute(plan, frame, SETTINGS).formatted()


def test_aggregates_match_pandas(frame: pd.DataFrame) -> None:
    out = run(
        frame,
        [
            {"op": "aggregate", "name": "mean_fare", "column": "Fare", "fn": "mean", "round": 2},
            {"op": "aggregate", "name": "sd", "column": "Fare", "fn": "std", "ddof": 0, "round": 3},
            {"op": "aggregate", "name": "q90", "column": "Age", "fn": "quantile", "q": 0.9, "round": 2},
            {"op": "aggregate", "name": "kinds", "column": "Sex", "fn": "nunique"},
            {"op": "aggregate", "name": "missing", "column": "Age", "fn": "missing_count"},
            {"op": "aggregate", "name": "women_age", "column": "Age", "fn": "mean", "by": "Sex", "group": "female"},
            {"op": "row_count", "name": "rows"},
        ],
    )
    assert out["mean_fare"] == f"{frame.Fare.mean():.2f}"
    assert out["sd"] == f"{frame.Fare.std(ddof=0):.3f}"
    assert out["q90"] == f"{frame.Age.quantile(0.9):.2f}"
    assert out["kinds"] == "2" and out["missing"] == "1" and out["rows"] == "8"
    assert float(out["women_age"]) == pytest.approx((38 + 26 + 35) / 3, rel=1e-5)


def test_transforms_then_measures_see_the_changed_table(frame: pd.DataFrame) -> None:
    out = run(
        frame,
        [
            {"op": "aggregate", "name": "before", "column": "Fare", "fn": "count"},
            {"op": "fill_missing", "column": "Fare", "strategy": "median"},
            {"op": "aggregate", "name": "after", "column": "Fare", "fn": "count"},
            {"op": "arithmetic", "name": "FamilySize", "left": "SibSp", "operator": "add", "right": "Parch"},
            {"op": "aggregate", "name": "family", "column": "FamilySize", "fn": "max"},
            {"op": "filter", "column": "Sex", "test": "eq", "value": "male"},
            {"op": "row_count", "name": "men"},
        ],
    )
    assert (out["before"], out["after"], out["family"], out["men"]) == ("7", "8", "4", "5")


def test_correlation_outliers_and_tests_match_scipy(frame: pd.DataFrame) -> None:
    out = run(
        frame,
        [
            {"op": "correlation", "name": "r", "x": "Age", "y": "Fare", "method": "spearman", "round": 4},
            {"op": "outlier_count", "name": "iqr_outliers", "column": "Fare", "method": "iqr"},
            {"op": "normality_test", "name": "w", "column": "Fare", "statistic": "value", "round": 4},
            {"op": "t_test", "name": "p", "column": "Fare", "by": "Sex", "group_a": "male", "group_b": "female"},
            {
                "op": "decision",
                "name": "verdict",
                "cases": [{"when": [{"ref": "p", "test": "lt", "value": 0.05}], "label": "differ"}],
                "otherwise": "same",
            },
        ],
    )
    both = frame[["Age", "Fare"]].dropna()
    assert out["r"] == f"{stats.spearmanr(both.Age, both.Fare).statistic:.4f}"
    assert out["iqr_outliers"] == "1"  # 512.33
    assert out["w"] == f"{stats.shapiro(frame.Fare.dropna()).statistic:.4f}"
    male, female = frame.Fare[(frame.Sex == "male") & frame.Fare.notna()], frame.Fare[frame.Sex == "female"]
    assert float(out["p"]) == pytest.approx(stats.ttest_ind(male, female).pvalue, rel=1e-4)
    assert out["verdict"] == ("differ" if stats.ttest_ind(male, female).pvalue < 0.05 else "same")


def test_dates_durations_bins_and_groups(frame: pd.DataFrame) -> None:
    out = run(
        frame,
        [
            {"op": "date_part", "name": "weekend", "column": "Day", "part": "is_weekend"},
            {
                "op": "aggregate",
                "name": "weekend_rows",
                "column": "Fare",
                "fn": "count",
                "by": "weekend",
                "group": True,
            },
            {"op": "transform", "name": "wait_s", "column": "Wait", "fn": "to_seconds"},
            {"op": "aggregate", "name": "longest_wait", "column": "wait_s", "fn": "max"},
            {"op": "bin", "name": "band", "column": "Age", "edges": [0, 18, 100], "labels": ["child", "adult"]},
            {"op": "top_group", "name": "dearest", "by": "band", "column": "Fare", "fn": "mean"},
            {"op": "value_at_extreme", "name": "oldest_fare", "column": "Fare", "at": "Age"},
            {"op": "strongest_correlation", "name": "pair", "columns": ["Fare", "Age", "SibSp"], "report": "pair"},
            {"op": "missing_counts", "name": "gaps", "columns": ["Fare", "Sex"]},
        ],
    )
    assert out["weekend_rows"] == "3"  # Jan 6, 7, 13 (14 has no fare)
    assert out["longest_wait"] == "60"
    assert out["dearest"] == "child"
    assert out["oldest_fare"] == "n/a"  # the 54-year-old's fare is missing
    assert out["pair"] == "Fare, SibSp"
    assert out["gaps"] == "{'Fare': 1, 'Sex': 0}"


def test_remove_outliers_by_z_score() -> None:
    values = pd.DataFrame({"x": [10.0] * 30 + [1000.0]})
    out = run(
        values,
        [
            {"op": "remove_outliers", "column": "x", "method": "zscore", "threshold": 3},
            {"op": "row_count", "name": "n"},
        ],
    )
    assert out["n"] == "30"


def test_columns_match_case_and_spacing_insensitively(frame: pd.DataFrame) -> None:
    plan = check_plan(
        TablePlan.model_validate({"steps": [{"op": "aggregate", "name": "m", "column": "fare", "fn": "mean"}]}),
        table_kinds(frame),
    )
    assert plan.steps[0].column == "Fare"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("steps", "problem"),
    [
        ([{"op": "aggregate", "name": "m", "column": "Price", "fn": "mean"}], "no column 'Price'"),
        ([{"op": "aggregate", "name": "m", "column": "Sex", "fn": "mean"}], "is text"),
        ([{"op": "correlation", "name": "r", "x": "Sex", "y": "Fare"}], "is text"),
        (
            [{"op": "date_part", "name": "y", "column": "Fare", "part": "year"}, {"op": "row_count", "name": "n"}],
            "is number",
        ),
        ([{"op": "filter", "column": "Fare", "test": "gt"}, {"op": "row_count", "name": "n"}], "needs a value"),
        ([{"op": "row_count", "name": "n"}, {"op": "row_count", "name": "n"}], "used twice"),
        (
            [
                {
                    "op": "decision",
                    "name": "d",
                    "cases": [{"when": [{"ref": "p", "test": "lt", "value": 1}], "label": "x"}],
                    "otherwise": "y",
                }
            ],
            "not an earlier",
        ),
        ([{"op": "fill_missing", "column": "Fare", "strategy": "mean"}], "measures nothing"),
        ([], "no steps"),
    ],
)
def test_invalid_plans_are_rejected_with_the_reason(
    frame: pd.DataFrame, steps: list[dict[str, Any]], problem: str
) -> None:
    with pytest.raises(PlanRejected, match=problem):
        check_plan(TablePlan.model_validate({"steps": steps}), table_kinds(frame))


def test_unsupported_plan_is_rejected_with_its_reason(frame: pd.DataFrame) -> None:
    with pytest.raises(PlanRejected, match="model training"):
        check_plan(TablePlan(supported=False, reason="model training is outside the language"), table_kinds(frame))


@pytest.mark.parametrize(
    "step",
    [
        {"op": "eval", "expression": "__import__('os').system('id')"},
        {"op": "aggregate", "name": "m", "column": "Fare", "fn": "__import__"},
        {"op": "aggregate", "name": "m; drop", "column": "Fare", "fn": "mean"},
        {"op": "aggregate", "name": "m", "column": "Fare", "fn": "mean", "code": "print(1)"},
    ],
)
def test_operations_outside_the_language_do_not_parse(step: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TablePlan.model_validate({"steps": [step]})


def test_limits_stop_execution(frame: pd.DataFrame) -> None:
    plan = TablePlan.model_validate({"steps": [{"op": "row_count", "name": "n"}]})
    with pytest.raises(PlanExecutionError, match="at most 3"):
        execute(plan, frame, TablePlanSettings(max_rows=3))
    with pytest.raises(PlanExecutionError, match="limit"):
        execute(plan, frame, TablePlanSettings(timeout_s=1e-12))


def test_execution_problems_are_typed(frame: pd.DataFrame) -> None:
    steps = [{"op": "t_test", "name": "p", "column": "Fare", "by": "Sex", "group_a": "male", "group_b": "other"}]
    plan = check_plan(TablePlan.model_validate({"steps": steps}), table_kinds(frame))
    with pytest.raises(PlanExecutionError, match="group 'other'"):
        execute(plan, frame, SETTINGS)


def test_operations_and_formatting() -> None:
    assert {"filter", "aggregate", "correlation", "outlier_count", "t_test", "chi_square"} <= set(operations())
    assert format_value(3.14159, 2) == "3.14"
    assert format_value(None, 2) == "n/a"
    assert format_value(True, None) == "True"
    assert format_value(12345.678, None) == "12345.7"
