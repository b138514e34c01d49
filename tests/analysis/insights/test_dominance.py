"""dominance: one category holds the majority of the rows or of a non-negative measure's total (k ≥ 3)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from insight.analysis.insights import InsightEngine, dominance
from insight.analysis.insights.base import Candidate, TableView, column_roles
from tests.analysis.insights.category_nulls import NULL_TABLES, engine_null_rate, null_rates


def _view(frame: pd.DataFrame) -> TableView:
    return TableView(frame, column_roles(frame))


def _by_columns(frame: pd.DataFrame, columns: list[str]) -> Candidate:
    return next(c for c in dominance.find(_view(frame)) if c.columns == columns)


def test_row_dominance_is_found_with_exact_figures() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"region": rng.choice(["EMEA", "APAC", "AMER"], p=[0.6, 0.2, 0.2], size=500), "x": rng.normal(size=500)}
    )
    found = _by_columns(frame, ["region"])
    counts = frame["region"].value_counts()
    assert found.reportable
    share = next(v for v in found.values if v.key == "share")
    assert share.value == pytest.approx(100.0 * counts["EMEA"] / 500)
    assert found.statement.startswith(f"EMEA holds {share.text} of the rows ({counts['EMEA']} of 500; 3 region")
    expected = stats.binomtest(int(counts["EMEA"]), 500, 1 / 3, alternative="greater").pvalue * 3
    assert found.test.p_value == pytest.approx(expected, rel=1e-9)
    for value in found.values:
        assert value.text in found.statement


def test_measure_dominance_from_a_higher_mean_is_found_with_exact_figures() -> None:
    rng = np.random.default_rng(1)
    region = rng.choice(["EMEA", "APAC", "AMER", "LATAM"], size=800)
    revenue = rng.exponential(10.0, size=800) * np.where(region == "APAC", 5.0, 1.0)
    frame = pd.DataFrame({"region": region, "revenue": revenue})
    found = _by_columns(frame, ["region", "revenue"])
    totals = frame.groupby("region")["revenue"].sum()
    rows = frame["region"].value_counts(normalize=True)
    assert found.reportable
    share = next(v for v in found.values if v.key == "share")
    row_share = next(v for v in found.values if v.key == "row_share")
    assert share.value == pytest.approx(100.0 * totals["APAC"] / totals.sum(), rel=1e-12)
    assert row_share.value == pytest.approx(100.0 * rows["APAC"], rel=1e-12)
    assert f"APAC holds {share.text} of total revenue (4 region values; {row_share.text} of the rows)" in (
        found.statement
    )
    assert found.test.p_value is not None and found.test.p_value < 1e-10
    assert not _by_columns(frame, ["region"]).reportable  # the rows are spread evenly


def test_a_row_dominant_category_is_not_repeated_for_every_measure() -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {
            "region": rng.choice(["EMEA", "APAC", "AMER"], p=[0.7, 0.15, 0.15], size=600),
            "revenue": rng.exponential(10.0, size=600),
        }
    )
    assert _by_columns(frame, ["region"]).reportable
    repeated = _by_columns(frame, ["region", "revenue"])
    assert not repeated.reportable
    # the same category with a far larger share of the total than of the rows does say something more
    frame.loc[frame["region"] == "EMEA", "revenue"] *= 10
    assert _by_columns(frame, ["region", "revenue"]).reportable


def test_negative_measures_two_categories_and_missing_values() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "region": rng.choice(["a", "b", "c"], size=120),
            "side": rng.choice(["l", "r"], size=120),
            "delta": rng.normal(size=120),
            "amount": rng.exponential(size=120),
        }
    )
    frame.loc[::9, "region"] = None
    frame.loc[::4, "amount"] = np.nan
    found = dominance.find(_view(frame))
    assert {tuple(c.columns) for c in found} == {("region",), ("region", "amount")}
    rows = _by_columns(frame, ["region"])
    assert next(v for v in rows.values if v.key == "rows").value == frame["region"].notna().sum()
    assert dominance.find(_view(frame.head(10))) == []


def test_null_p_values_are_valid_and_the_engine_reports_nothing() -> None:
    per_test, per_table, tested = null_rates(dominance.find)
    assert tested >= NULL_TABLES * 5
    assert per_test <= 0.06
    assert per_table <= 0.06
    assert engine_null_rate("dominance") <= 0.05


def test_engine_reports_it() -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {"region": rng.choice(["EMEA", "APAC", "AMER"], p=[0.65, 0.2, 0.15], size=400), "x": rng.normal(size=400)}
    )
    assert "dominance:region" in [i.id for i in InsightEngine().run(frame).insights]
