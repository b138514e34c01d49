"""The engine's contract: BH over every test, ranking by significance × impact, subspaces, quality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from insight.analysis.insights import EngineSettings, InsightEngine, correlation
from insight.analysis.insights.base import Candidate, Roles, TableView, column_roles, num
from insight.analysis.insights.model import InsightTest


def _noise(rows: int = 400, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": rng.normal(size=rows),
            "b": rng.normal(size=rows),
            "c": rng.normal(size=rows),
            "region": rng.choice(["north", "south", "east"], size=rows),
        }
    )


def test_correlated_pair_is_found_with_exact_figures() -> None:
    frame = _noise()
    frame["d"] = frame["a"] * 2.0 + np.random.default_rng(2).normal(scale=0.5, size=len(frame))
    report = InsightEngine().run(frame)
    top = report.insights[0]
    assert top.type == "correlation"
    assert top.columns == ["a", "d"]
    r = frame["a"].corr(frame["d"])
    assert top.value("pearson_r") is not None
    assert top.value("pearson_r").value == round(r, 2)  # type: ignore[union-attr]
    assert top.value("pearson_r").text in top.statement  # type: ignore[union-attr]
    assert top.test.p_adjusted is not None and top.test.p_adjusted <= 0.05
    assert 0 < top.score <= top.impact <= 1


def test_noise_yields_nothing_and_every_test_is_counted() -> None:
    assert InsightEngine().run(_noise()).insights == []
    report = InsightEngine(finders={"correlation": correlation.find}, derivers={}).run(_noise())
    assert report.insights == []
    assert report.significant == 0
    # three measures → three pairs on the whole table and in each of the three region subspaces
    assert report.candidates_tested == 3 * 4
    assert report.subspaces_searched == 3


def test_subspace_finding_kept_only_where_the_whole_table_does_not_show_it() -> None:
    frame = _noise(rows=600)
    rng = np.random.default_rng(5)
    east = frame["region"] == "east"
    frame.loc[east, "b"] = frame.loc[east, "a"] * 3 + rng.normal(scale=0.3, size=int(east.sum()))
    report = InsightEngine().run(frame)
    ids = [i.id for i in report.insights]
    assert "correlation:a~b@region=east" in ids
    sub = next(i for i in report.insights if i.subspace is not None)
    assert 'region = "east"' in sub.statement
    assert sub.impact < 0.5  # a third of the rows


def test_benjamini_hochberg_uses_every_candidate() -> None:
    def finder(view: TableView) -> list[Candidate]:
        # 20 tests at p = 0.01 and 80 at p = 0.9: BH at q = 0.05 keeps the twenty (0.01 × 100 / 20 = 0.05)
        out = []
        for i in range(100):
            p = 0.01 if i < 20 else 0.9
            out.append(
                Candidate(
                    type="correlation",
                    columns=[f"x{i}", "y"],
                    statement=f"x{i}",
                    values=[num("i", i, "index")],
                    test=InsightTest(name="fake", p_value=p),
                    strength=0.5,
                    reportable=True,
                    expression="df",
                )
            )
        return out

    engine = InsightEngine(EngineSettings(top_k=50, fdr_q=0.05), finders={"fake": finder})
    report = engine.run(pd.DataFrame({"v": [1.0, 2.0]}))
    assert report.candidates_tested == 100
    assert report.significant == 20
    assert len(report.insights) == 20
    # and none at the default q = 0.01: each would be one of twenty at an adjusted p of 0.05
    default = InsightEngine(EngineSettings(top_k=50), finders={"fake": finder})
    assert default.run(pd.DataFrame({"v": [1.0]})).significant == 0


def test_question_boosts_the_insights_it_names() -> None:
    frame = _noise()
    rng = np.random.default_rng(3)
    frame["d"] = frame["a"] + rng.normal(scale=0.2, size=len(frame))
    frame["e"] = frame["b"] + rng.normal(scale=0.8, size=len(frame))
    plain = InsightEngine().run(frame)
    assert plain.insights[0].columns == ["a", "d"]
    asked = InsightEngine().run(frame, question="How do b and e relate?")
    assert asked.insights[0].columns == ["b", "e"]


def test_mostly_missing_columns_are_left_out_and_reported() -> None:
    frame = _noise()
    frame["d"] = frame["a"]
    frame.loc[frame.index[: int(len(frame) * 0.6)], "d"] = np.nan
    report = InsightEngine().run(frame)
    assert all("d" not in i.columns for i in report.insights)
    assert any(q.kind == "missing" and q.column == "d" for q in report.quality)
    assert any("d" in note for note in report.notes)


def test_roles() -> None:
    frame = pd.DataFrame(
        {
            "id": range(100),
            "when": pd.date_range("2024-01-01", periods=100, freq="D"),
            "grade": [1, 2, 3, 4] * 25,
            "name": [f"c{i}" for i in range(100)],
            "value": np.linspace(0, 1, 100) ** 2,
            "kind": ["a", "b"] * 50,
        }
    )
    roles = column_roles(frame)
    assert roles.time == "when"
    assert roles.measures == ["grade", "value"]
    assert roles.dimensions == ["grade", "kind"]
    assert roles.entities == ["name"]


def test_correlations_and_p_values_equal_scipys_also_with_missing_values() -> None:
    from scipy import stats

    frame = _noise(rows=80, seed=9)
    frame["d"] = frame["a"] * 0.8 + np.random.default_rng(4).normal(scale=0.6, size=len(frame))
    frame.loc[frame.index[::7], "d"] = np.nan
    view = TableView(frame, Roles(measures=["a", "b", "d"], dimensions=[], time=None, entities=[]))
    found = {tuple(c.columns): c for c in correlation.find(view)}
    for left, right in [("a", "b"), ("a", "d"), ("b", "d")]:
        pair = frame[[left, right]].dropna()
        pearson = stats.pearsonr(pair[left], pair[right])
        spearman = stats.spearmanr(pair[left], pair[right])
        candidate = found[(left, right)]
        assert candidate.test.statistic == pytest.approx(pearson.statistic, abs=1e-12)
        assert candidate.test.p_value == pytest.approx(max(pearson.pvalue, spearman.pvalue), rel=1e-9)
        if candidate.reportable:
            assert candidate.values[2].key == "n" and candidate.values[2].value == len(pair)
        else:
            assert candidate.values == [] and candidate.statement == ""  # counted, never shown
    assert found[("a", "d")].reportable and found[("a", "d")].chart is not None
    assert not found[("a", "b")].reportable and found[("a", "b")].chart is None


def test_many_pairs_with_missing_values_use_the_matrix_path_and_agree_with_pandas(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(11)
    frame = pd.DataFrame(rng.normal(size=(600, 6)), columns=list("abcdef"))
    frame["f"] = frame["a"] * 0.7 + rng.normal(scale=0.7, size=600)
    for name in frame.columns:
        frame.loc[rng.choice(600, size=18, replace=False), name] = np.nan  # 3 % missing in every column
    monkeypatch.setattr(correlation, "MAX_EXACT_PAIRWISE_WORK", 0)
    view = TableView(frame, Roles(measures=list(frame.columns), dimensions=[], time=None, entities=[]))
    found = {tuple(c.columns): c for c in correlation.find(view)}
    assert len(found) == 15
    pearson = frame.corr()
    spearman = frame.corr(method="spearman")
    for (left, right), candidate in found.items():
        assert candidate.test.statistic == pytest.approx(pearson.loc[left, right], abs=1e-9)
        if candidate.reportable:
            rho = candidate.values[1].value
            assert rho is not None and abs(rho - round(spearman.loc[left, right], 2)) <= 0.011
    assert found[("a", "f")].reportable


def _fake(kind: str, p: float, *, test: str = "fake", subspace: bool = False, direction: int = 1) -> Candidate:
    return Candidate(
        type=kind,  # type: ignore[arg-type]
        columns=["when", "v"],
        statement=f"{kind} {test}",
        values=[num("x", 1, "x")],
        test=InsightTest(name=test, p_value=p),
        strength=0.5,
        reportable=True,
        expression="df",
        direction=direction,
    )


def test_undefined_p_values_are_never_significant_and_two_tests_keep_two_ids() -> None:
    def finder(view: TableView) -> list[Candidate]:
        return [
            _fake("seasonality", 1e-9, test="month of year"),
            _fake("seasonality", 1e-9, test="weekday"),
            _fake("trend", float("nan")),
        ]

    report = InsightEngine(finders={"fake": finder}, derivers={}).run(pd.DataFrame({"v": [1.0, 2.0]}))
    assert sorted(i.id for i in report.insights) == [
        "seasonality:when~v#month-of-year",
        "seasonality:when~v#weekday",
    ]


def test_a_step_of_the_whole_table_is_not_repeated_as_a_subspace_trend() -> None:
    frame = pd.DataFrame({"v": np.arange(60.0), "region": ["a", "b"] * 30})

    def finder(view: TableView) -> list[Candidate]:
        if view.subspace is None:
            return [_fake("change_point", 1e-9)]
        return [_fake("trend", 1e-9, direction=1 if view.subspace.value == "a" else -1)]

    engine = InsightEngine(EngineSettings(min_subspace_rows=5), finders={"trend": finder}, derivers={})
    ids = sorted(i.id for i in engine.run(frame).insights)
    assert ids == ["change_point:when~v", "trend:when~v@region=b"]  # same direction dropped, the opposite kept
