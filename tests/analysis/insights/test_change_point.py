"""Change points: the best split of the mean per period, Bonferroni over the splits, only when a step
fits better than a line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from insight.analysis.insights import EngineSettings, InsightEngine, change_point, trend
from insight.analysis.insights.timeseries import fit_shape, split_sse
from tests.analysis.insights.time_tables import dated, planted, significant, view


def test_planted_step_is_found_with_exact_figures() -> None:
    frame = planted(7, "step", size=2.0)
    frame["a"] += 5.0
    [candidate] = [c for c in change_point.find(view(frame)) if c.columns == ["date", "a"]]
    assert candidate.type == "change_point" and candidate.reportable and candidate.direction == 1
    series = frame.groupby(frame["date"].dt.to_period("M"))["a"].mean()
    values = {v.key: v for v in candidate.values}
    when = values["change_period"].text
    split = [str(p) for p in series.index].index(when)
    assert when in ("2023-10", "2023-11")  # planted 60 % of the way through: 2023-10-19
    before, after = series.iloc[:split], series.iloc[split:]
    assert values["before"].value == pytest.approx(before.mean())
    assert values["after"].value == pytest.approx(after.mean())
    assert values["change_pct"].value == pytest.approx((after.mean() - before.mean()) / before.mean() * 100)
    for value in candidate.values:
        assert value.text in candidate.statement
    assert "stepped up" in candidate.statement and f"from {when} on" in candidate.statement
    # Student's t at that split, times the number of splits tried (periods − 2 × 3 + 1)
    t = stats.ttest_ind(after, before)
    assert candidate.test.statistic == pytest.approx(t.statistic)
    assert candidate.test.p_value == pytest.approx(min(1.0, t.pvalue * (len(series) - 5)))
    scope: dict[str, object] = {"df": frame, "pd": pd, "np": np, "stats": stats}
    setup, last = candidate.expression.split("; ")
    exec(setup, scope)
    levels = eval(last, scope)
    assert levels[0] == pytest.approx(before.mean()) and levels[1] == pytest.approx(after.mean())


def test_a_trend_is_not_reported_as_a_step() -> None:
    frame = planted(8, "trend", size=2.0)
    v = view(frame)
    assert significant(trend.find(v))
    [step] = [c for c in change_point.find(v) if c.columns[-1] == "a"]
    assert step.test.p_value is not None and step.test.p_value < 0.05
    assert not step.reportable


def test_shape_choice_on_clean_series() -> None:
    x = np.arange(30, dtype="float64")
    noise = np.random.default_rng(0).normal(0, 0.3, 30)
    line = fit_shape(x, 0.2 * x + noise)
    step = fit_shape(x, 3.0 * (x >= 12) + noise)
    assert line is not None and line.kind == "trend"
    assert step is not None and step.kind == "step" and step.split == 12
    splits, sse = split_sse(np.array([1.0, 1.0, 1.0, 5.0, 5.0, 5.0, 5.0]))
    assert list(splits) == [3, 4] and sse[0] == pytest.approx(0.0)


def test_noise_is_not_reported() -> None:
    tables = 150
    raw = 0
    for seed in range(tables):
        found = change_point.find(view(dated(seed + 1000, rows=200)))
        raw += bool(significant(found, "a")) + bool(significant(found, "b"))
    assert raw / (2 * tables) <= 0.06


def test_engine_reports_almost_nothing_on_noise() -> None:
    engine = InsightEngine(EngineSettings(), finders={"change_point": change_point.find})
    reported = sum(bool(engine.run(dated(seed + 2000, rows=200)).insights) for seed in range(100))
    assert reported <= 5


def test_step_down_without_percent_and_edge_cases() -> None:
    frame = planted(9, "step", size=-3.0)
    [candidate] = [c for c in change_point.find(view(frame)) if c.columns[-1] == "a"]
    assert candidate.direction == -1 and "stepped down" in candidate.statement
    assert any(v.key == "change" for v in candidate.values)  # levels around zero: no percentage
    exact = pd.DataFrame(
        {"year": np.arange(2000, 2012), "level": [1.5] * 6 + [4.5] * 6}
    )  # no noise at all: a perfect step
    [perfect] = change_point.find(view(exact))
    assert perfect.test.p_value == 0.0 and perfect.reportable
    frame = dated(10, rows=80)
    frame.loc[frame.index[:30], "a"] = np.nan
    frame["constant"] = 2.0
    assert all(c.columns[-1] != "constant" for c in change_point.find(view(frame)))
    assert change_point.find(view(dated(11, rows=30, days=4))) == []


def test_best_split_agrees_with_ruptures_binary_segmentation() -> None:
    import ruptures

    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(10, 120))
        values = rng.normal(size=n) + (np.arange(n) >= rng.integers(3, n - 3)) * rng.normal()
        splits, sse = split_sse(values)
        ours = int(splits[np.argmin(sse)])
        theirs = ruptures.Binseg(model="l2", min_size=3, jump=1).fit(values).predict(n_bkps=1)[0]
        assert ours == theirs


def test_step_under_a_yearly_season_is_found_on_the_adjusted_series() -> None:
    frame = planted(0, "step", size=2.0, rows=800)
    frame["a"] += np.sin(2 * np.pi * frame["date"].dt.month.to_numpy() / 12)
    v = view(frame)
    [candidate] = [c for c in change_point.find(v) if c.columns[-1] == "a"]
    assert candidate.reportable and "per month (seasonally adjusted) stepped up" in candidate.statement
    assert not significant(trend.find(v))
    series = frame.groupby(frame["date"].dt.to_period("M"))["a"].mean()
    adjusted = series - series.groupby(series.index.month).transform("mean") + series.mean()
    k = [str(p) for p in series.index].index(candidate.values[2].text)
    assert candidate.values[0].value == pytest.approx(adjusted.iloc[:k].mean())
    assert candidate.values[1].value == pytest.approx(adjusted.iloc[k:].mean())
    scope: dict[str, object] = {"df": frame, "pd": pd, "np": np, "stats": stats}
    *setup, last = candidate.expression.split("; ")
    for line in setup:
        exec(line, scope)
    assert eval(last, scope)[0] == pytest.approx(adjusted.iloc[:k].mean())
