"""Metrics, intervals and the gate, against values computed by hand or by scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats
from sklearn import metrics as skm

from insight.analysis import AnalysisResult
from insight.evaluation.metrics import (
    ReferenceFact,
    citation_scores,
    gold_documents,
    ranking_scores,
    reference_fact,
    reference_recall,
    sklearn_table,
    states,
    token_f1,
    unique_docs,
)
from insight.evaluation.runner import classifier_metric
from insight.evaluation.stats import (
    CONFIDENCE,
    MetricSummary,
    bootstrap,
    check_target,
    mean_of,
    percentile_of,
    summarize,
)
from insight.evaluation.suites import Target


def test_ranking_metrics_are_graded_and_kept_per_query() -> None:
    qrels = {"b": {"d3": 1}, "a": {"d1": 2, "d2": 1}, "c": {"d4": 1}}
    run = {"a": ["d2", "d1"], "b": ["d9", "d8", "d3"], "c": []}
    scores = ranking_scores(qrels, run, ["ndcg@10", "mrr@10", "recall@2"])
    # linear gains (trec_eval and BEIR's convention): DCG = 1/log2(2) + 2/log2(3), ideal = 2/log2(2) + 1/log2(3)
    assert scores["ndcg@10"]["a"] == pytest.approx((1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3)))
    assert scores["mrr@10"] == {"a": 1.0, "b": pytest.approx(1 / 3), "c": 0.0}
    assert scores["recall@2"] == {"a": 1.0, "b": 0.0, "c": 0.0}


def test_chunk_hits_become_a_document_ranking() -> None:
    assert unique_docs(["a", "a", "b", "a", "c", "d"], 3) == ["a", "b", "c"]


def test_citations_against_gold_documents() -> None:
    relevant = {"policy.md": 2, "faq": 1, "notes": 2}
    assert gold_documents(relevant) == {"policy.md", "notes"}
    assert citation_scores(["policy.md", "faq", "other"], relevant) == (pytest.approx(2 / 3), 0.5)
    assert citation_scores([], relevant) == (0.0, 0.0)  # an uncited answer fails a task that asks for citations
    assert citation_scores(["faq"], {"faq": 1}) == (1.0, 1.0)


def test_token_f1() -> None:
    assert token_f1("At least 14 characters.", "at least 14 characters") == 1.0
    assert token_f1("14 characters", "At least 14 characters.") == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    assert token_f1("no overlap", "14 characters") == 0.0


def test_reference_facts_are_computed_from_the_data() -> None:
    iris = sklearn_table("iris")
    assert reference_fact(iris, "rows").value == 150
    assert reference_fact(iris, "strongest_correlation").names == ("petal length (cm)", "petal width (cm)")
    assert reference_fact(sklearn_table("diabetes"), "max:progression").value == 346.0
    wine = reference_fact(sklearn_table("wine"), "mean:alcohol")
    assert wine.value == pytest.approx(13.0006, abs=1e-4)


def test_an_analysis_states_a_fact_to_its_written_precision() -> None:
    result = AnalysisResult(
        summary="150 rows; alcohol averages 13.0.",
        key_points=["Petal length and petal width move together (r = 0.96)."],
        confidence=0.7,
    )
    assert states(result, ReferenceFact("rows", value=150.0))
    assert states(result, ReferenceFact("mean:alcohol", value=13.0006))
    assert not states(result, ReferenceFact("max", value=14.83))
    assert states(result, ReferenceFact("corr", names=("petal length (cm)", "petal width (cm)")))
    assert not states(result, ReferenceFact("corr", names=("petal length (cm)", "sepal width (cm)")))
    facts = [ReferenceFact("rows", value=150.0), ReferenceFact("max", value=14.83)]
    assert reference_recall(result, facts) == 0.5


@pytest.mark.parametrize("metric", ["accuracy", "precision", "recall", "f1", "roc_auc"])
def test_classifier_metrics_equal_scikit_learn(metric: str) -> None:
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 2, size=(4, 60))
    proba = np.round(rng.random((4, 60)), 1)  # rounded: tied scores, which ROC AUC must average
    expected = [
        {
            "accuracy": lambda y, p: skm.accuracy_score(y, p >= 0.5),
            "precision": lambda y, p: skm.precision_score(y, p >= 0.5),
            "recall": lambda y, p: skm.recall_score(y, p >= 0.5),
            "f1": lambda y, p: skm.f1_score(y, p >= 0.5),
            "roc_auc": skm.roc_auc_score,
        }[metric](y, p)
        for y, p in zip(truth, proba, strict=True)
    ]
    assert classifier_metric(metric, truth, proba) == pytest.approx(expected)


def test_bootstrap_is_seeded_and_brackets_the_estimate() -> None:
    values = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0])
    first = bootstrap(mean_of(values), values.size, 1000, seed=1)
    assert first == bootstrap(mean_of(values), values.size, 1000, seed=1)
    point, low, high = first
    assert point == 0.7 and low < point < high and 0.3 <= low and high <= 1.0
    spread = np.linspace(0.0, 1.0, 37) ** 2
    assert bootstrap(mean_of(spread), spread.size, 500, seed=1) != bootstrap(mean_of(spread), spread.size, 500, seed=2)


@pytest.mark.parametrize("case", ["mean", "p95", "roc_auc"])
def test_bootstrap_gives_scipys_percentile_interval(case: str) -> None:
    rng = np.random.default_rng(3)
    values = rng.lognormal(size=60)
    truth, proba = rng.integers(0, 2, size=80), rng.uniform(size=80)
    statistic, n = {
        "mean": (mean_of(values), values.size),
        "p95": (percentile_of(values, 95.0), values.size),
        "roc_auc": (lambda idx: classifier_metric("roc_auc", truth[idx], proba[idx]), truth.size),
    }[case]
    point, low, high = bootstrap(statistic, n, 999, seed=11)
    reference = scipy_stats.bootstrap(
        (np.arange(n),),
        lambda idx, axis: statistic(idx),
        n_resamples=999,
        confidence_level=CONFIDENCE,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(11),
    ).confidence_interval
    assert (low, high) == pytest.approx((reference.low, reference.high), rel=1e-12)
    assert point == pytest.approx(float(statistic(np.arange(n)[None, :])[0])) and low < point < high


def test_bootstrap_leaves_out_resamples_where_the_statistic_is_undefined() -> None:
    truth, proba = np.array([1, 0, 0, 0, 0, 0, 0, 0]), np.linspace(0.9, 0.1, 8)
    point, low, high = bootstrap(lambda idx: classifier_metric("roc_auc", truth[idx], proba[idx]), 8, 500, seed=0)
    assert point == 1.0 and (low, high) == (1.0, 1.0)  # a third of the resamples miss the positive: NaN, left out


def test_a_single_case_has_no_spread() -> None:
    assert bootstrap(mean_of(np.array([0.4])), 1, 500, seed=0) == (0.4, 0.4, 0.4)


def test_unmeasured_cases_are_counted_never_averaged() -> None:
    summary = summarize(
        "schema_valid",
        {"a": 1.0, "b": None, "c": 0.0, "d": None},
        {"b": "llm_timeout", "d": "llm_rate_limited"},
        samples=200,
        seed=0,
    )
    assert summary.value == 0.5 and not math.isnan(summary.value)
    assert (summary.measured, summary.unmeasured) == (2, 2)
    assert summary.reasons == {"llm_timeout": 1, "llm_rate_limited": 1}
    nothing = summarize("x", {"a": None}, {"a": "llm_timeout"}, samples=200, seed=0)
    assert nothing.value is None and nothing.reasons == {"llm_timeout": 1}
    assert not check_target(Target(metric="x", value=0.0), nothing, 1.0).passed


def test_the_gate_compares_the_point_or_the_pessimistic_bound() -> None:
    summary = MetricSummary("ndcg@10", 0.72, 0.66, 0.78, 100, 0)
    assert check_target(Target(metric="ndcg@10", value=0.7), summary, 0.2).passed
    on_bound = check_target(Target(metric="ndcg@10", value=0.7, gate_on="lower_bound"), summary, 0.2)
    assert not on_bound.passed and on_bound.compared == 0.66
    latency = MetricSummary("latency_p95", 90.0, 70.0, 130.0, 50, 0)
    assert check_target(Target(metric="latency_p95", op="<=", value=100.0), latency, 0.2).passed
    assert not check_target(
        Target(metric="latency_p95", op="<=", value=100.0, gate_on="lower_bound"), latency, 0.2
    ).passed
    flaky = MetricSummary("ndcg@10", 0.9, 0.8, 1.0, 7, 3)
    assert not check_target(Target(metric="ndcg@10", value=0.5), flaky, 0.2).passed
