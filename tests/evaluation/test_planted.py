"""The planted-pattern evaluation: the generator is seeded and its truths are what the tables hold, the
scoring counts the right things (checked with hand-made reports, independent of the type modules), and
the ``insights`` suite kind loads, gates and runs end to end."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from insight.analysis.insights.base import column_roles
from insight.analysis.insights.model import Insight, InsightReport, InsightTest, Subspace
from insight.config import EvaluationSettings, Settings
from insight.errors import SuiteInvalid
from insight.evaluation import Evaluator, load_suite_file
from insight.evaluation.cache import OutputCache
from insight.evaluation.planted import (
    NULL,
    PLANTED_TYPES,
    RELATED,
    PlantedTable,
    generate,
    generate_suite,
    metric_names,
    per_type_table,
    run_planted,
    score_report,
    summarize_scores,
    tables_sha256,
)
from insight.evaluation.suites import Suite
from insight.prompts import PromptRegistry
from tests.conftest import REPO_ROOT, make_settings
from tests.evaluation.conftest import write_suite

SHIPPED = REPO_ROOT / "eval" / "suites" / "insights-planted.yaml"
TIME_TYPES = ("trend", "seasonality", "change_point", "period_comparison", "exception")


def insight(
    kind: str, columns: Sequence[str], subspace: Subspace | None = None, statement: str = "made by hand"
) -> Insight:
    return Insight(
        id=f"{kind}:{'~'.join(columns)}" + (f"@{subspace.column}={subspace.value}" if subspace else ""),
        type=kind,  # type: ignore[arg-type]
        columns=list(columns),
        subspace=subspace,
        statement=statement,
        values=[],
        test=InsightTest(name="hand", p_value=0.001),
        impact=0.5,
        score=0.5,
        expression="df",
    )


def report(insights: list[Insight]) -> InsightReport:
    return InsightReport(
        insights=insights,
        significant=len(insights),
        candidates_tested=len(insights),
        fdr_q=0.05,
        quality=[],
        subspaces_searched=0,
        budget_exhausted=False,
        engine_ms=1.0,
    )


def perfect(table: PlantedTable) -> list[Insight]:
    """What a perfect engine reports: the planted pattern on its columns (and subspace), nothing else."""
    if not table.truth.expect:
        return []
    planted = table.truth.expect[0]
    return [
        insight(
            planted.type,
            sorted(planted.required - {planted.subspace.column} if planted.subspace else planted.required),
            planted.subspace,
        )
    ]


class FakeEngine:
    """Answers each generated table with a report chosen by ``answer`` (no type module involved)."""

    def __init__(self, tables: Sequence[PlantedTable], answer: Any) -> None:
        self.by_columns = {tuple(t.frame.columns): t for t in tables}
        self.answer = answer

    def run(self, frame: pd.DataFrame, question: str | None = None, notes: Sequence[str] = ()) -> InsightReport:
        return report(self.answer(self.by_columns[tuple(frame.columns)]))


def noise(table: PlantedTable) -> list[Insight]:
    """A correlation between two distractor measures: true of no table."""
    numeric = [c for c in table.truth.distractors if pd.api.types.is_float_dtype(table.frame[c])]
    return [insight("correlation", numeric[:2])]


# -- the generator ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", [*PLANTED_TYPES, NULL])
def test_the_generator_is_deterministic_per_seed(kind: str) -> None:
    first, again, other = generate(kind, 5, 2), generate(kind, 5, 2), generate(kind, 6, 2)
    pd.testing.assert_frame_equal(first.frame, again.frame)
    assert first.truth == again.truth
    assert not first.frame.equals(other.frame)
    assert tables_sha256([first]) == tables_sha256([again]) != tables_sha256([other])


@pytest.mark.parametrize("kind", PLANTED_TYPES)
def test_every_table_has_its_pattern_among_distractors_with_roles_the_engine_sees(kind: str) -> None:
    for index in range(4):
        table = generate(kind, 11, index)
        frame, truth = table.frame, table.truth
        assert 200 <= len(frame) <= 2000
        assert truth.type == kind and truth.expect[0].type == kind
        assert {e.type for e in truth.expect[1:]} <= set(RELATED[kind])
        assert set(truth.columns) <= set(frame.columns) and set(truth.distractors) <= set(frame.columns)
        assert not set(truth.columns) & set(truth.distractors)
        assert len(truth.distractors) >= 3
        roles = column_roles(frame)
        planted = set(truth.expect[0].required)
        assert planted <= set(roles.measures) | set(roles.dimensions) | set(roles.entities)
        if kind in TIME_TYPES:
            assert roles.time in truth.columns
        assert all(name.isalpha() and name.islower() for name in frame.columns)


def within(value: float, low: float, high: float) -> bool:
    return low <= value <= high


def test_planted_sizes_are_measured_on_the_table_and_within_the_documented_ranges() -> None:
    for index in range(6):
        dominance = generate("dominance", 3, index)
        (column,) = dominance.truth.columns
        share = dominance.frame[column].value_counts(normalize=True)
        assert math.isclose(share.iloc[0], dominance.truth.size) and within(share.iloc[0], 0.6, 0.8)
        assert share.index[0] == dominance.truth.detail["label"]

        correlation = generate("correlation", 3, index)
        left, right = correlation.truth.columns
        r = correlation.frame[left].corr(correlation.frame[right])
        assert math.isclose(r, correlation.truth.size, abs_tol=1e-3) and within(abs(r), 0.5, 0.95)

        concentration = generate("concentration", 3, index)
        entity, measure = concentration.truth.columns
        totals = concentration.frame.groupby(entity)[measure].sum().sort_values(ascending=False)
        top = math.ceil(0.2 * len(totals))
        assert math.isclose(totals.iloc[:top].sum() / totals.sum(), concentration.truth.size)
        assert within(concentration.truth.size, 0.6, 0.9)

        group = generate("group_difference", 3, index)
        dimension, measure = group.truth.columns
        means = group.frame.groupby(dimension)[measure].mean()
        pooled = float(np.sqrt(group.frame.groupby(dimension)[measure].var().mean()))
        assert within((means.max() - means.min()) / pooled, 0.8, 1.8)

        outlier = generate("category_outlier", 3, index)
        dimension, measure = outlier.truth.columns
        means = outlier.frame.groupby(dimension)[measure].mean()
        label = outlier.truth.detail["label"]
        rest = means.drop(label)
        assert abs(means[label] - rest.mean()) > 4 * rest.std() and within(abs(outlier.truth.size), 1.0, 3.5)

        trend = generate("trend", 3, index)
        assert within(trend.truth.size, 25, 85) or within(trend.truth.size, -50, -20)

        step = generate("change_point", 3, index)
        assert within(abs(step.truth.size), 1.2, 3.3)

        year = generate("period_comparison", 3, index)
        measure, when = year.truth.columns
        by_year = year.frame.groupby(year.frame[when].dt.year)[measure].mean()
        chosen = year.truth.detail["year"]
        others = year.frame[year.frame[when].dt.year != chosen][measure].mean()
        assert math.isclose(100 * (by_year[chosen] / others - 1), year.truth.size)
        assert within(abs(year.truth.size), 20, 55)

        extreme = generate("extreme", 3, index)
        assert within(abs(extreme.truth.size), 5, 12)

        outliers = generate("outliers", 3, index)
        assert outliers.truth.size >= 3 and outliers.truth.detail["min_abs_robust_z"] >= 4

        seasonal = generate("seasonality", 3, index)
        assert seasonal.truth.size >= 0.25

        exception = generate("exception", 3, index)
        assert exception.truth.size < -20 and exception.truth.detail["others_pct_change"] > 20
        assert (
            exception.truth.subspace is not None and exception.truth.subspace.value == exception.truth.detail["label"]
        )


def test_null_tables_hold_distractors_only() -> None:
    for index in range(5):
        table = generate(NULL, 2, index)
        assert table.truth.type is None and not table.truth.expect
        assert set(table.truth.distractors) == set(table.frame.columns)


def test_generate_rejects_an_unknown_type() -> None:
    with pytest.raises(ValueError, match="no planted type"):
        generate("overview", 1)


# -- scoring ---------------------------------------------------------------------------------------------
def test_a_perfect_report_scores_one_and_noise_is_a_false_positive() -> None:
    tables = generate_suite(4, 2, 4)
    perfect_scores = [score_report(t, report(perfect(t))) for t in tables]
    summary = summarize_scores(perfect_scores, metric_names(), samples=100, seed=1)
    for kind in PLANTED_TYPES:
        assert summary[f"recall.{kind}"].value == 1.0 and summary[f"precision.{kind}"].value == 1.0, kind
    assert summary["null_rate"].value == 0.0 and summary["distractor_share"].value == 0.0
    assert all(s.rank == 1 for s in perfect_scores if s.planted)

    noisy = [score_report(t, report(noise(t))) for t in tables]
    assert all(not i.matched and i.distractor for s in noisy for i in s.insights)
    noisy_summary = summarize_scores(
        noisy, ["recall", "precision.correlation", "null_rate", "distractor_share"], samples=100, seed=1
    )
    assert noisy_summary["recall"].value == 0.0 and noisy_summary["precision.correlation"].value == 0.0
    assert noisy_summary["null_rate"].value == 1.0 and noisy_summary["distractor_share"].value == 1.0
    table = per_type_table(noisy)["correlation"]
    assert table["reported"] == len(tables) and table["matched"] == 0 and table["false_positives_on_null"] == 4
    assert table["false_positives_on_distractors"] == len(tables)
    assert table["false_positives_by_table"] == {"null": 4} | {kind: 2 for kind in PLANTED_TYPES}


def test_related_findings_count_for_precision_not_recall() -> None:
    trend = generate("trend", 9, 0)
    measure, when = trend.truth.columns
    score = score_report(trend, report([insight("period_comparison", [measure, when])]))
    assert score.found is False and score.insights[0].matched
    wrong = score_report(trend, report([insight("change_point", [measure, when])]))
    assert not wrong.insights[0].matched and not wrong.insights[0].distractor  # on the planted column: misattributed


def test_columns_and_subspace_must_be_the_planted_ones() -> None:
    correlation = generate("correlation", 9, 1)
    left, right = correlation.truth.columns
    other = next(c for c in correlation.truth.distractors if pd.api.types.is_float_dtype(correlation.frame[c]))
    half = score_report(correlation, report([insight("correlation", [left, other])]))
    assert half.found is False and not half.insights[0].matched
    dimension = next(
        c
        for c in correlation.truth.distractors
        if correlation.frame[c].dtype == object or pd.api.types.is_string_dtype(correlation.frame[c])
    )
    inside = Subspace(column=dimension, value=str(correlation.frame[dimension].iloc[0]))
    assert score_report(correlation, report([insight("correlation", [left, right], inside)])).found

    exception = generate("exception", 9, 2)
    truth = exception.truth
    assert truth.subspace is not None
    measure, when, dimension = truth.columns
    right_one = insight("exception", [measure, when], truth.subspace)
    levels = [v for v in exception.frame[dimension].unique() if v != truth.subspace.value]
    wrong_one = insight("exception", [measure, when], Subspace(column=dimension, value=str(levels[0])))
    assert score_report(exception, report([right_one])).found
    assert score_report(exception, report([wrong_one])).found is False
    columns = [measure, when, dimension]
    said = insight(
        "exception", columns, statement=f"{measure} rises in every {dimension} except {truth.subspace.value}."
    )
    other = insight("exception", columns, statement=f"{measure} rises in every {dimension} except {levels[0]}.")
    assert score_report(exception, report([said])).found
    assert score_report(exception, report([other])).found is False


def test_an_empty_type_leaves_its_precision_unmeasured() -> None:
    tables = generate_suite(4, 1, 1, types=["trend"])
    summary = summarize_scores(
        [score_report(t, report([])) for t in tables], ["precision.trend", "recall.trend"], samples=50, seed=1
    )
    assert summary["precision.trend"].value is None and summary["recall.trend"].value == 0.0
    with pytest.raises(ValueError, match="not measured"):
        summarize_scores([], ["accuracy"], samples=10, seed=1)


# -- the suite -------------------------------------------------------------------------------------------
def eval_settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path,
        evaluation=EvaluationSettings(
            suites_dir=tmp_path / "suites", cache_dir=tmp_path / "cache", bootstrap_samples=200, seed=7
        ),
    )


def test_the_shipped_suite_fixes_every_per_type_target() -> None:
    suite = load_suite_file(SHIPPED).suite
    assert suite.kind == "insights" and suite.planted is not None
    targets = {t.metric: (t.op, t.value) for t in suite.targets}
    for kind in PLANTED_TYPES:
        assert targets[f"recall.{kind}"] == (">=", 0.95) and targets[f"precision.{kind}"] == (">=", 0.95)
    assert targets["null_rate"] == ("<=", 0.05)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"metrics": ["recall"]}, "needs 'planted'"),
        ({"metrics": ["recall.overview"], "planted": {}}, "not measured"),
        ({"metrics": ["recall"], "planted": {"types": ["sparkle"]}}, "unknown insight types"),
        ({"metrics": ["recall"], "planted": {"min_rows": 900, "max_rows": 300}}, "min_rows"),
    ],
)
def test_insights_suites_are_validated(fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Suite.model_validate({"name": "x", "kind": "insights", **fields})


def small_suite(tmp_path: Path, **planted: Any) -> Any:
    fields = {
        "name": "insights-ci",
        "kind": "insights",
        "planted": {"seed": 3, "tables_per_type": 1, "null_tables": 3, "types": ["correlation", "trend"], **planted},
        "metrics": metric_names(["correlation", "trend"]),
        "targets": [
            {"metric": "recall.correlation", "value": 0.95},
            {"metric": "precision.correlation", "value": 0.95},
            {"metric": "null_rate", "op": "<=", "value": 0.05},
        ],
    }
    return load_suite_file(write_suite(tmp_path / "suites", **fields))


def test_the_gate_passes_a_perfect_engine_and_fails_a_noisy_one(tmp_path: Path) -> None:
    loaded = small_suite(tmp_path)
    settings = eval_settings(tmp_path)
    tables = generate_suite(3, 1, 3, types=["correlation", "trend"])
    good = run_planted(loaded.suite, settings, engine=FakeEngine(tables, perfect))
    assert good.passed, [t.why for t in good.targets]
    assert len(good.cases) == 5 and good.dataset_sha256 == tables_sha256(tables)
    assert good.params["engine_types"] == ""  # the fake has no finders registry
    bad = run_planted(loaded.suite, settings, engine=FakeEngine(tables, noise))
    failed = {t.target.metric for t in bad.targets if not t.passed}
    assert failed == {"recall.correlation", "precision.correlation", "null_rate"}


def test_the_suite_runs_end_to_end_through_the_evaluator(tmp_path: Path) -> None:
    loaded = small_suite(tmp_path, min_rows=200, max_rows=300)
    settings = eval_settings(tmp_path)
    evaluator = Evaluator(settings, PromptRegistry(settings.prompts_dir), cache=OutputCache(None))
    seen: list[tuple[int, int]] = []

    async def go() -> Any:
        return await evaluator.run(loaded, progress=lambda done, total: seen.append((done, total)))

    (result,) = anyio.run(go)
    assert result.suite == "insights-ci" and result.kind == "insights" and result.prompt is None
    assert seen[-1] == (5, 5)
    assert "correlation" in result.params["engine_types"].split(",")
    assert set(result.metrics) == set(loaded.suite.metrics)
    assert result.metrics["null_rate"].measured == 3 and result.metrics["recall.trend"].measured == 1
    assert {r.case_id for r in result.cases} == {"correlation-000", "trend-000", "null-000", "null-001", "null-002"}
    assert result.params["dataset_sha256"] == result.dataset_sha256
    planted = next(r for r in result.cases if r.case_id == "correlation-000")
    assert planted.detail["truth"]["type"] == "correlation" and "found" in planted.scores


def test_a_suite_without_planted_tables_is_refused(tmp_path: Path) -> None:
    loaded = load_suite_file(
        write_suite(
            tmp_path / "s",
            name="p",
            kind="predictor",
            metrics=["accuracy"],
            targets=[{"metric": "accuracy", "value": 0.5}],
        )
    )
    with pytest.raises(SuiteInvalid):
        run_planted(loaded.suite, eval_settings(tmp_path))
