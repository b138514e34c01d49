"""One sklearn Pipeline holds preprocessing and model, so training and serving cannot drift."""

from __future__ import annotations

from typing import Any

from scipy import stats
from sklearn.base import BaseEstimator
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from insight.errors import ConfigError
from insight.predictor.config import ModelConfig

ESTIMATORS: dict[str, type[BaseEstimator]] = {
    "logistic_regression": LogisticRegression,
    "random_forest": RandomForestClassifier,
    "gradient_boosting": HistGradientBoostingClassifier,
}
REGRESSORS: dict[str, type[BaseEstimator]] = {
    "ridge": Ridge,
    "random_forest": RandomForestRegressor,
    "gradient_boosting": HistGradientBoostingRegressor,
}


def build_pipeline(config: ModelConfig) -> Pipeline:
    estimator_cls = (REGRESSORS if config.task == "regression" else ESTIMATORS)[config.model.estimator]
    params = dict(config.model.params)
    if "random_state" in estimator_cls().get_params():
        params.setdefault("random_state", config.random_state)
    try:
        estimator = estimator_cls(**params)
    except TypeError as exc:
        raise ConfigError(f"model.params do not fit {config.model.estimator}: {exc}") from exc
    steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy=config.preprocessing.impute))]
    if config.preprocessing.scale:
        steps.append(("scale", StandardScaler()))
    steps.append(("model", estimator))
    return Pipeline(steps)


def search_distributions(space: dict[str, Any]) -> dict[str, Any]:
    """Config space → what RandomizedSearchCV/GridSearchCV take (lists stay lists)."""
    factories = {"loguniform": stats.loguniform, "uniform": _uniform, "randint": stats.randint}
    out: dict[str, Any] = {}
    for name, spec in space.items():
        if isinstance(spec, list):
            out[name] = spec
        else:
            ((kind, (low, high)),) = spec.items()
            out[name] = factories[kind](low, high)
    return out


def _uniform(low: float, high: float) -> Any:
    return stats.uniform(low, high - low)
