"""category_outlier: one group's mean far from the others (robust z), Welch t against the rest × k."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from insight.analysis.insights import InsightEngine, category_outlier
from insight.analysis.insights.base import Candidate, TableView, column_roles, num
from insight.analysis.insights.model import InsightTest, Subspace
from tests.analysis.insights.category_nulls import NULL_TABLES, engine_null_rate, null_rates


def _view(frame: pd.DataFrame) -> TableView:
    return TableView(frame, column_roles(frame))


def _stores(shift: float, rows: int = 700, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    store = rng.choice([f"s{i}" for i in range(7)], size=rows)
    sales = rng.normal(100.0, 10.0, size=rows) + np.where(store == "s3", shift, 0.0)
    return pd.DataFrame({"store": store, "sales": sales, "other": rng.normal(size=rows)})


def _found(frame: pd.DataFrame, measure: str) -> Candidate:
    return next(c for c in category_outlier.find(_view(frame)) if c.columns == ["store", measure])


@pytest.mark.parametrize("shift", [20.0, -20.0])
def test_planted_outlier_is_found_with_exact_figures(shift: float) -> None:
    frame = _stores(shift)
    found = _found(frame, "sales")
    means = frame.groupby("store")["sales"].mean()
    one = frame.loc[frame["store"] == "s3", "sales"]
    rest = frame.loc[frame["store"] != "s3", "sales"]
    expected = stats.ttest_ind(one, rest, equal_var=False)
    assert found.reportable
    assert found.direction == (1 if shift > 0 else -1)
    assert found.test.statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert found.test.p_value == pytest.approx(min(1.0, expected.pvalue * 7), rel=1e-6, abs=1e-300)
    mean = next(v for v in found.values if v.key == "group_mean")
    median = next(v for v in found.values if v.key == "others_median")
    assert mean.value == pytest.approx(means["s3"], rel=1e-12)
    assert median.value == pytest.approx(means.drop("s3").median(), rel=1e-12)
    word = "above" if shift > 0 else "below"
    assert f"sales averages {mean.text} for s3, far {word} the other 6 store groups (median {median.text}" in (
        found.statement
    )
    for value in found.values:
        assert value.text in found.statement
    assert not _found(frame, "other").reportable


def test_robust_z_and_its_fallback_when_the_mad_is_zero() -> None:
    z = category_outlier.robust_z(np.array([10.0, 10.5, 11.0, 20.0]))
    assert int(np.argmax(np.abs(z))) == 3 and z[3] > 10
    # three equal means: MAD 0, the mean absolute deviation takes over
    z = category_outlier.robust_z(np.array([5.0, 5.0, 5.0, 9.0]))
    assert z[3] == pytest.approx(4.0 / (1.2533 * 1.0))
    assert not category_outlier.robust_z(np.array([2.0, 2.0, 2.0, 2.0])).any()


def test_evenly_spread_means_are_no_outlier() -> None:
    rng = np.random.default_rng(3)
    store = rng.choice([f"s{i}" for i in range(6)], size=600)
    level = {f"s{i}": 10.0 * i for i in range(6)}
    frame = pd.DataFrame({"store": store, "sales": [level[s] for s in store] + rng.normal(0, 5, 600)})
    found = _found(frame, "sales")
    assert not found.reportable  # the groups differ, none stands apart: a group difference, not an outlier


def test_fewer_than_four_groups_and_constant_measures_give_nothing() -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {
            "store": rng.choice(["a", "b", "c"], size=100),
            "sales": rng.normal(size=100),
            "flat": np.full(100, 3.0),
        }
    )
    assert category_outlier.find(_view(frame)) == []
    frame["store"] = rng.choice(list("abcde"), size=100)
    frame.loc[::5, "sales"] = np.nan
    found = category_outlier.find(_view(frame))
    assert [c.columns for c in found] == [["store", "sales"]]


def _candidate(kind: str, subspace: Subspace | None = None) -> Candidate:
    return Candidate(
        type=kind,  # type: ignore[arg-type]
        columns=["store", "sales"],
        statement=kind,
        values=[num("x", 1, "x")],
        test=InsightTest(name="t", p_value=0.001, p_adjusted=0.01),
        strength=0.5,
        reportable=True,
        expression="df",
        subspace=subspace,
    )


def test_the_outlier_wins_over_the_group_difference_on_the_same_columns() -> None:
    outlier = _candidate("category_outlier")
    same = _candidate("group_difference")
    elsewhere = _candidate("group_difference", Subspace(column="region", value="north"))
    kept = category_outlier.prefer_outliers([outlier, same, elsewhere], [])
    assert kept == [outlier, elsewhere]
    assert category_outlier.prefer_outliers([same], []) == [same]


def test_engine_reports_the_outlier_and_not_the_same_group_difference() -> None:
    report = InsightEngine().run(_stores(25.0))
    ids = [i.id for i in report.insights]
    assert "category_outlier:store~sales" in ids
    assert "group_difference:store~sales" not in ids


def test_null_p_values_are_valid_and_the_engine_reports_nothing() -> None:
    per_test, per_table, tested = null_rates(category_outlier.find)
    assert tested >= NULL_TABLES * 3
    assert per_test <= 0.06
    assert per_table <= 0.06
    assert engine_null_rate("category_outlier") <= 0.05
