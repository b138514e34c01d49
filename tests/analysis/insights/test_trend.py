"""Trends: Mann–Kendall on the mean per period, Theil–Sen line, reported only when a line beats a step."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymannkendall
import pytest
from scipy import stats

from insight.analysis.insights import EngineSettings, InsightEngine, change_point, timeseries, trend
from insight.analysis.insights.base import Candidate
from tests.analysis.insights.time_tables import dated, planted, significant, view


def _run(expression: str, frame: pd.DataFrame) -> object:
    """Runs an insight's expression (statements separated by '; ', the last one an expression)."""
    *setup, last = expression.split("; ")
    scope: dict[str, object] = {"df": frame, "pd": pd, "np": np, "stats": stats}
    for line in setup:
        exec(line, scope)
    return eval(last, scope)


def _only(candidates: list[Candidate], measure: str) -> Candidate:
    [found] = [c for c in candidates if c.columns[-1] == measure]
    return found


def test_planted_trend_is_found_with_exact_figures() -> None:
    frame = planted(3, "trend", size=2.0)
    candidate = _only(trend.find(view(frame)), "a")
    assert candidate.type == "trend" and candidate.reportable and candidate.direction == 1
    assert candidate.columns == ["date", "a"]
    # three years of dates → months (36 periods); the figures from pandas and scipy directly
    series = frame.groupby(frame["date"].dt.to_period("M"))["a"].mean()
    x = np.array([(p - series.index[0]).n for p in series.index], dtype="float64")
    slope, intercept = stats.theilslopes(series.to_numpy(), x)[:2]
    start, end = intercept, intercept + slope * x[-1]
    values = {v.key: v for v in candidate.values}
    assert values["slope"].value == pytest.approx(slope)
    assert values["start"].value == pytest.approx(start)
    assert values["end"].value == pytest.approx(end)
    assert values["start_period"].text == "2022-01"
    assert values["end_period"].text == str(series.index[-1])
    assert "change" in values or "change_pct" in values
    for value in candidate.values:
        assert value.text in candidate.statement
    assert candidate.statement.startswith("Average a per month rose from ")
    # Mann–Kendall as pymannkendall computes it
    reference = pymannkendall.original_test(series.to_numpy())
    assert candidate.test.p_value == pytest.approx(reference.p, abs=0.01)
    assert candidate.test.effect_size == pytest.approx(reference.Tau, abs=0.02)
    assert candidate.test.p_value < 1e-6
    # the expression reproduces the slope
    result = _run(candidate.expression, frame)
    assert isinstance(result, tuple)
    assert result[0].slope == pytest.approx(slope)
    assert candidate.chart is not None and len(candidate.chart["data"]["values"]) == len(series)


def test_percent_change_when_the_line_stays_positive() -> None:
    frame = planted(4, "trend", size=-3.0)
    frame["a"] += 10.0
    candidate = _only(trend.find(view(frame)), "a")
    values = {v.key: v for v in candidate.values}
    assert candidate.direction == -1 and " fell from " in candidate.statement
    start, end = values["start"].value, values["end"].value
    assert start is not None and end is not None
    assert values["change_pct"].value == pytest.approx((end - start) / start * 100.0)
    assert values["change_pct"].text.startswith("-") and values["change_pct"].text in candidate.statement


def test_a_step_is_not_reported_as_a_trend() -> None:
    frame = planted(5, "step", size=2.0)
    v = view(frame)
    assert significant(change_point.find(v))
    assert not significant(trend.find(v))
    found = _only(trend.find(v), "a")
    assert found.test.p_value is not None and found.test.p_value < 0.05  # still tested, and counted
    assert not found.reportable


def test_year_column_and_periods() -> None:
    rng = np.random.default_rng(0)
    years = np.repeat(np.arange(2001, 2021), 10)
    frame = pd.DataFrame({"year": years, "sales": 100 + 5.0 * (years - 2000) + rng.normal(0, 3, len(years))})
    candidate = _only(trend.find(view(frame)), "sales")
    assert candidate.reportable and "per year" in candidate.statement and "2001" in candidate.statement
    per_year = frame.groupby("year")["sales"].mean()
    assert dict((v.key, v.value) for v in candidate.values)["slope"] == pytest.approx(
        stats.theilslopes(per_year.to_numpy(), per_year.index.to_numpy() - 2001)[0]
    )
    assert _run(candidate.expression, frame)[0].slope == pytest.approx(  # type: ignore[index]
        stats.theilslopes(per_year.to_numpy(), per_year.index.to_numpy() - 2001)[0]
    )


@pytest.mark.parametrize(
    ("days", "period"), [(20, "day"), (250, "week"), (2 * 365, "month"), (10 * 365, "quarter"), (40 * 365, "year")]
)
def test_period_follows_the_span(days: int, period: str) -> None:
    frame = dated(1, rows=2000, days=days)
    assert timeseries.choose_period(view(frame)) == period


def test_noise_is_not_reported() -> None:
    tables = 150
    raw = 0
    for seed in range(tables):
        found = trend.find(view(dated(seed, rows=200)))
        raw += bool(significant(found, "a")) + bool(significant(found, "b"))
    assert raw / (2 * tables) <= 0.06


def test_engine_reports_almost_nothing_on_noise() -> None:
    engine = InsightEngine(EngineSettings(), finders={"trend": trend.find, "change_point": change_point.find})
    reported = sum(bool(engine.run(dated(seed, rows=200)).insights) for seed in range(100))
    assert reported <= 5


def test_edge_cases_never_raise() -> None:
    frame = dated(2, rows=60)
    frame.loc[frame.index[:10], "a"] = np.nan
    frame.loc[frame.index[5:15], "date"] = pd.NaT
    frame["constant"] = 1.5
    assert all(c.columns[-1] != "constant" for c in trend.find(view(frame)))
    # a time zone, a single day, too few periods, no time column, no rows
    aware = dated(3, rows=100)
    aware["date"] = aware["date"].dt.tz_localize("Europe/Paris")
    assert trend.find(view(aware))
    assert trend.find(view(dated(4, rows=50, days=1))) == []
    assert trend.find(view(dated(4, rows=50, days=5))) == []
    assert trend.find(view(dated(5).drop(columns="date"))) == []
    assert trend.find(view(dated(6).iloc[:0])) == []


def test_infinite_and_huge_values_give_finite_p_values_in_every_time_type() -> None:
    from insight.analysis.insights import extremes, period_comparison, seasonality

    rng = np.random.default_rng(0)
    dates = pd.date_range("2020-01-01", periods=800, freq="D")
    frame = pd.DataFrame(
        {
            "date": dates,
            "inf": np.r_[np.inf, -np.inf, rng.normal(size=798)],
            "huge": rng.normal(size=800) * 1e300,
            "counts": pd.array(np.r_[[None] * 10, rng.integers(0, 100, 790)], dtype="Int64"),
        }
    )
    v = view(frame)
    found = [c for m in (trend, change_point, seasonality, period_comparison, extremes) for c in m.find(v)]
    assert {c.columns[-1] for c in found} >= {"inf", "counts"}
    assert all(c.test.p_value is None or np.isfinite(c.test.p_value) for c in found)
    assert all(np.isfinite(c.strength) for c in found)


def test_trend_under_a_yearly_season_is_tested_on_the_adjusted_series() -> None:
    frame = planted(0, "trend", size=2.0, rows=800)
    frame["a"] += np.sin(2 * np.pi * frame["date"].dt.month.to_numpy() / 12)
    v = view(frame)
    candidate = _only(trend.find(v), "a")
    assert candidate.reportable and "per month (seasonally adjusted) rose from" in candidate.statement
    assert "seasonally adjusted" in candidate.test.name
    assert not significant(change_point.find(v))  # the season is not taken for a step
    series = frame.groupby(frame["date"].dt.to_period("M"))["a"].mean()
    adjusted = series - series.groupby(series.index.month).transform("mean") + series.mean()
    x = np.array([(p - series.index[0]).n for p in series.index], dtype="float64")
    slope = stats.theilslopes(adjusted.to_numpy(), x)[0]
    assert dict((v.key, v.value) for v in candidate.values)["slope"] == pytest.approx(slope)
    assert _run(candidate.expression, frame)[0].slope == pytest.approx(slope)  # type: ignore[index]
    assert candidate.test.p_value == pytest.approx(stats.kendalltau(x, adjusted.to_numpy()).pvalue)
    # the fitted line starts near 0: the change is given as a difference, not a percentage
    assert any(v.key == "change" for v in candidate.values)


def test_mann_kendall_equals_scipy_kendalltau_with_ties() -> None:
    rng = np.random.default_rng(0)
    for _ in range(100):
        n = int(rng.integers(8, 150))
        values = np.round(rng.normal(size=n) + 0.02 * np.arange(n) * rng.normal(), int(rng.integers(0, 3)))
        tau, p_value = trend.mann_kendall(values)
        reference = stats.kendalltau(np.arange(n), values, method="asymptotic")
        assert tau == pytest.approx(reference.statistic, abs=1e-12)
        assert p_value == pytest.approx(reference.pvalue, abs=1e-12)
    tau, p_value = trend.mann_kendall(np.ones(10))
    assert tau == 0.0 and np.isnan(p_value)
