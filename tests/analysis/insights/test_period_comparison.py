"""Period comparisons: best/worst full year (ANOVA) and the last full year against the one before (Welch)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from insight.analysis.insights import EngineSettings, InsightEngine, period_comparison
from insight.analysis.insights.base import Candidate
from tests.analysis.insights.time_tables import dated, planted, significant, view


def _by_test(candidates: list[Candidate], word: str, measure: str = "a") -> Candidate:
    [found] = [c for c in candidates if c.columns[-1] == measure and word in c.test.name]
    return found


def test_planted_trend_gives_best_worst_and_year_over_year_with_exact_figures() -> None:
    frame = planted(1, "trend", size=2.0, rows=1000)
    frame["a"] += 10.0
    found = period_comparison.find(view(frame))
    yearly = frame.groupby(frame["date"].dt.year)["a"]
    means = yearly.mean()
    best = _by_test(found, "ANOVA")
    values = {v.key: v for v in best.values}
    assert best.reportable and best.test.p_value is not None and best.test.p_value < 1e-10
    assert values["best_year"].text == "2024" and values["worst_year"].text == "2022"
    assert values["best_average"].value == pytest.approx(means[2024])
    assert values["worst_average"].value == pytest.approx(means[2022])
    anova = stats.f_oneway(*[part.to_numpy() for _, part in yearly])
    assert best.test.statistic == pytest.approx(anova.statistic)
    assert best.test.p_value == pytest.approx(anova.pvalue, rel=1e-6, abs=1e-300)
    assert eval(best.expression, {"df": frame, "pd": pd}).idxmax() == 2024
    yoy = _by_test(found, "welch")
    values = {v.key: v for v in yoy.values}
    assert yoy.reportable and yoy.direction == 1
    assert values["average"].value == pytest.approx(means[2024])
    assert values["previous_average"].value == pytest.approx(means[2023])
    assert values["change_pct"].value == pytest.approx((means[2024] - means[2023]) / means[2023] * 100)
    welch = stats.ttest_ind(
        frame.loc[frame["date"].dt.year == 2024, "a"], frame.loc[frame["date"].dt.year == 2023, "a"], equal_var=False
    )
    assert yoy.test.p_value == pytest.approx(welch.pvalue)
    assert eval(yoy.expression, {"df": frame, "pd": pd, "stats": stats}).pvalue == pytest.approx(welch.pvalue)
    for candidate in (best, yoy):
        for value in candidate.values:
            assert value.text in candidate.statement
    assert yoy.statement.startswith("Average a in 2024 was ") and " on 2023 (" in yoy.statement


def test_partial_years_are_left_out() -> None:
    frame = dated(2, rows=800, days=3 * 365, start="2022-03-15")  # 2022 and 2025 are partial
    [yoy] = [c for c in period_comparison.find(view(frame)) if c.columns[-1] == "a"]
    assert "welch-t 2024 vs 2023" in yoy.test.name  # only 2023 and 2024 are full: no best/worst


def test_year_column_and_a_fall_without_percent() -> None:
    rng = np.random.default_rng(4)
    years = np.repeat(np.arange(2018, 2024), 30)
    frame = pd.DataFrame({"year": years, "margin": -0.5 * (years - 2018) + rng.normal(0, 1, len(years))})
    found = period_comparison.find(view(frame))
    yoy = _by_test(found, "welch", "margin")
    assert yoy.direction == -1 and " against " in yoy.statement
    assert any(v.key == "change" for v in yoy.values)
    best = _by_test(found, "ANOVA", "margin")
    assert "2018–2023" in best.statement and best.values[1].text == "2018"


def test_noise_is_not_reported() -> None:
    tests = raw = 0
    for seed in range(150):
        found = period_comparison.find(view(dated(seed + 5000, rows=200, days=4 * 365)))
        tests += len(found)
        raw += len(significant(found, "a")) + len(significant(found, "b"))
    assert tests == 150 * 4
    assert raw / tests <= 0.06


def test_engine_reports_almost_nothing_on_noise() -> None:
    engine = InsightEngine(EngineSettings(), finders={"period_comparison": period_comparison.find})
    reported = sum(bool(engine.run(dated(seed + 6000, rows=200)).insights) for seed in range(200))
    assert reported <= 10  # 13 of 300 tables measured (4.3 %)


def test_seasonality_does_not_make_years_differ() -> None:
    hits = sum(
        bool(significant(period_comparison.find(view(planted(seed, "season", size=2.0))), alpha=0.01))
        for seed in range(40)
    )
    assert hits <= 2


def test_edge_cases_never_raise() -> None:
    frame = dated(7, rows=300)
    frame.loc[frame.index[:50], "a"] = np.nan
    frame.loc[frame.index[50:70], "date"] = pd.NaT
    frame["constant"] = 4.0
    assert all(c.columns[-1] != "constant" for c in period_comparison.find(view(frame)))
    assert period_comparison.find(view(dated(8, rows=100, days=200))) == []  # no full year
    one_row_a_year = pd.DataFrame({"year": np.arange(2000, 2010), "v": np.arange(10) * 1.5})
    assert period_comparison.find(view(one_row_a_year)) == []
    assert period_comparison.find(view(dated(9).iloc[:0])) == []
    assert period_comparison.find(view(dated(9).drop(columns="date"))) == []
