"""The served predictor: one vectorised ``predict_proba`` call per request."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sklearn.pipeline import Pipeline

from insight.errors import InsightError, ModelNotLoaded
from insight.predictor.artifact import ModelMetadata, load_artifact
from insight.predictor.data import FloatMatrix


@dataclass(frozen=True)
class Predictions:
    classes: npt.NDArray[np.int64]
    labels: list[str]
    confidence: npt.NDArray[np.float64]
    probabilities: npt.NDArray[np.float64]


class Predictor:
    def __init__(self, pipeline: Pipeline, metadata: ModelMetadata) -> None:
        self._pipeline = pipeline
        self.metadata = metadata
        self._labels = np.asarray(metadata.class_labels, dtype=object)

    @classmethod
    def load(cls, model_dir: Path) -> Predictor:
        pipeline, metadata = load_artifact(model_dir)
        return cls(pipeline, metadata)

    @property
    def feature_names(self) -> list[str]:
        return self.metadata.feature_names

    def predict(self, features: FloatMatrix) -> Predictions:
        """Predict every row of a 2-D matrix whose columns follow ``feature_names``."""
        probabilities = np.asarray(self._pipeline.predict_proba(features), dtype=np.float64)
        classes = probabilities.argmax(axis=1)
        return Predictions(
            classes=classes.astype(np.int64),
            labels=self._labels[classes].tolist(),
            confidence=probabilities[np.arange(len(classes)), classes],
            probabilities=probabilities,
        )


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
