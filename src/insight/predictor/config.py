"""The predictor's training configuration: ``configs/model_config.yaml``."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from insight.errors import ConfigError
from insight.yamlfile import load_yaml_model

Task = Literal["classification", "regression"]
Estimator = Literal["logistic_regression", "ridge", "random_forest", "gradient_boosting"]
Metric = Literal["accuracy", "f1", "roc_auc", "precision", "recall", "r2", "rmse", "mae", "mape"]
DatasetName = Literal["breast_cancer", "diabetes"]

TASK_METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("accuracy", "f1", "roc_auc", "precision", "recall"),
    "regression": ("r2", "rmse", "mae", "mape"),
}
LOWER_IS_BETTER = frozenset({"rmse", "mae", "mape"})
DATASET_TASK: dict[str, str] = {"breast_cancer": "classification", "diabetes": "regression"}
TASK_ESTIMATORS: dict[str, frozenset[str]] = {
    "classification": frozenset({"logistic_regression", "random_forest", "gradient_boosting"}),
    "regression": frozenset({"ridge", "random_forest", "gradient_boosting"}),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PreprocessingConfig(_Strict):
    impute: Literal["mean", "median", "most_frequent"] = "median"
    scale: bool = True


class ModelSpec(_Strict):
    estimator: Estimator = "logistic_regression"
    params: dict[str, Any] = Field(default_factory=dict)


class SearchConfig(_Strict):
    method: Literal["random", "grid"] = "random"
    n_iter: int = Field(default=20, ge=1, le=500)
    scoring: Metric = "roc_auc"
    space: dict[str, Any] = Field(default_factory=dict)

    @field_validator("space")
    @classmethod
    def _valid_space(cls, space: dict[str, Any]) -> dict[str, Any]:
        for name, spec in space.items():
            if not name.startswith("model__"):
                raise ValueError(f"search space key {name!r} must address the model: model__<param>")
            if isinstance(spec, list):
                if not spec:
                    raise ValueError(f"search space {name!r} lists no values")
                continue
            if not (isinstance(spec, dict) and len(spec) == 1):
                raise ValueError(
                    f"search space {name!r} must be a list of values or one of "
                    "{loguniform|uniform|randint: [low, high]}"
                )
            ((kind, bounds),) = spec.items()
            if kind not in {"loguniform", "uniform", "randint"}:
                raise ValueError(f"search space {name!r}: unknown distribution {kind!r}")
            if not (isinstance(bounds, list) and len(bounds) == 2 and bounds[0] < bounds[1]):
                raise ValueError(f"search space {name!r}: bounds must be [low, high] with low < high")
        return space


class ModelConfig(_Strict):
    task: Task = "classification"
    dataset: DatasetName = "breast_cancer"
    registered_model_name: str | None = Field(
        default=None, description="MLflow registered model (default: settings.predictor.registered_model_name)"
    )
    test_size: float = Field(default=0.2, gt=0.0, lt=0.9)
    random_state: int = 42
    cv_folds: int = Field(default=5, ge=2, le=20)
    preprocessing: PreprocessingConfig = Field(default_factory=PreprocessingConfig)
    model: ModelSpec = Field(default_factory=ModelSpec)
    targets: dict[Metric, float] = Field(min_length=1)
    search: SearchConfig = Field(default_factory=SearchConfig)
    sha256: str = Field(default="", exclude=True, description="hash of the file it was read from")

    @field_validator("targets")
    @classmethod
    def _targets_in_range(cls, targets: dict[str, float]) -> dict[str, float]:
        for metric, value in targets.items():
            if metric in LOWER_IS_BETTER:
                if value < 0.0:
                    raise ValueError(f"target {metric}={value} must be >= 0")
            elif not 0.0 <= value <= 1.0:
                raise ValueError(f"target {metric}={value} must lie in [0, 1]")
        return targets

    @model_validator(mode="after")
    def _fits_the_task(self) -> ModelConfig:
        task, metrics = self.task, TASK_METRICS[self.task]
        if DATASET_TASK[self.dataset] != task:
            raise ValueError(f"dataset {self.dataset!r} is a {DATASET_TASK[self.dataset]} set, not {task}")
        if self.model.estimator not in TASK_ESTIMATORS[task]:
            raise ValueError(f"estimator {self.model.estimator!r} does not do {task}")
        for metric in self.targets:
            if metric not in metrics:
                raise ValueError(f"target {metric!r} is not a {task} metric ({', '.join(metrics)})")
        if task == "regression" and "scoring" not in self.search.model_fields_set:
            self.search.scoring = "r2"  # the default, roc_auc, is a classifier's
        if self.search.scoring not in metrics:
            raise ValueError(f"search.scoring {self.search.scoring!r} is not a {task} metric")
        return self


def load_model_config(path: Path) -> ModelConfig:
    """Read and validate the YAML config; errors name the file and the field."""
    config, raw = load_yaml_model(path, ModelConfig, what="model config", invalid=ConfigError)
    config.sha256 = hashlib.sha256(raw).hexdigest()
    return config
