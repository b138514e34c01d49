"""MLflow (a temp SQLite): one run per prompt version with params, metrics and bounds, targets and
pass/fail as tags, the per-case table; prompts in the registry; the alias moves only on a pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from insight.config import Settings, TrackingSettings
from insight.errors import TrackingUnavailable
from insight.evaluation import load_suite_file
from insight.evaluation.tracking import alias_version, compare, log_results
from insight.prompts import PromptRegistry
from tests.evaluation.conftest import MakeEvaluator, write_suite
from tests.evaluation.fakes import faithful_analyst
from tests.evaluation.test_runner import ANALYSIS_DATA, run


def _suite(folder: Path, reference_target: float) -> Any:
    return load_suite_file(
        write_suite(
            folder,
            name="analysis-tracked",
            kind="analysis",
            prompt={"name": "narration", "versions": [1, 2]},
            dataset={"path": ANALYSIS_DATA},
            limit=2,
            metrics=["schema_valid", "reference_recall"],
            targets=[
                {"metric": "schema_valid", "op": ">=", "value": 1.0},
                {"metric": "reference_recall", "op": ">=", "value": reference_target},
            ],
            alias="production",
        )
    )


def test_runs_are_logged_and_the_alias_moves_only_on_a_pass(
    make_evaluator: MakeEvaluator, settings: Settings, prompts: PromptRegistry, tmp_path: Path
) -> None:
    import mlflow

    failing = _suite(tmp_path / "fail", reference_target=1.01)
    evaluator, _ = make_evaluator(faithful_analyst)
    results = run(evaluator, failing)
    log_results(results, settings, prompts, alias="production")
    assert alias_version("narration", "production") is None  # nothing passed: no alias
    assert all(r.promoted is None for r in results)

    run_data = mlflow.get_run(results[1].mlflow_run_id).data
    assert run_data.params["prompt_name"] == "narration" and run_data.params["prompt_version"] == "2"
    assert run_data.params["prompt_sha256"] == prompts.get("narration", 2).sha256
    assert run_data.params["dataset_sha256"] == results[1].dataset_sha256
    assert run_data.params["suite_sha256"] == failing.sha256 and run_data.params["model"] == "local/fake-analyst"
    assert run_data.metrics["schema_valid"] == 1.0
    assert {"schema_valid.ci_low", "schema_valid.ci_high", "schema_valid.unmeasured"} <= set(run_data.metrics)
    assert run_data.tags["target.reference_recall"] == ">= 1.01"
    assert run_data.tags["pass.reference_recall"] == "false" and run_data.tags["pass.schema_valid"] == "true"
    assert run_data.tags["gate"] == "fail"
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(results[1].mlflow_run_id)}
    assert {"cases.jsonl", "summary.json"} <= artifacts
    cases = mlflow.artifacts.load_text(f"runs:/{results[1].mlflow_run_id}/cases.jsonl").splitlines()
    assert len(cases) == 2 and '"score.schema_valid": 1.0' in cases[0]

    passing = _suite(tmp_path / "pass", reference_target=0.5)
    evaluator, _ = make_evaluator(faithful_analyst)
    results = run(evaluator, passing)
    log_results(results, settings, prompts, alias="production")
    assert [r.passed for r in results] == [True, True]
    registered = alias_version("narration", "production")
    assert registered is not None  # the last passing version: v2, registered once per file
    from mlflow import genai

    assert genai.load_prompt("narration", version=registered, link_to_model=False).tags["insight_version"] == "2"
    assert results[1].promoted is not None and "v2" in results[1].promoted

    compared, plot_run = compare("analysis-tracked", ["schema_valid", "reference_recall"], settings)
    assert [c.label for c in compared] == ["analysis-tracked v1", "analysis-tracked v2"]
    assert all(c.gate == "pass" for c in compared)  # the latest run of each version
    assert plot_run is not None
    assert "comparison.png" in {a.path for a in mlflow.MlflowClient().list_artifacts(plot_run)}


def test_unreachable_tracking_is_a_typed_error(
    make_evaluator: MakeEvaluator, settings: Settings, prompts: PromptRegistry, tmp_path: Path
) -> None:
    offline = settings.model_copy(update={"tracking": TrackingSettings(uri="http://127.0.0.1:9")})
    with pytest.raises(TrackingUnavailable, match="127.0.0.1:9"):
        log_results([], offline, prompts)
