"""Shared fixtures: settings rooted in a temp dir, a real (small) trained artifact."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sklearn

from insight.config import (
    AnalysisSettings,
    AuthSettings,
    EvaluationSettings,
    PredictorSettings,
    Settings,
    TrackingSettings,
    VectorStoreSettings,
)
from insight.predictor.artifact import ModelMetadata, save_artifact
from insight.predictor.config import load_model_config
from insight.predictor.data import load_dataset, split_dataset
from insight.predictor.pipeline import build_pipeline
from insight.predictor.training import evaluate_on_test

REPO_ROOT = Path(__file__).resolve().parents[1]
MODEL_CONFIG = REPO_ROOT / "configs" / "model_config.yaml"


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (``@pytest.mark.anyio``) run on asyncio, like the service."""
    return "asyncio"


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No INSIGHT_* variable of the developer's shell leaks into a test."""
    import os

    for name in list(os.environ):
        if name.startswith("INSIGHT_"):
            monkeypatch.delenv(name)


def make_settings(root: Path, model_dir: Path | None = None, **overrides: object) -> Settings:
    """Settings under ``root``. Auth is off unless ``auth=auth_settings(root)`` is passed: the API tests
    about auth (tests/auth, tests/api/test_tenants.py) and the ``client`` fixture turn it on."""
    overrides.setdefault("vectorstore", VectorStoreSettings(path=root / "vectorstore"))
    overrides.setdefault("auth", auth_settings(root, enabled=False))
    overrides.setdefault("prompts_dir", REPO_ROOT / "prompts")
    overrides.setdefault("evaluation", EvaluationSettings(cache_dir=root / "eval-cache"))
    # The insight engine's subspace search stops at a time budget; on a loaded CI machine that would make a
    # result depend on the machine's speed, so tests give it room (the budget itself: tests/analysis/insights).
    overrides.setdefault("analysis", AnalysisSettings(insight_budget_s=120.0))
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        predictor=PredictorSettings(config_path=MODEL_CONFIG, model_dir=model_dir or root / "models" / "predictor"),
        tracking=TrackingSettings(
            uri=f"sqlite:///{root}/mlflow/mlflow.db", artifact_location=str(root / "mlflow" / "artifacts")
        ),
        **overrides,  # type: ignore[arg-type]
    )


def auth_settings(root: Path, enabled: bool = True, **overrides: object) -> AuthSettings:
    """Auth with its key store under ``root`` and no verification cache (a revoked key is refused at once)."""
    overrides.setdefault("cache_ttl_s", 0.0)
    return AuthSettings(
        enabled=enabled,
        keys_path=root / "auth" / "keys.db",
        dev_key_path=root / "auth" / "dev-key",
        **overrides,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real pipeline fitted on the real split, saved as the service would load it (no MLflow)."""
    config = load_model_config(MODEL_CONFIG)
    data = load_dataset()
    split = split_dataset(data, config.test_size, config.random_state)
    pipeline = build_pipeline(config).fit(split.train_x, split.train_y)
    metadata = ModelMetadata(
        name="insight-predictor",
        version="7",
        created_at=datetime.now(UTC),
        estimator=config.model.estimator,
        params=config.model.params,
        feature_names=data.feature_names,
        class_labels=data.class_labels,
        metrics=evaluate_on_test(pipeline, split.test_x, split.test_y),
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
    model_dir = tmp_path_factory.mktemp("artifact") / "predictor"
    save_artifact(pipeline, metadata, model_dir)
    return model_dir
