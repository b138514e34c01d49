"""Data versioning enforced at evaluation: a suite's run on data whose hash differs from its last tracked run
is neither recorded nor promoted unless allowed (and then the run says so); and the regression predictor
suite: R², RMSE, MAE, MAPE with intervals over test rows, directional accuracy per row, the task checked."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import sklearn
from sklearn import metrics as skm

from insight.config import Settings
from insight.errors import DataChanged, SuiteInvalid
from insight.evaluation import load_suite_file
from insight.evaluation.cache import OutputCache
from insight.evaluation.runner import Evaluator, _regression_summaries
from insight.evaluation.tracking import log_results, recorded_dataset
from insight.predictor.artifact import ModelMetadata, save_artifact
from insight.predictor.config import load_model_config
from insight.predictor.data import load_dataset, split_dataset
from insight.predictor.pipeline import build_pipeline
from insight.predictor.training import evaluate_on_test
from insight.prompts import PromptRegistry
from insight.tracking import configure_tracking
from tests.conftest import REPO_ROOT
from tests.evaluation.conftest import MakeEvaluator, write_suite
from tests.evaluation.fakes import citing_answerer
from tests.evaluation.test_runner import run

REGRESSION_CONFIG = REPO_ROOT / "configs" / "diabetes_regression.yaml"


def test_a_run_on_changed_data_is_refused_unless_allowed(
    make_evaluator: MakeEvaluator,
    settings: Settings,
    prompts: PromptRegistry,
    tmp_path: Path,
    corpus: Path,
    qa_dataset: Path,
) -> None:
    import mlflow

    loaded = load_suite_file(
        write_suite(
            tmp_path / "suites",
            name="retrieval-versioned",
            kind="retrieval",
            dataset={"path": qa_dataset},
            collection="versioned-docs",
            corpus=corpus,
            metrics=["map@3"],
            targets=[{"metric": "map@3", "op": ">=", "value": 0.5}],
            max_unmeasured=0.3,
        )
    )
    evaluator, _ = make_evaluator(citing_answerer)
    first = run(evaluator, loaded)
    log_results(first, settings, prompts)
    experiment = configure_tracking(settings.tracking, settings.evaluation.experiment)
    assert recorded_dataset(experiment, "retrieval-versioned") == (first[0].dataset_sha256, first[0].mlflow_run_id)
    log_results(run(evaluator, loaded), settings, prompts)  # the same data again: recorded as usual

    changed = tmp_path / "changed.jsonl"
    changed.write_bytes(qa_dataset.read_bytes().replace(b"minimum password length", b"shortest password"))
    moved = run(evaluator, loaded, data=changed)
    with pytest.raises(DataChanged, match=r"refusing to record or promote retrieval-versioned: its dataset"):
        log_results(moved, settings, prompts)
    assert moved[0].mlflow_run_id is None
    assert len(mlflow.search_runs([experiment], "tags.suite = 'retrieval-versioned'", output_format="list")) == 2

    log_results(moved, settings, prompts, allow_data_change=True)
    tracked = mlflow.get_run(str(moved[0].mlflow_run_id))
    assert tracked.data.tags["insight.data_change_allowed"] == "true"
    assert tracked.data.params["previous_dataset_sha256"] == first[0].dataset_sha256
    assert tracked.data.params["dataset_sha256"] == moved[0].dataset_sha256 != first[0].dataset_sha256


@pytest.fixture(scope="module")
def diabetes_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The diabetes regressor fitted on its split and saved as the service loads it (no MLflow)."""
    config = load_model_config(REGRESSION_CONFIG)
    data = load_dataset(config.dataset)
    split = split_dataset(data, config.test_size, config.random_state)
    pipeline = build_pipeline(config).fit(split.train_x, split.train_y)
    metadata = ModelMetadata(
        name="insight-predictor-diabetes",
        version="3",
        task="regression",
        created_at=datetime.now(UTC),
        estimator=config.model.estimator,
        params=config.model.params,
        feature_names=data.feature_names,
        class_labels=[],
        metrics=evaluate_on_test(pipeline, split.test_x, split.test_y, "regression"),
        cv_metrics={},
        targets={str(k): v for k, v in config.targets.items()},
        mlflow_run_id=None,
        data_digest=data.digest,
        dataset=data.name,
        n_train=len(split.train_y),
        n_test=len(split.test_y),
        config_sha256=config.sha256,
        sklearn_version=sklearn.__version__,
    )
    model_dir = tmp_path_factory.mktemp("diabetes") / "model"
    save_artifact(pipeline, metadata, model_dir)
    return model_dir


def test_the_regression_suite_scores_the_regressor_on_its_split(
    settings: Settings, prompts: PromptRegistry, diabetes_model_dir: Path, tmp_path: Path
) -> None:
    loaded = load_suite_file(
        write_suite(
            tmp_path,
            name="predictor-regression",
            kind="predictor",
            model_dir=diabetes_model_dir,
            model_config_path=REGRESSION_CONFIG,
            metrics=["r2", "rmse", "mae", "mape", "directional_accuracy"],
            targets=[
                {"metric": "rmse", "op": "<=", "value": 61.6},
                {"metric": "mape", "op": "<=", "value": 0.05},
                {"metric": "directional_accuracy", "op": ">=", "value": 0.6, "gate_on": "lower_bound"},
            ],
        )
    )
    evaluator = Evaluator(settings, prompts, cache=OutputCache(None))
    (result,) = run(evaluator, loaded)
    config = load_model_config(REGRESSION_CONFIG)
    split = split_dataset(load_dataset("diabetes"), config.test_size, config.random_state)
    predicted = np.array([c.detail["predicted"] for c in result.cases])
    truth = np.array([c.detail["actual"] for c in result.cases])
    np.testing.assert_array_equal(truth, split.test_y)
    assert result.metrics["r2"].value == pytest.approx(skm.r2_score(truth, predicted), abs=1e-6)
    assert result.metrics["rmse"].value == pytest.approx(skm.root_mean_squared_error(truth, predicted), abs=1e-4)
    assert result.metrics["mape"].value == pytest.approx(skm.mean_absolute_percentage_error(truth, predicted), abs=1e-6)
    naive = split.train_y.mean()
    hits = np.sign(truth - naive) == np.sign(predicted - naive)
    assert result.metrics["directional_accuracy"].value == pytest.approx(hits.mean())
    for name in ("r2", "rmse", "mae", "mape", "directional_accuracy"):
        summary = result.metrics[name]
        assert summary.low is not None and summary.high is not None and summary.value is not None
        assert summary.low <= summary.value <= summary.high and summary.measured == 89
    assert [(t.target.metric, t.passed) for t in result.targets] == [
        ("rmse", True),
        ("mape", False),
        ("directional_accuracy", True),
    ]
    assert result.params["task"] == "regression"


def test_a_suite_for_the_other_task_is_refused(
    settings: Settings, prompts: PromptRegistry, diabetes_model_dir: Path, tmp_path: Path
) -> None:
    loaded = load_suite_file(
        write_suite(
            tmp_path,
            name="wrong-task",
            kind="predictor",
            model_dir=diabetes_model_dir,
            model_config_path=REGRESSION_CONFIG,
            metrics=["accuracy"],
        )
    )
    with pytest.raises(SuiteInvalid, match="scores a classification model .* is a regression model"):
        run(Evaluator(settings, prompts, cache=OutputCache(None)), loaded)


def test_mape_on_a_zero_target_is_a_clear_error_and_flat_rows_are_unmeasured() -> None:
    truth, values = np.array([10.0, 0.0, 30.0]), np.array([12.0, 1.0, 29.0])
    with pytest.raises(SuiteInvalid, match="MAPE is undefined: 1 of 3 targets are 0"):
        _regression_summaries(["mape"], truth, values, naive=20.0, samples=50, seed=0)
    records, summaries = _regression_summaries(
        ["directional_accuracy", "mae"], np.array([10.0, 20.0, 30.0]), values, naive=20.0, samples=50, seed=0
    )
    assert records[1].unmeasured == {"directional_accuracy": "no_direction"}
    assert summaries["directional_accuracy"].unmeasured == 1 and summaries["directional_accuracy"].value == 1.0
    assert summaries["mae"].value == pytest.approx((2 + 19 + 1) / 3)


def test_the_commands_refuse_changed_data_and_take_allow_data_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trained_model_dir: Path
) -> None:
    """``insight train`` over a model of other data, and ``insight eval run`` on data other than the suite's last
    tracked run: exit non-zero with the reason; ``--allow-data-change`` goes ahead and says so."""
    import shutil

    import mlflow
    from typer.testing import CliRunner

    from insight.cli import app

    served = tmp_path / "served"
    shutil.copytree(trained_model_dir, served)  # the classifier, trained on breast_cancer
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INSIGHT_PREDICTOR__MODEL_DIR", str(served))
    monkeypatch.setenv("INSIGHT_TRACKING__URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("INSIGHT_TRACKING__ARTIFACT_LOCATION", str(tmp_path / "artifacts"))
    monkeypatch.setenv("INSIGHT_EVALUATION__SUITES_DIR", str(tmp_path / "suites"))
    monkeypatch.setenv("INSIGHT_EVALUATION__BOOTSTRAP_SAMPLES", "200")
    runner = CliRunner()

    refused = runner.invoke(app, ["train", "--config", str(REGRESSION_CONFIG)])
    assert refused.exit_code == 1 and "refusing to train" in refused.output
    assert "--allow-data-change" in refused.output
    allowed = runner.invoke(app, ["train", "--config", str(REGRESSION_CONFIG), "--allow-data-change"])
    assert allowed.exit_code == 0, allowed.output
    assert "data changed (allowed, recorded in the run)" in allowed.output and "≤ 61.60" in allowed.output

    write_suite(
        tmp_path / "suites",
        name="diabetes",
        kind="predictor",
        model_config_path=REGRESSION_CONFIG,
        metrics=["r2", "mape"],
        targets=[{"metric": "mape", "op": "<=", "value": 0.5}],
    )
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    mlflow.set_tracking_uri(settings.tracking.uri)
    experiment = configure_tracking(settings.tracking, settings.evaluation.experiment)
    with mlflow.start_run(experiment_id=experiment, tags={"suite": "diabetes"}):
        mlflow.log_param("dataset_sha256", "0" * 64)  # a run on other data, recorded before
    changed = runner.invoke(app, ["eval", "run", "diabetes"])
    assert changed.exit_code == 2 and "refusing to record or promote diabetes" in changed.output
    recorded = runner.invoke(app, ["eval", "run", "diabetes", "--allow-data-change"])
    assert recorded.exit_code == 0, recorded.output
    latest = recorded_dataset(experiment, "diabetes")
    assert latest is not None and latest[0] == load_dataset("diabetes").digest
