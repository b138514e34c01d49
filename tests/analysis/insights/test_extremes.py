"""Extremes (highest/lowest value with where or when, Grubbs) and outliers (robust z count against a normal
sample of that size)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from insight.analysis.insights import EngineSettings, InsightEngine, extremes
from insight.analysis.insights.base import Candidate, TableView, column_roles
from tests.analysis.insights.time_tables import dated, significant, view


def _pick(candidates: list[Candidate], kind: str, measure: str, direction: int = 1) -> Candidate:
    [found] = [c for c in candidates if c.type == kind and c.columns == [measure] and c.direction == direction]
    return found


def test_planted_extreme_is_found_with_where_and_exact_figures() -> None:
    frame = dated(1, rows=500)
    frame.loc[17, "a"] = 9.0
    candidate = _pick(extremes.find(view(frame)), "extreme", "a")
    values = {v.key: v for v in candidate.values}
    median = frame["a"].median()
    mad = (frame["a"] - median).abs().median()
    assert candidate.reportable and candidate.test.p_value is not None and candidate.test.p_value < 1e-10
    assert values["value"].value == 9.0
    assert values["when"].text == frame.loc[17, "date"].strftime("%Y-%m-%d")
    assert values["median"].value == pytest.approx(median)
    assert values["robust_z"].value == round((9.0 - median) / (1.4826 * mad), 1)
    for value in candidate.values:
        assert value.text in candidate.statement
    assert candidate.statement.startswith(f"The highest a is 9 on {values['when'].text}, ")
    assert candidate.chart is not None
    marked = [r for r in candidate.chart["data"]["values"] if r["kind"] == "highest"]
    assert marked == [{"a": 9.0, "kind": "highest"}] and len(candidate.chart["data"]["values"]) <= 200
    row, z = eval(candidate.expression, {"df": frame})
    assert row.name == 17 and round(z, 1) == values["robust_z"].value
    # Grubbs from its definition, Bonferroni over the n values and both sides
    n = len(frame)
    g = (9.0 - frame["a"].mean()) / frame["a"].std()
    t = np.sqrt(n * (n - 2) * g**2 / ((n - 1) ** 2 - n * g**2))
    assert candidate.test.statistic == pytest.approx(g)
    assert candidate.test.p_value == pytest.approx(2 * n * stats.t.sf(t, n - 2))


def test_where_names_the_row_labels_without_a_time_column() -> None:
    frame = dated(2, rows=300).drop(columns="date")
    frame.loc[5, "b"] = -12.0
    candidate = _pick(extremes.find(view(frame)), "extreme", "b", direction=-1)
    assert candidate.reportable and "The lowest b is -12 (region " in candidate.statement
    plain = pd.DataFrame({"v": np.r_[np.random.default_rng(3).normal(size=99), 30.0]})
    [top] = [
        c for c in extremes.find(TableView(plain, column_roles(plain))) if c.type == "extreme" and c.direction == 1
    ]
    assert "(row 99)" in top.statement


def test_planted_outliers_are_counted_with_examples() -> None:
    frame = dated(4, rows=1000)
    frame.loc[[30, 31, 32, 33, 34], "b"] = [7.0, -8.0, 6.5, 9.5, 12.0]
    candidate = _pick(extremes.find(view(frame)), "outliers", "b")
    median = frame["b"].median()
    z = (frame["b"] - median) / (1.4826 * (frame["b"] - median).abs().median())
    outside = frame["b"][z.abs() > 3.5]
    values = {v.key: v for v in candidate.values}
    assert values["count"].value == len(outside) >= 5
    assert values["share"].value == pytest.approx(100 * len(outside) / len(frame))
    assert [values[f"example_{i}"].value for i in (1, 2, 3)] == [12.0, 9.5, -8.0]
    for value in candidate.values:
        assert value.text in candidate.statement
    assert candidate.reportable and candidate.test.p_value is not None and candidate.test.p_value < 1e-3
    assert sorted(eval(candidate.expression.split("; ")[1], {"df": frame, "z": z})) == sorted(outside)
    assert candidate.chart is not None
    marked = sorted(r["b"] for r in candidate.chart["data"]["values"] if r["kind"] == "outlier")
    assert marked == sorted(outside)


def test_outlier_count_p_value_is_valid_for_normal_samples() -> None:
    rng = np.random.default_rng(0)
    for n in (20, 200, 2000):
        rejected = 0
        for _ in range(400):
            x = rng.normal(size=n)
            centre = float(np.median(x))
            count = int((np.abs(x - centre) / extremes.robust_scale(x, centre) > 3.5).sum())
            rejected += extremes.outlier_count_p(count, n)[1] < 0.05
        assert rejected / 400 <= 0.06
    expected, p_none = extremes.outlier_count_p(0, 10_000)
    assert p_none == 1.0
    assert expected == pytest.approx(10_000 * 2 * stats.norm.sf(3.5), rel=0.05)


def test_skewed_column_reports_outliers() -> None:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"income": rng.lognormal(0, 1, 2000), "noise": rng.normal(size=2000)})
    found = extremes.find(TableView(frame, column_roles(frame)))
    assert significant(found, "income")
    assert _pick(found, "outliers", "income").test.p_value < 1e-6  # type: ignore[operator]


def test_noise_is_not_reported() -> None:
    tests = raw = 0
    for seed in range(150):
        found = extremes.find(view(dated(seed + 7000, rows=300)))
        tests += len(found)
        raw += len(significant(found, "a")) + len(significant(found, "b"))
    assert tests == 150 * 4
    assert raw / tests <= 0.06


def test_engine_reports_almost_nothing_on_noise() -> None:
    engine = InsightEngine(EngineSettings(), finders={"extremes": extremes.find})
    reported = sum(bool(engine.run(dated(seed + 8000, rows=300)).insights) for seed in range(200))
    assert reported <= 10


def test_edge_cases_never_raise() -> None:
    frame = dated(9, rows=40)
    frame.loc[frame.index[:25], "a"] = np.nan
    frame["constant"] = 1.0
    frame["mostly_zero"] = np.r_[np.zeros(36), [1.5, 2.5, 3.5, 40.0]]
    found = extremes.find(view(frame))
    assert all(c.columns != ["constant"] for c in found)
    assert not [c for c in found if c.type == "outliers" and c.columns == ["a"]]  # 15 rows left: too few
    zero_mad = _pick(found, "extreme", "mostly_zero")
    assert zero_mad.reportable  # the MAD is 0: the scale falls back to the mean absolute deviation
    _, z = eval(zero_mad.expression, {"df": frame})
    assert round(z, 1) == zero_mad.values[2].value
    assert extremes.find(view(dated(10, rows=5))) == []
    assert extremes.find(view(dated(10).iloc[:0])) == []
