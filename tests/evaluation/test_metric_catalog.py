"""The regression, forecast and MAP@k metrics against scikit-learn and a hand-written average precision."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from insight.errors import SuiteInvalid
from insight.evaluation.metrics import (
    directional_accuracy,
    directional_hits,
    ranking_scores,
    regression_metric,
)
from insight.evaluation.stats import bootstrap, check_target, summarize
from insight.evaluation.suites import LOWER_IS_BETTER, Suite, Target, at_k

SKLEARN = {
    "r2": skm.r2_score,
    "rmse": skm.root_mean_squared_error,
    "mae": skm.mean_absolute_error,
    "mape": skm.mean_absolute_percentage_error,
}


@pytest.mark.parametrize("metric", sorted(SKLEARN))
def test_regression_metrics_equal_scikit_learn(metric: str) -> None:
    rng = np.random.default_rng(7)
    truth = rng.uniform(20.0, 300.0, size=(5, 80))
    predicted = truth + rng.normal(0.0, 40.0, size=truth.shape)
    expected = [SKLEARN[metric](y, p) for y, p in zip(truth, predicted, strict=True)]
    assert regression_metric(metric, truth, predicted) == pytest.approx(expected, rel=1e-12)


def test_mape_refuses_zero_targets_and_names_the_rows() -> None:
    truth = np.array([[3.0, 0.0, 5.0, 0.0]])
    with pytest.raises(SuiteInvalid, match=r"MAPE is undefined: 2 of 4 targets are 0 \(rows 1, 3\)"):
        regression_metric("mape", truth, truth + 1.0)


def test_r2_is_undefined_on_constant_targets() -> None:
    assert np.isnan(regression_metric("r2", np.array([[2.0, 2.0, 2.0]]), np.array([[1.0, 2.0, 3.0]]))[0])


def test_unknown_regression_metric() -> None:
    with pytest.raises(SuiteInvalid, match="unknown regression metric"):
        regression_metric("smape", np.ones((1, 2)), np.ones((1, 2)))


def test_directional_accuracy_counts_moves_and_leaves_out_flat_cases() -> None:
    previous = np.array([10.0, 10.0, 10.0, 10.0, 10.0])
    actual = np.array([12.0, 8.0, 10.0, 11.0, 9.0])
    forecast = np.array([11.0, 9.0, 12.0, 9.0, 10.0])  # up ✓, down ✓, flat (unmeasured), up ✗, down ✗ (flat)
    hits = directional_hits(previous, actual, forecast)
    assert np.isnan(hits[2])
    assert hits[[0, 1, 3, 4]].tolist() == [1.0, 1.0, 0.0, 0.0]

    # the same figure counted by a loop (a time series: previous = last actual; a flat forecast gets no move right)
    def move(value: float, start: float) -> int:
        return int(value > start) - int(value < start)

    measured = [move(a, p) == move(f, p) for p, a, f in zip(previous, actual, forecast, strict=True) if a != p]
    assert directional_accuracy(previous, actual, forecast) == pytest.approx(sum(measured) / len(measured))
    with pytest.raises(SuiteInvalid, match="no actual value moved"):
        directional_accuracy(previous, previous, forecast)


def _average_precision_at(ranking: list[str], relevant: set[str], k: int) -> float:
    """AP@k written out: precision at each relevant hit in the top k, over all relevant documents."""
    hits, total = 0, 0.0
    for position, doc in enumerate(ranking[:k], start=1):
        if doc in relevant:
            hits += 1
            total += hits / position
    return total / len(relevant)


def test_map_at_k_equals_average_precision_written_out() -> None:
    qrels = {"q1": {"a": 1, "b": 2, "c": 1}, "q2": {"x": 1}, "q3": {"m": 1, "n": 1}}
    run = {"q1": ["b", "z", "a", "y", "c"], "q2": ["w", "v", "x"], "q3": ["p", "q"]}
    scores = ranking_scores(qrels, run, ["map@3", "map@10"])
    for k in (3, 10):
        expected = {q: _average_precision_at(run[q], set(qrels[q]), k) for q in qrels}
        assert scores[f"map@{k}"] == pytest.approx(expected)
    assert scores["map@3"]["q1"] == pytest.approx((1 / 1 + 2 / 3) / 3)
    assert at_k("map@10") == ("map", 10)


def test_suites_take_targets_on_the_new_metrics() -> None:
    retrieval = Suite.model_validate(
        {
            "name": "r",
            "kind": "retrieval",
            "dataset": {"path": "x.jsonl"},
            "collection": "c",
            "metrics": ["map@10"],
            "targets": [{"metric": "map@10", "op": ">=", "value": 0.5, "gate_on": "lower_bound"}],
        }
    )
    assert retrieval.targets[0].metric == "map@10"
    regression = Suite.model_validate(
        {
            "name": "p",
            "kind": "predictor",
            "metrics": ["r2", "rmse", "mae", "mape", "directional_accuracy"],
            "targets": [{"metric": "mape", "op": "<=", "value": 0.1}],
        }
    )
    assert {"rmse", "mae", "mape"} <= LOWER_IS_BETTER
    assert regression.targets[0].op == "<="
    with pytest.raises(ValueError, match="not both"):
        Suite.model_validate({"name": "p", "kind": "predictor", "metrics": ["r2", "accuracy"]})
    with pytest.raises(ValueError, match="only kind 'predictor'"):
        Suite.model_validate(
            {
                "name": "r",
                "kind": "retrieval",
                "dataset": {"path": "x.jsonl"},
                "collection": "c",
                "metrics": ["map@10"],
                "model_dir": "var/x",
            }
        )


def test_a_lower_is_better_error_gates_on_its_upper_bound() -> None:
    rng = np.random.default_rng(0)
    truth = rng.uniform(50.0, 150.0, size=200)
    predicted = truth * rng.normal(1.0, 0.12, size=200)
    point, low, high = bootstrap(
        lambda idx: regression_metric("mape", truth[idx], predicted[idx]), truth.size, 500, seed=1
    )
    assert low < point < high
    from insight.evaluation.stats import MetricSummary

    summary = MetricSummary("mape", point, low, high, truth.size, 0)
    point_gate = check_target(Target(metric="mape", op="<=", value=high - 1e-6), summary, 0.2)
    bound_gate = check_target(Target(metric="mape", op="<=", value=high - 1e-6, gate_on="lower_bound"), summary, 0.2)
    assert point_gate.passed and not bound_gate.passed  # the pessimistic end of an error is its upper bound


def test_unmeasured_directional_cases_count_against_the_gate() -> None:
    hits = directional_hits(np.zeros(10), np.array([1.0, -1, 0, 0, 0, 1, 1, -1, 1, 1]), np.ones(10))
    per_case = {f"c{i}": (None if np.isnan(h) else float(h)) for i, h in enumerate(hits)}
    summary = summarize("directional_accuracy", per_case, {}, samples=200, seed=0)
    assert (summary.measured, summary.unmeasured) == (7, 3)
    result = check_target(Target(metric="directional_accuracy", value=0.6), summary, max_unmeasured=0.2)
    assert not result.passed and "3 of 10 cases unmeasured" in result.why
