"""The regression path: the diabetes config trained with CV, tracked, registered, served through the same
routes (the response names the task), its NumPy fast path checked at load, its model card, and the refusal
to train over a model whose data differs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from mlflow.tracking import MlflowClient

from insight.api.app import create_app
from insight.config import Settings
from insight.errors import ConfigError, DataChanged
from insight.predictor.artifact import load_artifact
from insight.predictor.config import ModelConfig, load_model_config
from insight.predictor.data import load_dataset, split_dataset
from insight.predictor.model_card import render_model_card
from insight.predictor.service import Predictor
from insight.predictor.training import TrainingReport, data_changes, train
from tests.api.conftest import build_with_fakes
from tests.conftest import MODEL_CONFIG, REPO_ROOT, make_settings

pytestmark = pytest.mark.integration

REGRESSION_CONFIG = REPO_ROOT / "configs" / "diabetes_regression.yaml"


@pytest.fixture(scope="module")
def regression(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, TrainingReport]:
    root = tmp_path_factory.mktemp("regression")
    settings = make_settings(root, model_dir=root / "models" / "diabetes")
    return settings, train(settings, load_model_config(REGRESSION_CONFIG))


def test_the_regression_config_fixes_its_targets_and_errors_are_lower_is_better() -> None:
    config = load_model_config(REGRESSION_CONFIG)
    assert config.task == "regression" and config.dataset == "diabetes"
    assert config.targets == {"r2": 0.40, "rmse": 61.6, "mape": 0.50}
    assert config.search.scoring == "r2"
    with pytest.raises(ValueError, match="not a regression metric"):
        ModelConfig.model_validate(
            {"task": "regression", "dataset": "diabetes", "targets": {"accuracy": 0.9}, "model": {"estimator": "ridge"}}
        )
    with pytest.raises(ValueError, match="is a regression set"):
        ModelConfig.model_validate({"dataset": "diabetes", "targets": {"accuracy": 0.9}})
    with pytest.raises(ValueError, match="does not do regression"):
        ModelConfig.model_validate({"task": "regression", "dataset": "diabetes", "targets": {"r2": 0.4}})


def test_trained_registered_and_served_with_its_targets(regression: tuple[Settings, TrainingReport]) -> None:
    settings, report = regression
    assert report.served and report.targets_met
    checks = {c.metric: c for c in report.checks}
    assert checks["rmse"].op == "≤" and checks["rmse"].value <= 61.6
    assert checks["r2"].op == "≥" and checks["r2"].value >= 0.40
    pipeline, metadata = load_artifact(settings.predictor.model_dir)
    assert metadata.task == "regression" and metadata.class_labels == []
    assert metadata.name == "insight-predictor-diabetes" and metadata.version == "1"
    assert metadata.n_train + metadata.n_test == 442
    assert set(metadata.cv_metrics) == {"r2", "rmse", "mae", "mape"}
    assert metadata.cv_metrics["rmse"].mean > 0  # errors are stored as errors, not scikit-learn's negated scores
    client = MlflowClient(tracking_uri=settings.tracking.uri, registry_uri=settings.tracking.uri)
    run = client.get_run(str(metadata.mlflow_run_id))
    assert run.data.tags["insight.task"] == "regression"
    assert run.data.tags["target.rmse"] == "<= 61.6" and run.data.tags["target.rmse.passed"] == "true"
    assert run.data.params["task"] == "regression" and run.data.params["data_digest"] == metadata.data_digest
    assert run.inputs.dataset_inputs[0].dataset.name == "diabetes"
    plots = {Path(f.path).name for f in client.list_artifacts(run.info.run_id, "plots")}
    assert plots == {"predicted_vs_actual.png", "residuals.png"}
    [version] = client.search_model_versions("name = 'insight-predictor-diabetes'")
    assert version.run_id == run.info.run_id


def test_the_fast_path_is_checked_against_scikit_learn(regression: tuple[Settings, TrainingReport]) -> None:
    settings, _ = regression
    pipeline, _ = load_artifact(settings.predictor.model_dir)
    predictor = Predictor.load(settings.predictor.model_dir)
    assert predictor.task == "regression" and predictor.is_fast(1)
    data = load_dataset("diabetes")
    got = predictor.predict(data.features)
    assert got.task == "regression" and got.classes.size == 0
    np.testing.assert_allclose(got.values, pipeline.predict(data.features), rtol=0, atol=1e-9)
    with_gap = data.features[:3].copy()
    with_gap[0, 2] = np.nan  # NaN goes through scikit-learn's imputer
    np.testing.assert_allclose(predictor.predict(with_gap).values, pipeline.predict(with_gap))


def test_a_regressor_without_a_numpy_path_is_served_by_scikit_learn(tmp_path: Path) -> None:
    raw = load_model_config(REGRESSION_CONFIG).model_dump()
    raw["model"] = {"estimator": "random_forest", "params": {"n_estimators": 5}}
    raw["targets"] = {"r2": 0.0}
    config = ModelConfig.model_validate(raw)
    from insight.predictor.artifact import ModelMetadata
    from insight.predictor.pipeline import build_pipeline

    data = load_dataset("diabetes")
    split = split_dataset(data, config.test_size, config.random_state)
    pipeline = build_pipeline(config).fit(split.train_x, split.train_y)
    metadata = ModelMetadata.model_validate(
        {
            "name": "rf",
            "version": "1",
            "task": "regression",
            "created_at": "2026-12-03T00:00:00Z",
            "estimator": "random_forest",
            "params": {},
            "feature_names": data.feature_names,
            "class_labels": [],
            "metrics": {},
            "cv_metrics": {},
            "targets": {},
            "mlflow_run_id": None,
            "data_digest": data.digest,
            "dataset": "diabetes",
            "n_train": 1,
            "n_test": 1,
            "config_sha256": "",
            "sklearn_version": "",
        }
    )
    predictor = Predictor(pipeline, metadata)
    assert not predictor.is_fast(1)
    np.testing.assert_array_equal(predictor.predict(split.test_x).values, pipeline.predict(split.test_x))


@pytest.fixture
def regression_client(regression: tuple[Settings, TrainingReport], tmp_path: Path) -> Iterator[TestClient]:
    served, _ = regression
    settings = make_settings(tmp_path, model_dir=served.predictor.model_dir)
    with TestClient(create_app(settings, build=build_with_fakes)) as client:
        yield client


def test_the_same_routes_serve_the_regressor_and_say_so(
    regression: tuple[Settings, TrainingReport], regression_client: TestClient
) -> None:
    settings, _ = regression
    data = load_dataset("diabetes")
    expected = Predictor.load(settings.predictor.model_dir).predict(data.features[:20]).values
    one = regression_client.post("/api/v1/predict", json={"features": data.features[0].tolist()})
    assert one.status_code == 200
    body = one.json()
    assert body["model"] == {"name": "insight-predictor-diabetes", "version": "1", "task": "regression"}
    assert body["prediction"] == pytest.approx(expected[0]) and "label" not in body
    mapping = dict(zip(data.feature_names, data.features[1].tolist(), strict=True))
    assert regression_client.post("/api/v1/predict", json={"features": mapping}).json()["prediction"] == (
        pytest.approx(expected[1])
    )
    batch = regression_client.post("/api/v1/predict/batch", json={"instances": data.features[:20].tolist()})
    assert batch.status_code == 200
    assert [p["prediction"] for p in batch.json()["predictions"]] == pytest.approx(expected.tolist())
    assert batch.json()["model"]["task"] == "regression"
    info = regression_client.get("/api/v1/model").json()
    assert info["task"] == "regression" and info["class_labels"] == [] and info["targets"]["rmse"] == 61.6
    bad = regression_client.post("/api/v1/predict", json={"features": [1.0, 2.0]})
    assert bad.status_code == 422


def test_the_model_card_has_the_regression_targets_table(regression: tuple[Settings, TrainingReport]) -> None:
    settings, report = regression
    card = render_model_card(report.metadata, settings)
    m = report.metadata.metrics
    assert "regression of diabetes disease progression" in card
    assert f"| rmse | {m['rmse']:.4f} |" in card and "| ≤ 61.60 | pass |" in card
    assert f"| r2 | {m['r2']:.4f} |" in card and "| ≥ 0.40 | pass |" in card
    assert "| mape |" in card and "| ≤ 0.50 | pass |" in card
    assert "| mae |" in card and f"`{report.metadata.sha256}`" in card


def test_training_over_a_model_of_other_data_is_refused_unless_allowed(
    regression: tuple[Settings, TrainingReport],
) -> None:
    settings, report = regression
    classifier = load_model_config(MODEL_CONFIG)
    assert classifier.registered_model_name is None
    # the classifier's data trained into the regressor's folder: the served model records other data
    with pytest.raises(
        DataChanged,
        match=r"refusing to train: the breast_cancer data's digest is .* but the model "
        r"served from .* \(insight-predictor-diabetes v1\) was trained on diabetes data",
    ):
        train(settings, classifier)
    changes = data_changes(settings.predictor.model_dir, "insight-predictor-diabetes", load_dataset().digest)
    assert len(changes) == 2 and "registered model insight-predictor-diabetes v1" in changes[1]
    assert data_changes(settings.predictor.model_dir, "insight-predictor-diabetes", report.metadata.data_digest) == []
    # the same data again: no change, no refusal
    assert data_changes(settings.predictor.model_dir, "nobody", load_dataset("diabetes").digest) == []


def test_an_allowed_data_change_is_recorded_in_the_run(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    first = train(settings, load_model_config(REGRESSION_CONFIG))
    assert first.served and first.data_changes == []
    report = train(settings, load_model_config(MODEL_CONFIG), allow_data_change=True)
    assert report.served and report.metadata.task == "classification" and len(report.data_changes) == 1
    run = MlflowClient(tracking_uri=settings.tracking.uri).get_run(str(report.metadata.mlflow_run_id))
    assert run.data.tags["insight.data_change_allowed"] == "true"
    assert first.metadata.data_digest[:12] in run.data.tags["insight.data_change"]


def test_search_on_a_regressor_logs_errors_with_their_sign(tmp_path: Path) -> None:
    raw = load_model_config(REGRESSION_CONFIG).model_dump()
    raw["search"] = {"method": "grid", "scoring": "rmse", "space": {"model__alpha": [0.1, 10.0]}}
    config = ModelConfig.model_validate(raw)
    settings = make_settings(tmp_path)
    report = train(settings, config, search=True)
    assert report.search_trials == 2
    client = MlflowClient(tracking_uri=settings.tracking.uri)
    run = client.get_run(str(report.metadata.mlflow_run_id))
    assert 40.0 < run.data.metrics["search_best_cv_rmse"] < 80.0
    with pytest.raises(ConfigError):
        train(
            settings, config.model_copy(update={"search": config.search.model_copy(update={"space": {}})}), search=True
        )
