"""MLflow unreachable (the tracking URI points at a closed port): serving carries on; training and
evaluation runs stop with a message naming the tracking server."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from insight.api.app import create_app
from insight.cli import app as cli_app
from insight.config import TrackingSettings
from insight.evaluation.cli import EXIT_ERROR
from tests.api.conftest import build_with_fakes
from tests.conftest import MODEL_CONFIG, REPO_ROOT, make_settings
from tests.faults.chroma import free_port

runner = CliRunner()


@pytest.fixture
def closed_uri() -> str:
    return f"http://127.0.0.1:{free_port()}"


def test_serving_is_unaffected_by_an_unreachable_mlflow(
    tmp_path: Path, trained_model_dir: Path, closed_uri: str
) -> None:
    settings = make_settings(tmp_path, model_dir=trained_model_dir)
    settings.tracking = TrackingSettings(uri=closed_uri)
    with TestClient(create_app(settings, build=build_with_fakes)) as client:
        features = client.get("/api/v1/model").json()["feature_names"]
        predicted = client.post("/api/v1/predict", json={"features": dict.fromkeys(features, 1.0)})
        assert predicted.status_code == 200, predicted.text
        docs = {"documents": [{"id": "a", "text": "Refunds are paid within 30 days."}]}
        assert client.post("/api/v1/collections/notes/documents", json=docs).status_code == 200
        assert client.post("/api/v1/search", json={"collection": "notes", "query": "refunds"}).json()["hits"]
        ready = client.get("/ready")
        assert ready.status_code == 200 and ready.json()["ready"] is True
        tracking = ready.json()["parts"]["tracking"]
        assert tracking["status"] == "error" and "unreachable" in tracking["detail"]


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trained_model_dir: Path, closed_uri: str) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INSIGHT_TRACKING__URI", closed_uri)
    monkeypatch.setenv("INSIGHT_TRACKING__ARTIFACT_LOCATION", str(tmp_path / "artifacts"))
    monkeypatch.setenv("INSIGHT_PREDICTOR__CONFIG_PATH", str(MODEL_CONFIG))
    monkeypatch.setenv("INSIGHT_PREDICTOR__MODEL_DIR", str(trained_model_dir))
    monkeypatch.setenv("INSIGHT_EVALUATION__SUITES_DIR", str(REPO_ROOT / "eval" / "suites"))
    monkeypatch.setenv("INSIGHT_EVALUATION__CACHE_DIR", str(tmp_path / "eval-cache"))
    # MLflow's client retries a refused connection; one retry keeps the test short and still real.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    return closed_uri


def test_an_evaluation_run_fails_naming_the_tracking_server(cli_env: str) -> None:
    result = runner.invoke(cli_app, ["eval", "run", "predictor"])
    assert result.exit_code == EXIT_ERROR, result.output  # an error, not "targets missed"
    assert f"MLflow tracking at {cli_env}" in result.output
    assert "Traceback" not in result.output


def test_training_fails_naming_the_tracking_server(cli_env: str, tmp_path: Path) -> None:
    model_dir = tmp_path / "new-model"
    result = runner.invoke(cli_app, ["train"], env={"INSIGHT_PREDICTOR__MODEL_DIR": str(model_dir)})
    assert result.exit_code == 1, result.output
    assert f"MLflow tracking at {cli_env}" in result.output
    assert not model_dir.exists()  # nothing half-trained is served
