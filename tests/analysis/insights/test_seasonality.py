"""Seasonality: month-of-year profile over a trend/step baseline, weekday profile with weeks as blocks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from insight.analysis.insights import EngineSettings, InsightEngine, seasonality
from insight.analysis.insights.base import Candidate
from tests.analysis.insights.time_tables import dated, planted, significant, view


def _kind(candidates: list[Candidate], kind: str, measure: str = "a") -> Candidate:
    [found] = [c for c in candidates if c.columns[-1] == measure and kind in c.test.name]
    return found


def test_planted_month_profile_is_found_with_exact_figures() -> None:
    frame = planted(1, "season", size=1.5, rows=1000)
    candidate = _kind(seasonality.find(view(frame)), "month")
    assert candidate.type == "seasonality" and candidate.reportable
    assert candidate.test.p_value is not None and candidate.test.p_value < 1e-6
    by_month = frame.groupby(frame["date"].dt.month)["a"].mean()
    values = {v.key: v for v in candidate.values}
    # sin(2π m / 12) peaks in March and bottoms in September
    assert values["peak"].text == "March" and values["trough"].text == "September"
    assert values["peak_average"].value == pytest.approx(by_month.max())
    assert values["trough_average"].value == pytest.approx(by_month.min())
    for value in candidate.values:
        assert value.text in candidate.statement
    assert candidate.statement.startswith("a peaks in March (average ")
    result = eval(candidate.expression, {"df": frame, "pd": pd})
    assert result.idxmax() == 3 and result.max() == pytest.approx(by_month.max())
    assert candidate.chart is not None and len(candidate.chart["data"]["values"]) == 12


def test_planted_weekday_profile_is_found() -> None:
    frame = planted(2, "weekday", size=1.0, rows=2000)
    candidate = _kind(seasonality.find(view(frame)), "weekday")
    assert candidate.reportable and candidate.test.p_value is not None and candidate.test.p_value < 1e-6
    by_day = frame.groupby(frame["date"].dt.day_of_week)["a"].mean()
    values = {v.key: v for v in candidate.values}
    assert values["peak"].text in ("Saturday", "Sunday")
    assert values["peak_average"].value == pytest.approx(by_day.max())
    assert f"highest on {values['peak'].text}s" in candidate.statement
    assert eval(candidate.expression, {"df": frame, "pd": pd}).max() == pytest.approx(by_day.max())


@pytest.mark.parametrize("shape", ["trend", "step"])
def test_trend_or_step_is_not_seasonality(shape: str) -> None:
    hits = 0
    for seed in range(40):
        frame = planted(seed, shape, size=3.0, rows=400)
        hits += bool(significant(seasonality.find(view(frame)), alpha=0.01))
    assert hits <= 2


def test_noise_is_not_reported() -> None:
    # two tests per measure (month of year, weekday): the share of tests, not of tables, is what a valid
    # p-value bounds
    tests = raw = 0
    for seed in range(150):
        found = seasonality.find(view(dated(seed + 3000, rows=300)))
        tests += len(found)
        raw += len(significant(found, "a")) + len(significant(found, "b"))
    assert tests == 150 * 4
    assert raw / tests <= 0.06


def test_engine_reports_almost_nothing_on_noise() -> None:
    engine = InsightEngine(EngineSettings(), finders={"seasonality": seasonality.find})
    reported = sum(bool(engine.run(dated(seed + 4000, rows=300)).insights) for seed in range(100))
    assert reported <= 5


def test_needs_two_years_and_four_weeks() -> None:
    short = planted(3, "season", size=2.0)
    short = short[short["date"] < "2023-06-01"]  # 17 months: no month-of-year profile
    assert not [c for c in seasonality.find(view(short)) if "month" in c.test.name]
    three_weeks = dated(4, rows=200, days=20)
    assert seasonality.find(view(three_weeks)) == []
    years = pd.DataFrame({"year": np.repeat(np.arange(2000, 2012), 5), "v": np.arange(60.0) ** 1.5})
    assert seasonality.find(view(years)) == []


def test_edge_cases_never_raise() -> None:
    frame = dated(5, rows=500)
    frame.loc[frame.index[:40], "a"] = np.nan
    frame.loc[frame.index[40:60], "date"] = pd.NaT
    frame["constant"] = 3.0
    found = seasonality.find(view(frame))
    assert all(c.columns[-1] != "constant" for c in found)
    business = dated(6, rows=600, days=120)
    business = business[business["date"].dt.day_of_week < 5]  # no weekends
    weekday = [c for c in seasonality.find(view(business)) if "weekday" in c.test.name]
    assert weekday and all(v.text not in ("Saturday", "Sunday") for c in weekday for v in c.values)


def test_month_p_value_is_the_largest_over_every_baseline_the_series_could_have() -> None:
    # The step's position is fitted to the data; testing over that one baseline alone understated p.
    frame = planted(5, "step", size=1.0, rows=900)
    found = seasonality.timeseries.series(view(frame), "a", "month")
    assert found is not None
    month = found.keys % 12
    dummies = (month[:, None] == np.arange(1, 12)[None, :]).astype("float64")
    p_values = []
    for baseline in seasonality._baselines(found.x):
        test = seasonality._nested_f(found.values, baseline, np.column_stack([baseline, dummies]))
        assert test is not None
        p_values.append(test[1])
    assert len(p_values) == len(found) - 2 * 3 + 2  # the line and every split leaving 3 periods a side
    candidate = _kind(seasonality.find(view(frame)), "month")
    assert candidate.test.p_value == pytest.approx(max(p_values))
    assert min(p_values) < candidate.test.p_value
