"""The plan language, its check against the table and its execution on a small known table."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from scipy import stats

from insight.analysis.plan.executor import execute, format_value
from insight.analysis.plan.language import TablePlan, operations
from insight.analysis.plan.validation import check_plan, table_kinds
from insight.config import TablePlanSettings
from insight.errors import PlanExecutionError, PlanRejected

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


def _wide() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 40
    return pd.DataFrame(
        {
            "x": rng.normal(10, 2, n).round(3),
            "y": rng.normal(5, 1, n).round(3),
            "g": ["a", "b", "c", "d"] * (n // 4),
            "h": ["u", "v"] * (n // 2),
            "when": pd.date_range("2024-01-01", periods=n, freq="D"),
            "gap": [np.nan if i % 7 == 0 else float(i) for i in range(n)],
        }
    )


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ({"op": "aggregate", "column": "x", "fn": "sum"}, lambda f: f.x.sum()),
        ({"op": "aggregate", "column": "x", "fn": "var", "ddof": 0}, lambda f: f.x.var(ddof=0)),
        ({"op": "aggregate", "column": "x", "fn": "range"}, lambda f: f.x.max() - f.x.min()),
        ({"op": "aggregate", "column": "x", "fn": "median"}, lambda f: f.x.median()),
        ({"op": "aggregate", "column": "x", "fn": "min"}, lambda f: f.x.min()),
        ({"op": "aggregate", "column": "x", "fn": "skew", "bias_corrected": True}, lambda f: f.x.skew()),
        ({"op": "aggregate", "column": "x", "fn": "kurtosis"}, lambda f: stats.kurtosis(f.x)),
        ({"op": "aggregate", "column": "x", "fn": "kurtosis", "bias_corrected": True}, lambda f: f.x.kurt()),
        ({"op": "aggregate", "column": "gap", "fn": "last"}, lambda f: f.gap.dropna().iloc[-1]),
        ({"op": "value_at", "column": "y", "position": -1}, lambda f: f.y.iloc[-1]),
        (
            {"op": "correlation", "x": "x", "y": "y", "method": "kendall"},
            lambda f: stats.kendalltau(f.x, f.y).statistic,
        ),
        ({"op": "correlation", "x": "x", "y": "y", "statistic": "p_value"}, lambda f: stats.pearsonr(f.x, f.y).pvalue),
        (
            {"op": "normality_test", "column": "x", "test": "ks"},
            lambda f: stats.kstest(f.x, "norm", args=(f.x.mean(), f.x.std())).pvalue,
        ),
        ({"op": "normality_test", "column": "x", "test": "dagostino"}, lambda f: stats.normaltest(f.x).pvalue),
        ({"op": "chi_square", "a": "g", "b": "h"}, lambda f: stats.chi2_contingency(pd.crosstab(f.g, f.h)).pvalue),
        ({"op": "anova", "column": "x", "by": "g"}, lambda f: stats.f_oneway(*[f.x[f.g == k] for k in "abcd"]).pvalue),
        (
            {
                "op": "t_test",
                "column": "x",
                "by": "h",
                "group_a": "u",
                "group_b": "v",
                "equal_var": False,
                "statistic": "value",
            },
            lambda f: stats.ttest_ind(f.x[f.h == "u"], f.x[f.h == "v"], equal_var=False).statistic,
        ),
        (
            {"op": "outlier_count", "column": "x", "method": "zscore", "threshold": 1.5},
            lambda f: int(((f.x - f.x.mean()) / f.x.std(ddof=0)).abs().gt(1.5).sum()),
        ),
        ({"op": "aggregate", "column": "x", "fn": "mean", "by": "g", "group": "b"}, lambda f: f.x[f.g == "b"].mean()),
    ],
)
def test_each_measure_matches_its_library_routine(step: dict[str, Any], expected: Any) -> None:
    frame = _wide()
    plan = check_plan(TablePlan.model_validate({"steps": [{"name": "v", **step}]}), table_kinds(frame))
    value = execute(plan, frame, SETTINGS).values["v"]
    assert value == pytest.approx(float(expected(frame)), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([{"op": "filter", "column": "g", "test": "in", "values": ["a", "b"]}], lambda f: f[f.g.isin(["a", "b"])].x),
        ([{"op": "filter", "column": "g", "test": "not_in", "values": ["a"]}], lambda f: f[f.g != "a"].x),
        ([{"op": "filter", "column": "x", "test": "between", "values": [9, 11]}], lambda f: f[f.x.between(9, 11)].x),
        ([{"op": "filter", "column": "g", "test": "ne", "value": "c"}], lambda f: f[f.g != "c"].x),
        (
            [{"op": "filter", "column": "when", "test": "ge", "value": "2024-01-20"}],
            lambda f: f[f.when >= "2024-01-20"].x,
        ),
        ([{"op": "filter", "column": "gap", "test": "is_null"}], lambda f: f[f.gap.isna()].x),
        ([{"op": "drop_missing", "columns": ["gap"]}], lambda f: f.dropna(subset=["gap"]).x),
        ([{"op": "drop_duplicates", "columns": ["g"]}], lambda f: f.drop_duplicates(subset=["g"]).x),
        (
            [{"op": "remove_outliers", "column": "x", "method": "iqr"}],
            lambda f: f.x[
                ~(
                    (f.x < f.x.quantile(0.25) - 1.5 * (f.x.quantile(0.75) - f.x.quantile(0.25)))
                    | (f.x > f.x.quantile(0.75) + 1.5 * (f.x.quantile(0.75) - f.x.quantile(0.25)))
                )
            ],
        ),
        ([{"op": "transform", "name": "x", "column": "x", "fn": "log"}], lambda f: np.log(f.x)),
        ([{"op": "transform", "name": "x", "column": "x", "fn": "log1p"}], lambda f: np.log1p(f.x)),
        ([{"op": "transform", "name": "x", "column": "x", "fn": "sqrt"}], lambda f: np.sqrt(f.x)),
        ([{"op": "transform", "name": "x", "column": "y", "fn": "abs"}], lambda f: f.y.abs()),
        (
            [{"op": "transform", "name": "x", "column": "x", "fn": "zscore"}],
            lambda f: (f.x - f.x.mean()) / f.x.std(ddof=0),
        ),
        ([{"op": "transform", "name": "x", "column": "x", "fn": "diff"}], lambda f: f.x.diff()),
        ([{"op": "transform", "name": "x", "column": "x", "fn": "rank"}], lambda f: f.x.rank()),
        ([{"op": "arithmetic", "name": "x", "left": "x", "operator": "mul", "right": "y"}], lambda f: f.x * f.y),
        ([{"op": "arithmetic", "name": "x", "left": "x", "operator": "div", "right": "y"}], lambda f: f.x / f.y),
        ([{"op": "arithmetic", "name": "x", "left": "x", "operator": "pow", "right_value": 2}], lambda f: f.x**2),
        ([{"op": "row_stat", "name": "x", "columns": ["x", "y"], "fn": "max"}], lambda f: f[["x", "y"]].max(axis=1)),
        (
            [{"op": "date_part", "name": "x", "column": "when", "part": "month"}],
            lambda f: f.when.dt.month.astype(float),
        ),
        (
            [{"op": "date_part", "name": "x", "column": "when", "part": "weekday"}],
            lambda f: f.when.dt.day_of_week.astype(float),
        ),
        (
            [
                {"op": "fill_missing", "column": "gap", "strategy": "value", "value": 0},
                {"op": "transform", "name": "x", "column": "gap", "fn": "abs"},
            ],
            lambda f: f.gap.fillna(0),
        ),
        (
            [
                {"op": "fill_missing", "column": "gap", "strategy": "ffill"},
                {"op": "transform", "name": "x", "column": "gap", "fn": "abs"},
            ],
            lambda f: f.gap.ffill(),
        ),
        (
            [
                {"op": "fill_missing", "column": "gap", "strategy": "bfill"},
                {"op": "transform", "name": "x", "column": "gap", "fn": "abs"},
            ],
            lambda f: f.gap.bfill(),
        ),
        (
            [
                {"op": "fill_missing", "column": "gap", "strategy": "mode"},
                {"op": "transform", "name": "x", "column": "gap", "fn": "abs"},
            ],
            lambda f: f.gap.fillna(f.gap.mode()[0]),
        ),
        (
            [
                {"op": "fill_missing", "column": "gap", "strategy": "group_median", "by": "g"},
                {"op": "transform", "name": "x", "column": "gap", "fn": "abs"},
            ],
            lambda f: f.gap.fillna(f.groupby("g").gap.transform("median")),
        ),
    ],
)
def test_each_transform_matches_pandas(steps: list[dict[str, Any]], expected: Any) -> None:
    """The transformed ``x`` summed, against the same transform written in pandas."""
    frame = _wide()
    plan_steps = [
        *steps,
        {"op": "aggregate", "name": "s", "column": "x", "fn": "sum"},
        {"op": "aggregate", "name": "n", "column": "x", "fn": "count"},
    ]
    values = execute(
        check_plan(TablePlan.model_validate({"steps": plan_steps}), table_kinds(frame)), frame, SETTINGS
    ).values
    wanted = pd.Series(expected(frame)).astype(float)
    assert values["s"] == pytest.approx(float(wanted.sum()), rel=1e-9)
    assert values["n"] == int(wanted.notna().sum())


def test_top_group_min_and_value_at_extreme_min() -> None:
    frame = _wide()
    steps = [
        {"op": "top_group", "name": "low", "by": "g", "column": "x", "fn": "mean", "order": "min"},
        {"op": "value_at_extreme", "name": "g_at_min", "column": "g", "at": "x", "order": "min"},
        {"op": "strongest_correlation", "name": "r", "columns": ["x", "y", "gap"], "direction": "absolute"},
        {"op": "aggregate", "name": "first_day", "column": "when", "fn": "min"},
    ]
    values = execute(check_plan(TablePlan.model_validate({"steps": steps}), table_kinds(frame)), frame, SETTINGS).values
    assert values["low"] == frame.groupby("g").x.mean().idxmin()
    assert values["g_at_min"] == frame.g[frame.x.idxmin()]
    matrix = frame[["x", "y", "gap"]].corr()
    assert abs(float(values["r"])) == pytest.approx(
        max(abs(matrix.loc["x", "y"]), abs(matrix.loc["x", "gap"]), abs(matrix.loc["y", "gap"]))
    )
    assert values["first_day"] == "2024-01-01T00:00:00"


def test_remove_outliers_can_keep_only_the_outliers(frame: pd.DataFrame) -> None:
    plan = TablePlan.model_validate(
        {
            "steps": [
                {"op": "remove_outliers", "column": "Fare", "method": "iqr", "keep": "outliers"},
                {"op": "row_count", "name": "n"},
                {"op": "aggregate", "name": "top", "column": "Fare", "fn": "min"},
            ]
        }
    )
    result = execute(check_plan(plan, table_kinds(frame)), frame, SETTINGS)
    assert result.values == {"n": 1, "top": 512.33}  # Q3 62.19 + 1.5 × IQR 54.2: only 512.33 is above


def _run_steps(table: pd.DataFrame, *steps: dict[str, Any]) -> dict[str, str]:
    plan = check_plan(TablePlan.model_validate({"steps": list(steps)}), table_kinds(table))
    return execute(plan, table, TablePlanSettings()).formatted()


def test_list_answers_frequent_values_and_missing_columns() -> None:
    table = pd.DataFrame({"b": ["x", "y", "x", None, "x", "y"], "a": [1.0, None, 3.0, 4.0, 5.0, 6.0], "c": [1] * 6})
    values = _run_steps(
        table,
        {"op": "frequent_values", "name": "kinds", "column": "b", "min_count": 2, "report": "values"},
        {"op": "frequent_values", "name": "how_many", "column": "b", "min_count": 3},
        {"op": "missing_columns", "name": "gaps", "order": "alphabetical"},
        {"op": "missing_columns", "name": "gaps_in_table_order"},
    )
    assert values == {"kinds": "x, y", "how_many": "1", "gaps": "a, b", "gaps_in_table_order": "b, a"}


def test_a_correlation_within_a_group_needs_both_by_and_group() -> None:
    table = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [2.0, 1.0, 4.0, 3.0], "g": ["a", "a", "a", "b"]})
    with pytest.raises(PlanRejected, match="both by and group"):
        _run_steps(table, {"op": "correlation", "name": "r", "x": "x", "y": "y", "by": "g"})
    values = _run_steps(table, {"op": "correlation", "name": "r", "x": "x", "y": "y", "by": "g", "group": "a"})
    assert values == {"r": f"{stats.pearsonr([1.0, 2.0, 3.0], [2.0, 1.0, 4.0]).statistic:.6g}"}


def test_a_measures_where_conditions_bound_only_that_measure() -> None:
    table = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0], "s": [1.0, 2.0, 3.0, 4.0, 5.0]})
    values = _run_steps(
        table,
        {
            "op": "aggregate",
            "name": "low",
            "column": "x",
            "fn": "sum",
            "where": [{"column": "s", "test": "lt", "value": 3}],
        },
        {"op": "aggregate", "name": "all", "column": "x", "fn": "sum"},
        {"op": "row_count", "name": "mid", "where": [{"column": "s", "test": "between", "values": [2, 4]}]},
    )
    assert values == {"low": "3", "all": "15", "mid": "3"}
    with pytest.raises(PlanRejected, match=r"where\[0\].*between needs two values"):
        _run_steps(
            table, {"op": "row_count", "name": "n", "where": [{"column": "s", "test": "between", "values": [1]}]}
        )
    with pytest.raises(PlanRejected, match=r"where\[0\].column: no column 'nope'"):
        _run_steps(table, {"op": "row_count", "name": "n", "where": [{"column": "nope", "test": "not_null"}]})
