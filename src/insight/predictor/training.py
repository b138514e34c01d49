"""``insight train``: cross-validate, test, compare with targets, track in MLflow, serve.

A model that misses any target is logged (so the miss is on record) but never
registered nor written where the service loads from.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    mean_absolute_percentage_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    RandomizedSearchCV,
    StratifiedKFold,
    cross_validate,
)
from sklearn.pipeline import Pipeline

from insight.config import Settings
from insight.errors import ConfigError, DataChanged, InsightError
from insight.predictor.artifact import CrossValidation, ModelMetadata, read_metadata, save_artifact
from insight.predictor.config import LOWER_IS_BETTER, TASK_METRICS, ModelConfig
from insight.predictor.data import (
    Dataset,
    FloatMatrix,
    IntVector,
    Split,
    load_dataset,
    split_dataset,
)
from insight.predictor.pipeline import build_pipeline, search_distributions
from insight.predictor.plots import (
    save_confusion_matrix,
    save_predicted_vs_actual,
    save_residuals,
    save_roc_curve,
)
from insight.tracking import configure_tracking

CV_SCORING = TASK_METRICS["classification"]
# scikit-learn's scorers for the regression metrics: errors are negated (greater is better) there.
SCORERS = {
    "r2": "r2",
    "rmse": "neg_root_mean_squared_error",
    "mae": "neg_mean_absolute_error",
    "mape": "neg_mean_absolute_percentage_error",
}
Progress = Callable[[str], None]


@dataclass(frozen=True)
class TargetCheck:
    metric: str
    value: float
    target: float

    @property
    def lower_is_better(self) -> bool:
        return self.metric in LOWER_IS_BETTER

    @property
    def op(self) -> str:
        return "≤" if self.lower_is_better else "≥"

    @property
    def passed(self) -> bool:
        return self.value <= self.target if self.lower_is_better else self.value >= self.target


@dataclass
class TrainingReport:
    metadata: ModelMetadata
    checks: list[TargetCheck]
    served: bool
    model_dir: Path
    search_trials: int = 0
    best_search_params: dict[str, Any] = field(default_factory=dict)
    data_changes: list[str] = field(default_factory=list)

    @property
    def targets_met(self) -> bool:
        return all(check.passed for check in self.checks)


def evaluate_on_test(
    pipeline: Pipeline, x: FloatMatrix, y: IntVector, task: str = "classification"
) -> dict[str, float]:
    if task == "regression":
        predicted_values = pipeline.predict(x)
        return {
            "r2": float(r2_score(y, predicted_values)),
            "rmse": float(root_mean_squared_error(y, predicted_values)),
            "mae": float(mean_absolute_error(y, predicted_values)),
            "mape": float(mean_absolute_percentage_error(y, predicted_values)),
        }
    proba = pipeline.predict_proba(x)[:, 1]
    predicted = (proba >= 0.5).astype(np.int64)
    return {
        "accuracy": float(accuracy_score(y, predicted)),
        "f1": float(f1_score(y, predicted)),
        "roc_auc": float(roc_auc_score(y, proba)),
        "precision": float(precision_score(y, predicted)),
        "recall": float(recall_score(y, predicted)),
    }


def check_targets(metrics: Mapping[str, float], targets: Mapping[str, float]) -> list[TargetCheck]:
    return [TargetCheck(name, metrics[name], target) for name, target in targets.items()]


def cv_folds(config: ModelConfig) -> KFold | StratifiedKFold:
    """Stratified folds for a classifier, plain shuffled folds for a regressor."""
    folds = StratifiedKFold if config.task == "classification" else KFold
    return folds(n_splits=config.cv_folds, shuffle=True, random_state=config.random_state)


def scorer(metric: str) -> str:
    """The scikit-learn scoring name of a metric (``rmse`` → ``neg_root_mean_squared_error``)."""
    return SCORERS.get(metric, metric)


def sign(metric: str) -> float:
    """-1 for the errors scikit-learn negates, so ``sign * score`` is the metric itself."""
    return -1.0 if scorer(metric).startswith("neg_") else 1.0


def cross_validation(pipeline: Pipeline, split: Split, config: ModelConfig) -> dict[str, CrossValidation]:
    names = TASK_METRICS[config.task]
    scoring = {name: scorer(name) for name in names}
    scores = cross_validate(pipeline, split.train_x, split.train_y, cv=cv_folds(config), scoring=scoring)
    out = {}
    for name in names:
        values = sign(name) * np.asarray(scores[f"test_{name}"], dtype=np.float64)
        out[name] = CrossValidation(mean=float(np.mean(values)), std=float(np.std(values)))
    return out


def train(
    settings: Settings,
    config: ModelConfig,
    *,
    search: bool = False,
    allow_data_change: bool = False,
    progress: Progress = lambda _message: None,
) -> TrainingReport:
    """``allow_data_change``: train (and serve, and register) even when the data's digest differs from the one
    the served model or the registered model's latest version records; the run records that it did."""
    import mlflow
    from mlflow.models import infer_signature

    dataset = load_dataset(config.dataset)
    split = split_dataset(dataset, config.test_size, config.random_state)
    pipeline = build_pipeline(config)
    experiment_id = configure_tracking(settings.tracking)
    model_name = config.registered_model_name or settings.predictor.registered_model_name
    changes = data_changes(settings.predictor.model_dir, model_name, dataset.digest)
    if changes and not allow_data_change:
        raise DataChanged(
            f"refusing to train: the {dataset.name} data's digest is {dataset.digest[:12]}…, but "
            + "; ".join(changes)
            + ". A model trained now would replace one trained on other data. Train into another folder "
            "(INSIGHT_PREDICTOR__MODEL_DIR) under another registered name, or retrain on purpose with "
            "--allow-data-change (recorded in the MLflow run)."
        )

    with mlflow.start_run(run_name="train-search" if search else "train") as run:
        mlflow.set_tags(
            {"insight.job": "predictor", "insight.search": str(search).lower(), "insight.task": config.task}
        )
        if changes:
            mlflow.set_tags({"insight.data_change_allowed": "true", "insight.data_change": "; ".join(changes)[:4900]})
        search_trials = 0
        best_params: dict[str, Any] = {}
        if search:
            progress(f"searching {config.search.method} over {sorted(config.search.space)}")
            pipeline, best_params, search_trials = _search(pipeline, split, config)
        params = {
            key.removeprefix("model__"): value
            for key, value in pipeline.get_params().items()
            if key.startswith("model__")
        }
        progress(f"{config.cv_folds}-fold cross-validation on {len(split.train_y)} training rows")
        cv = cross_validation(pipeline, split, config)
        progress("fitting on the whole training split")
        pipeline.fit(split.train_x, split.train_y)
        metrics = evaluate_on_test(pipeline, split.test_x, split.test_y, config.task)
        checks = check_targets(metrics, {str(k): v for k, v in config.targets.items()})
        targets_met = all(c.passed for c in checks)

        _log_run(mlflow, dataset, split, config, params, cv, metrics, checks)
        _log_plots(mlflow, pipeline, split, dataset)
        progress("logging the model to MLflow")
        registered_name = model_name if targets_met else None
        served_output = (
            pipeline.predict(split.test_x[:5])
            if config.task == "regression"
            else pipeline.predict_proba(split.test_x[:5])
        )
        model_info = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            signature=infer_signature(split.test_x[:5], served_output),
            input_example=split.test_x[:3],
            registered_model_name=registered_name,
            pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
            skops_trusted_types=["numpy.dtype"],
        )
        version = (
            str(model_info.registered_model_version)
            if registered_name and model_info.registered_model_version is not None
            else f"unregistered-{run.info.run_id[:8]}"
        )
        mlflow.set_tag("insight.model_version", version)

    metadata = ModelMetadata(
        name=model_name,
        version=version,
        task=config.task,
        created_at=datetime.now(UTC),
        estimator=config.model.estimator,
        params=_jsonable(params),
        feature_names=dataset.feature_names,
        class_labels=dataset.class_labels,
        metrics=metrics,
        cv_metrics=cv,
        targets={str(k): v for k, v in config.targets.items()},
        mlflow_run_id=run.info.run_id,
        mlflow_experiment_id=experiment_id,
        data_digest=dataset.digest,
        dataset=dataset.name,
        n_train=len(split.train_y),
        n_test=len(split.test_y),
        config_sha256=config.sha256,
        sklearn_version=sklearn.__version__,
    )
    model_dir = settings.predictor.model_dir
    if targets_met:
        metadata = save_artifact(pipeline, metadata, model_dir)
        progress(f"served model written to {model_dir} (version {version})")
    return TrainingReport(
        metadata=metadata,
        checks=checks,
        served=targets_met,
        model_dir=model_dir,
        search_trials=search_trials,
        best_search_params=best_params,
        data_changes=changes,
    )


def data_changes(model_dir: Path, registered_name: str, digest: str) -> list[str]:
    """Where a data digest other than ``digest`` is recorded: the served model's ``metadata.json`` in
    ``model_dir``, and the MLflow run of the registered model's latest version (its ``data_digest`` param).
    Empty when neither exists yet or both record ``digest``."""
    found = []
    try:
        served = read_metadata(model_dir)
    except InsightError:  # no model there yet (or unreadable metadata: nothing to compare with)
        served = None
    if served is not None and served.data_digest != digest:
        found.append(
            f"the model served from {model_dir} ({served.name} v{served.version}) was trained on "
            f"{served.dataset} data of digest {served.data_digest[:12]}…"
        )
    recorded = _registered_digest(registered_name)
    if recorded is not None and recorded[1] != digest:
        found.append(f"the registered model {registered_name} v{recorded[0]} records data digest {recorded[1][:12]}…")
    return found


def _registered_digest(name: str) -> tuple[str, str] | None:
    """(version, data_digest) of the registered model's latest version, if it has one that records it."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    try:
        versions = client.search_model_versions(f"name = '{name}'")
        if not versions:
            return None
        latest = max(versions, key=lambda v: int(v.version))
        if not latest.run_id:
            return None
        digest = client.get_run(latest.run_id).data.params.get("data_digest")
    except MlflowException:
        return None
    return (str(latest.version), digest) if digest else None


def _search(pipeline: Pipeline, split: Split, config: ModelConfig) -> tuple[Pipeline, dict[str, Any], int]:
    """Bounded search on the training split; each trial is logged as a nested run."""
    import mlflow

    spec = config.search
    if not spec.space:
        raise ConfigError("search.space is empty: declare the parameters to search")
    folds = cv_folds(config)
    scoring, direction = scorer(spec.scoring), sign(spec.scoring)
    searcher: GridSearchCV | RandomizedSearchCV
    if spec.method == "grid":
        if not all(isinstance(v, list) for v in spec.space.values()):
            raise ConfigError("grid search takes lists of values only, not distributions")
        searcher = GridSearchCV(pipeline, spec.space, scoring=scoring, cv=folds)
    else:
        searcher = RandomizedSearchCV(
            pipeline,
            search_distributions(spec.space),
            n_iter=spec.n_iter,
            scoring=scoring,
            cv=folds,
            random_state=config.random_state,
        )
    searcher.fit(split.train_x, split.train_y)
    results = searcher.cv_results_
    for i, candidate in enumerate(results["params"]):
        with mlflow.start_run(run_name=f"trial-{i:03d}", nested=True):
            mlflow.log_params(_jsonable(candidate))
            mlflow.log_metrics(
                {
                    f"cv_{spec.scoring}_mean": direction * float(results["mean_test_score"][i]),
                    f"cv_{spec.scoring}_std": float(results["std_test_score"][i]),
                }
            )
            mlflow.set_tag("insight.rank", str(int(results["rank_test_score"][i])))
    best = _jsonable(searcher.best_params_)
    mlflow.log_params({f"search_best_{k}": v for k, v in best.items()})
    mlflow.log_metric(f"search_best_cv_{spec.scoring}", direction * float(searcher.best_score_))
    best_pipeline = build_pipeline(config).set_params(**searcher.best_params_)
    return best_pipeline, best, len(results["params"])


def _log_run(
    mlflow: Any,
    dataset: Dataset,
    split: Split,
    config: ModelConfig,
    params: dict[str, Any],
    cv: dict[str, CrossValidation],
    metrics: dict[str, float],
    checks: list[TargetCheck],
) -> None:
    import pandas as pd

    mlflow.log_params(
        {
            "task": config.task,
            "estimator": config.model.estimator,
            "impute": config.preprocessing.impute,
            "scale": config.preprocessing.scale,
            "cv_folds": config.cv_folds,
            "test_size": config.test_size,
            "random_state": config.random_state,
            "config_sha256": config.sha256,
            "data_digest": dataset.digest,
            "dataset": dataset.name,
            **{f"model.{k}": v for k, v in _jsonable(params).items()},
        }
    )
    frame = pd.DataFrame(dataset.features, columns=dataset.feature_names)
    frame["target"] = dataset.target
    mlflow.log_input(mlflow.data.from_pandas(frame, name=dataset.name, targets="target"), context="training")
    mlflow.log_metrics({f"cv_{name}_mean": value.mean for name, value in cv.items()})
    mlflow.log_metrics({f"cv_{name}_std": value.std for name, value in cv.items()})
    mlflow.log_metrics({f"test_{name}": value for name, value in metrics.items()})
    mlflow.log_metrics({"n_train": len(split.train_y), "n_test": len(split.test_y)})
    mlflow.set_tags({f"target.{c.metric}": f"{'<=' if c.lower_is_better else '>='} {c.target}" for c in checks})
    mlflow.set_tags({f"target.{c.metric}.passed": str(c.passed).lower() for c in checks})
    mlflow.set_tag("targets_met", str(all(c.passed for c in checks)).lower())


def _log_plots(mlflow: Any, pipeline: Pipeline, split: Split, dataset: Dataset) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if dataset.task == "regression":
            save_predicted_vs_actual(pipeline, split, folder / "predicted_vs_actual.png")
            save_residuals(pipeline, split, folder / "residuals.png")
        else:
            save_confusion_matrix(pipeline, split, dataset.class_labels, folder / "confusion_matrix.png")
            save_roc_curve(pipeline, split, folder / "roc_curve.png")
        mlflow.log_artifacts(str(folder), artifact_path="plots")


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as plain JSON values (numpy scalars and objects become str/float)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, np.generic):
            value = value.item()
        if value is None or isinstance(value, bool | int | float | str):
            out[key] = value
        else:
            out[key] = repr(value)
    return out
