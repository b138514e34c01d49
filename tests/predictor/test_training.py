"""Training end to end on a real MLflow store (SQLite in a temp dir)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
import yaml
from mlflow.tracking import MlflowClient

from insight.config import Settings
from insight.errors import ConfigError
from insight.predictor.artifact import load_artifact
from insight.predictor.config import ModelConfig, load_model_config
from insight.predictor.training import TrainingReport, train
from tests.conftest import MODEL_CONFIG, make_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, TrainingReport]:
    settings = make_settings(tmp_path_factory.mktemp("train"))
    return settings, train(settings, load_model_config(MODEL_CONFIG))


def client_for(settings: Settings) -> MlflowClient:
    return MlflowClient(tracking_uri=settings.tracking.uri, registry_uri=settings.tracking.uri)


def test_served_model_meets_the_config_targets(tracked: tuple[Settings, TrainingReport]) -> None:
    settings, report = tracked
    config = load_model_config(MODEL_CONFIG)
    assert report.served and report.targets_met
    for metric, target in config.targets.items():
        assert report.metadata.metrics[metric] >= target
    _, metadata = load_artifact(settings.predictor.model_dir)
    assert metadata.version == "1"
    assert metadata.mlflow_run_id == report.metadata.mlflow_run_id
    assert metadata.cv_metrics["roc_auc"].std >= 0.0
    assert metadata.n_train + metadata.n_test == 569


def test_run_records_params_metrics_targets_and_plots(tracked: tuple[Settings, TrainingReport]) -> None:
    settings, report = tracked
    client = client_for(settings)
    run = client.get_run(str(report.metadata.mlflow_run_id))
    assert run.data.params["estimator"] == "logistic_regression"
    assert run.data.params["data_digest"] == report.metadata.data_digest
    assert run.data.params["model.C"] == "1.0"
    for name in ("accuracy", "f1", "roc_auc"):
        assert run.data.metrics[f"test_{name}"] == pytest.approx(report.metadata.metrics[name])
        assert f"cv_{name}_mean" in run.data.metrics and f"cv_{name}_std" in run.data.metrics
    assert run.data.tags["targets_met"] == "true"
    assert run.data.tags["target.accuracy"] == ">= 0.85"
    assert run.inputs.dataset_inputs[0].dataset.name == "breast_cancer"
    plots = {Path(f.path).name for f in client.list_artifacts(run.info.run_id, "plots")}
    assert plots == {"confusion_matrix.png", "roc_curve.png"}
    artifact_root = run.info.artifact_uri
    assert artifact_root.startswith(Path(settings.tracking.artifact_location).resolve().as_uri())


def test_model_is_registered_with_signature(tracked: tuple[Settings, TrainingReport]) -> None:
    settings, report = tracked
    client = client_for(settings)
    version = client.get_model_version(settings.predictor.registered_model_name, "1")
    assert version.run_id == report.metadata.mlflow_run_id
    mlflow.set_tracking_uri(settings.tracking.uri)
    info = mlflow.models.get_model_info(f"models:/{settings.predictor.registered_model_name}/1")
    assert info.signature is not None
    assert info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"] == (-1, 30)


def test_missed_target_is_logged_but_never_served(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    raw = yaml.safe_load(MODEL_CONFIG.read_text())
    raw["targets"]["accuracy"] = 0.9999
    report = train(settings, ModelConfig.model_validate(raw))
    assert not report.served
    assert [c.metric for c in report.checks if not c.passed] == ["accuracy"]
    assert not settings.predictor.model_dir.exists()
    run = client_for(settings).get_run(str(report.metadata.mlflow_run_id))
    assert run.data.tags["targets_met"] == "false"
    assert run.data.tags["target.accuracy.passed"] == "false"
    assert client_for(settings).search_registered_models() == []


def test_search_logs_each_trial_as_a_nested_run(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    raw = yaml.safe_load(MODEL_CONFIG.read_text())
    raw["search"]["n_iter"] = 3
    raw["cv_folds"] = 3
    report = train(settings, ModelConfig.model_validate(raw), search=True)
    assert report.search_trials == 3
    client = client_for(settings)
    parent = client.get_run(str(report.metadata.mlflow_run_id))
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert len(children) == 3
    assert all("cv_roc_auc_mean" in child.data.metrics for child in children)
    best_c = float(report.best_search_params["model__C"])
    assert float(report.metadata.params["C"]) == pytest.approx(best_c)
    assert report.served


def test_grid_search_refuses_distributions(tmp_path: Path) -> None:
    raw = yaml.safe_load(MODEL_CONFIG.read_text())
    raw["search"]["method"] = "grid"
    with pytest.raises(ConfigError, match="grid search takes lists"):
        train(make_settings(tmp_path), ModelConfig.model_validate(raw), search=True)
