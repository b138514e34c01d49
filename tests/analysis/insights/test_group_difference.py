"""group_difference: Kruskal–Wallis (small tables) or Welch ANOVA (big ones) with a bias-corrected effect size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from insight.analysis.insights import InsightEngine, group_difference, groupstats
from insight.analysis.insights.base import Candidate, TableView, column_roles
from insight.analysis.insights.model import Subspace
from tests.analysis.insights.category_nulls import NULL_TABLES, engine_null_rate, null_rates


def _view(frame: pd.DataFrame) -> TableView:
    return TableView(frame, column_roles(frame))


def _penguins(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    species = rng.choice(["Adelie", "Chinstrap", "Gentoo"], size=rows)
    mass = np.where(species == "Gentoo", 5000.0, np.where(species == "Chinstrap", 3750.0, 3700.0))
    return pd.DataFrame({"species": species, "mass": mass + rng.normal(0, 400, rows), "noise": rng.normal(size=rows)})


def _one(found: list[Candidate], measure: str) -> Candidate:
    return next(c for c in found if c.columns[-1] == measure)


def test_planted_difference_is_found_with_exact_figures() -> None:
    frame = _penguins()
    found = _one(group_difference.find(_view(frame)), "mass")
    means = frame.groupby("species")["mass"].mean()
    groups = [g.to_numpy() for _, g in frame.groupby("species")["mass"]]
    h_value, p_value = stats.kruskal(*groups)
    n, k = len(frame), 3
    assert found.reportable
    assert found.columns == ["species", "mass"]
    assert found.test.name == "kruskal-wallis"
    assert found.test.statistic == pytest.approx(h_value, rel=1e-12)
    assert found.test.p_value == pytest.approx(p_value, rel=1e-9)
    assert found.test.effect_size == pytest.approx((h_value - k + 1) / (n - k), rel=1e-12)
    high = next(v for v in found.values if v.key == "high_mean")
    low = next(v for v in found.values if v.key == "low_mean")
    assert high.value == pytest.approx(means["Gentoo"], rel=1e-12)
    assert low.value == pytest.approx(means.min(), rel=1e-12)
    assert f"averages {high.text} for Gentoo against {low.text} for {means.idxmin()}" in found.statement
    for value in found.values:
        assert value.text in found.statement
    assert "Kruskal–Wallis p < 0.001" in found.statement
    assert found.chart is not None and len(found.chart["data"]["values"]) == 3
    noise = _one(group_difference.find(_view(frame)), "noise")
    assert not noise.reportable


def test_kruskal_wallis_matches_scipy_with_ties() -> None:
    rng = np.random.default_rng(4)
    groups = [rng.integers(0, 6, size=size).astype(float) for size in (7, 12, 30)]
    h_value, p_value = group_difference.kruskal_wallis(groups)
    expected = stats.kruskal(*groups)
    assert h_value == pytest.approx(expected.statistic, rel=1e-12)
    assert p_value == pytest.approx(expected.pvalue, rel=1e-9)


def test_welch_anova_matches_scipy() -> None:
    rng = np.random.default_rng(5)
    groups = [rng.normal(loc, scale, size) for loc, scale, size in ((0, 1, 40), (0.5, 3, 25), (0.2, 0.5, 60))]
    count = np.array([len(g) for g in groups], dtype=float)
    mean = np.array([g.mean() for g in groups])
    var = np.array([g.var(ddof=1) for g in groups])
    f_value, p_value = group_difference.welch_anova(count, mean, var)
    expected = stats.f_oneway(*groups, equal_var=False)
    assert f_value == pytest.approx(expected.statistic, rel=1e-10)
    assert p_value == pytest.approx(expected.pvalue, rel=1e-8)


def test_big_tables_use_welch_anova_on_aggregates() -> None:
    rng = np.random.default_rng(6)
    rows = group_difference.KRUSKAL_MAX_ROWS + 1000
    frame = pd.DataFrame({"g": rng.choice(list("abcd"), size=rows), "y": rng.normal(size=rows)})
    frame.loc[frame["g"] == "c", "y"] += 1.0
    found = _one(group_difference.find(_view(frame)), "y")
    groups = [g.to_numpy() for _, g in frame.groupby("g")["y"]]
    expected = stats.f_oneway(*groups, equal_var=False)
    assert found.test.name == "welch-anova"
    assert found.test.statistic == pytest.approx(expected.statistic, rel=1e-9)
    grand = frame["y"].mean()
    between = sum(len(g) * (g.mean() - grand) ** 2 for g in groups)
    within = sum(((g - g.mean()) ** 2).sum() for g in groups)
    ms_within = within / (rows - 4)
    assert found.test.effect_size == pytest.approx((between - 3 * ms_within) / (between + within + ms_within))
    assert found.reportable and "Welch ANOVA" in found.statement and "for c against" in found.statement


def test_numeric_codes_are_named_with_their_column() -> None:
    rng = np.random.default_rng(7)
    grade = rng.integers(1, 4, size=200)
    frame = pd.DataFrame({"grade": grade, "score": grade * 10.0 + rng.normal(size=200)})
    found = _one(group_difference.find(_view(frame)), "score")
    assert "for grade = 3 against" in found.statement


def test_edge_cases_never_raise() -> None:
    rng = np.random.default_rng(8)
    frame = pd.DataFrame(
        {
            "g": ["a", "b", None, "c"] * 25,
            "tiny": ["x"] * 97 + ["y", "y", "z"],
            "const": [1.5] * 100,
            "y": rng.normal(size=100),
            "solo": ["one"] * 100,
        }
    )
    frame.loc[::7, "y"] = np.nan
    found = group_difference.find(_view(frame))
    assert all(c.columns[-1] != "const" for c in found)  # constant: nothing to test
    # "tiny" has one group of 5+ rows only: no test
    assert all(c.columns[0] != "tiny" for c in found)
    kept = _one([c for c in found if c.columns[0] == "g"], "y")
    assert kept.values[2].value == 3  # the missing group is left out
    assert group_difference.find(_view(frame.head(0))) == []


def test_null_p_values_are_valid_and_the_engine_reports_nothing() -> None:
    per_test, per_table, tested = null_rates(group_difference.find)
    assert tested >= NULL_TABLES * 5
    assert per_test <= 0.06
    assert per_table <= 0.06
    assert engine_null_rate("group_difference") <= 0.05


def test_engine_reports_it_on_the_planted_table() -> None:
    report = InsightEngine().run(_penguins())
    ids = [i.id for i in report.insights]
    assert "group_difference:species~mass" in ids


def test_a_subspace_finding_needs_a_large_effect() -> None:
    rng = np.random.default_rng(11)
    g = rng.choice(["a", "b", "c"], size=900)
    frame = pd.DataFrame({"g": g, "y": rng.normal(size=900) + pd.Series(g).map({"a": 0.0, "b": 0.4, "c": 0.8})})
    whole = _one(group_difference.find(_view(frame)), "y")
    assert whole.test.effect_size is not None
    assert group_difference.MIN_EFFECT <= whole.test.effect_size < group_difference.MIN_EFFECT_SUBSPACE
    assert whole.reportable
    inside = TableView(frame, column_roles(frame), subspace=Subspace(column="region", value="north"))
    assert not _one(group_difference.find(inside), "y").reportable


def test_subspaces_try_fewer_pairs() -> None:
    rng = np.random.default_rng(12)
    columns: dict[str, object] = {f"m{i}": rng.normal(size=300) for i in range(14)}
    columns.update({f"d{j}": rng.choice(["a", "b", "c"], size=300) for j in range(8)})
    frame = pd.DataFrame(columns)
    whole = group_difference.find(_view(frame))
    assert len(whole) == 8 * 14
    inside = TableView(frame, column_roles(frame), subspace=Subspace(column="region", value="north"))
    assert len(group_difference.find(inside)) == groupstats.SUBSPACE_MAX_DIMENSIONS * groupstats.SUBSPACE_MAX_MEASURES
