"""The served model artifact: ``model.joblib`` plus ``metadata.json`` carrying its sha256.

The hash is checked before a single byte is unpickled, so a corrupted or swapped
file is refused instead of executed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import joblib
from pydantic import BaseModel, Field, ValidationError
from sklearn.pipeline import Pipeline

from insight.errors import ModelIntegrityError, ModelNotLoaded
from insight.hashing import sha256_file

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"


class CrossValidation(BaseModel):
    mean: float
    std: float


class ModelMetadata(BaseModel):
    """Everything a caller or an auditor needs to know about the served model."""

    name: str
    version: str = Field(description="registered model version in MLflow, or a local stamp")
    task: Literal["classification", "regression"] = "classification"
    created_at: datetime
    estimator: str
    params: dict[str, Any]
    feature_names: list[str]
    class_labels: list[str] = Field(description="class names by index; empty for a regression model")
    metrics: dict[str, float] = Field(description="test-split metrics")
    cv_metrics: dict[str, CrossValidation]
    targets: dict[str, float]
    mlflow_run_id: str | None
    mlflow_experiment_id: str | None = None
    data_digest: str
    dataset: str
    n_train: int
    n_test: int
    config_sha256: str
    sklearn_version: str
    sha256: str = ""


def save_artifact(pipeline: Pipeline, metadata: ModelMetadata, model_dir: Path) -> ModelMetadata:
    """Write model and metadata into a fresh directory, then swap it in whole."""
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=model_dir.parent))
    try:
        joblib.dump(pipeline, staging / MODEL_FILE)
        stamped = metadata.model_copy(update={"sha256": sha256_file(staging / MODEL_FILE)})
        (staging / METADATA_FILE).write_text(stamped.model_dump_json(indent=2) + "\n")
        if model_dir.exists():
            retired = model_dir.with_name(f".retired-{model_dir.name}-{os.getpid()}")
            model_dir.rename(retired)
            staging.rename(model_dir)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            staging.rename(model_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return stamped


def read_metadata(model_dir: Path) -> ModelMetadata:
    path = model_dir / METADATA_FILE
    if not path.is_file():
        raise ModelNotLoaded(f"no trained model in {model_dir}: run `insight train` first")
    try:
        return ModelMetadata.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise ModelIntegrityError(f"{path} is not valid model metadata: {exc.error_count()} errors") from exc


def load_artifact(model_dir: Path) -> tuple[Pipeline, ModelMetadata]:
    """Verify the sha256 recorded in metadata.json, then (and only then) unpickle."""
    metadata = read_metadata(model_dir)
    model_path = model_dir / MODEL_FILE
    if not model_path.is_file():
        raise ModelNotLoaded(f"{model_path} is missing: run `insight train` to rebuild it")
    actual = sha256_file(model_path)
    if actual != metadata.sha256:
        raise ModelIntegrityError(
            f"refusing to load {model_path}: its sha256 is {actual[:12]}…, but {METADATA_FILE} "
            f"records {metadata.sha256[:12] or '(none)'}…. The file was changed or corrupted; "
            "run `insight train` to rebuild it."
        )
    pipeline = joblib.load(model_path)
    if not isinstance(pipeline, Pipeline):
        raise ModelIntegrityError(f"{model_path} does not hold a scikit-learn Pipeline")
    return pipeline, metadata
