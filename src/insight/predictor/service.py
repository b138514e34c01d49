"""The served predictor: one vectorised ``predict_proba`` call per request.

Per call, scikit-learn re-validates its input in every pipeline step (dataframe
detection, dtype and finiteness checks, fitted-state and tag lookups): for one
row that is several hundred microseconds, against a few microseconds of
arithmetic. So for the pipeline shape ``insight train`` builds (imputer →
standard scaler → binary logistic regression) the predictor applies the fitted
parameters with NumPy directly, in the same operations and order as
scikit-learn (the results are bit-for-bit the same). That path is built only for
those exact step types, is checked against ``predict_proba`` on probe rows when
the model loads, and takes only 2-D float64 matrices of the right width whose
values are all finite (what the routes pass); anything else (NaN to impute,
another estimator) goes through scikit-learn as before.

A regression model (``metadata.task == "regression"``) answers ``values`` from
``predict``; its NumPy path (imputer → scaler → ridge: one dot product) is built
and checked against ``pipeline.predict`` on probe rows at load in the same way.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import expit
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from insight.errors import InsightError, ModelNotLoaded
from insight.predictor.artifact import ModelMetadata, load_artifact
from insight.predictor.data import FloatMatrix

log = logging.getLogger(__name__)

# Rows up to which a prediction on the NumPy path takes well under a millisecond
# (0.03 ms for one row, under 0.2 ms at 1,000), so a caller may run it on the event
# loop: the hop to a worker thread and back costs more than the work itself.
INLINE_MAX_ROWS = 1_000
# Largest difference from scikit-learn's own ``predict_proba`` the NumPy path may show.
FAST_PATH_TOLERANCE = 1e-12

Transform = Callable[[FloatMatrix], FloatMatrix]


_NO_FLOATS: npt.NDArray[np.float64] = np.empty(0, dtype=np.float64)


@dataclass(frozen=True)
class Predictions:
    """A classifier's classes, labels and probabilities, or (``task == "regression"``) a regressor's values."""

    classes: npt.NDArray[np.int64]
    labels: list[str]
    confidence: npt.NDArray[np.float64]
    probabilities: npt.NDArray[np.float64]
    values: npt.NDArray[np.float64] = field(default_factory=lambda: _NO_FLOATS)
    task: str = "classification"

    @classmethod
    def regression(cls, values: npt.NDArray[np.float64]) -> Predictions:
        return cls(
            classes=np.empty(0, dtype=np.int64),
            labels=[],
            confidence=_NO_FLOATS,
            probabilities=np.empty((0, 0), dtype=np.float64),
            values=values,
            task="regression",
        )


class Predictor:
    def __init__(self, pipeline: Pipeline, metadata: ModelMetadata) -> None:
        self._pipeline = pipeline
        self.metadata = metadata
        self._labels = np.asarray(metadata.class_labels, dtype=object)
        self._width = len(metadata.feature_names)
        self.task = metadata.task
        self._fast = _checked_fast_path(pipeline, self._width, self.task)

    @classmethod
    def load(cls, model_dir: Path) -> Predictor:
        pipeline, metadata = load_artifact(model_dir)
        return cls(pipeline, metadata)

    @property
    def feature_names(self) -> list[str]:
        return self.metadata.feature_names

    def is_fast(self, n_rows: int) -> bool:
        """Whether predicting ``n_rows`` finite rows takes microseconds (the NumPy path)."""
        return self._fast is not None and n_rows <= INLINE_MAX_ROWS

    def predict(self, features: FloatMatrix) -> Predictions:
        """Predict every row of a 2-D matrix whose columns follow ``feature_names``."""
        if self.task == "regression":
            if self._fast is not None and self._fits_fast_path(features):
                return Predictions.regression(self._fast(features))
            return Predictions.regression(np.asarray(self._pipeline.predict(features), dtype=np.float64))
        if self._fast is not None and self._fits_fast_path(features):
            probabilities = self._fast(features)
        else:
            probabilities = np.asarray(self._pipeline.predict_proba(features), dtype=np.float64)
        classes = probabilities.argmax(axis=1)
        return Predictions(
            classes=classes.astype(np.int64),
            labels=self._labels[classes].tolist(),
            confidence=probabilities[np.arange(len(classes)), classes],
            probabilities=probabilities,
        )

    def _fits_fast_path(self, features: Any) -> bool:
        return (
            isinstance(features, np.ndarray)
            and features.dtype == np.float64
            and features.ndim == 2
            and features.shape[0] > 0
            and features.shape[1] == self._width
            and bool(np.isfinite(features).all())
        )


def _checked_fast_path(pipeline: Pipeline, width: int, task: str = "classification") -> Transform | None:
    """The NumPy path for ``pipeline``, if it has one that agrees with ``predict_proba`` (a regressor's:
    with ``predict``)."""
    fast = _fast_path(pipeline, width, task)
    if fast is None:
        return None
    reference = pipeline.predict if task == "regression" else pipeline.predict_proba
    rng = np.random.default_rng(0)
    scaler = next((s for s in pipeline.named_steps.values() if isinstance(s, StandardScaler)), None)
    center = scaler.mean_ if scaler is not None and scaler.mean_ is not None else 0.0
    spread = scaler.scale_ if scaler is not None and scaler.scale_ is not None else 1.0
    for n_rows in (1, 7, 256):
        probe = center + spread * rng.normal(0.0, 2.0, size=(n_rows, width))
        expected = np.asarray(reference(probe), dtype=np.float64)
        got = fast(probe)
        # a regressor's values are in the target's unit (hundreds here): the tolerance is relative to them
        atol = (
            FAST_PATH_TOLERANCE * max(1.0, float(np.abs(expected).max()))
            if task == "regression"
            else FAST_PATH_TOLERANCE
        )
        if got.shape != expected.shape or not np.allclose(got, expected, rtol=0, atol=atol):
            log.warning("NumPy prediction path disagrees with scikit-learn; using scikit-learn")
            return None
    return fast


def _fast_path(pipeline: Pipeline, width: int, task: str = "classification") -> Transform | None:
    """Fitted steps as NumPy functions for finite input, or None for any other pipeline."""
    steps = [step for _, step in pipeline.steps if step is not None and step != "passthrough"]
    if not steps or any(getattr(step, "n_features_in_", width) != width for step in steps):
        return None
    *transforms, final = steps
    functions: list[Transform] = []
    for step in transforms:
        function = _fast_transform(step)
        if function is None:
            return None
        functions.append(function)
    proba = _fast_ridge(final) if task == "regression" else _fast_binary_logistic(final)
    if proba is None:
        return None

    def predict_proba(features: FloatMatrix) -> FloatMatrix:
        for function in functions:
            features = function(features)
        return proba(features)

    return predict_proba


def _fast_transform(step: Any) -> Transform | None:
    if type(step) is SimpleImputer:
        missing = step.missing_values
        statistics = np.asarray(step.statistics_)
        nan_marker = isinstance(missing, float) and math.isnan(missing)
        if step.add_indicator or not nan_marker or statistics.dtype.kind != "f":
            return None
        if np.isnan(statistics).any():  # such features are dropped: not a no-op
            return None
        return _identity  # finite input has nothing to impute
    if type(step) is StandardScaler:
        mean = None if step.mean_ is None else np.asarray(step.mean_, dtype=np.float64)
        scale = None if step.scale_ is None else np.asarray(step.scale_, dtype=np.float64)
        with_mean, with_std = bool(step.with_mean), bool(step.with_std)

        def standardise(features: FloatMatrix) -> FloatMatrix:
            # The same operations, in the same order, as StandardScaler.transform.
            if with_mean and mean is not None:
                features = features - mean
            if with_std and scale is not None:
                features = features / scale
            return features

        return standardise
    return None


def _fast_binary_logistic(step: Any) -> Transform | None:
    if type(step) is not LogisticRegression or len(step.classes_) != 2:
        return None
    coef_t = np.asarray(step.coef_, dtype=np.float64).T
    intercept = np.asarray(step.intercept_, dtype=np.float64)
    if coef_t.shape != (step.n_features_in_, 1):
        return None

    def predict_proba(features: FloatMatrix) -> FloatMatrix:
        # As LinearClassifierMixin._predict_proba_lr does for two classes.
        positive: FloatMatrix = expit((features @ coef_t + intercept).reshape(-1))
        probabilities = np.empty((len(positive), 2), dtype=np.float64)
        probabilities[:, 0] = 1 - positive
        probabilities[:, 1] = positive  # what np.stack([1 - p, p], axis=1) gives, in half the time
        return probabilities

    return predict_proba


def _fast_ridge(step: Any) -> Transform | None:
    if type(step) is not Ridge:
        return None
    coef = np.asarray(step.coef_, dtype=np.float64)
    intercept = np.asarray(step.intercept_, dtype=np.float64)
    if coef.shape != (step.n_features_in_,) or intercept.ndim != 0:  # one target only
        return None

    def predict(features: FloatMatrix) -> FloatMatrix:
        # As LinearModel._decision_function: X @ coef_ + intercept_.
        values: FloatMatrix = features @ coef + intercept
        return values

    return predict


def _identity(features: FloatMatrix) -> FloatMatrix:
    return features


@dataclass
class PredictorSlot:
    """The loaded predictor, or why there is none (shown by /ready and the 503)."""

    predictor: Predictor | None = None
    problem: str | None = None

    @classmethod
    def from_dir(cls, model_dir: Path) -> PredictorSlot:
        try:
            return cls(predictor=Predictor.load(model_dir))
        except InsightError as exc:
            return cls(problem=exc.message)

    def require(self) -> Predictor:
        if self.predictor is None:
            raise ModelNotLoaded(self.problem or "no model is loaded")
        return self.predictor
