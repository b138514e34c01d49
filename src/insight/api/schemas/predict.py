"""Predictor request/response shapes.

The predict routes parse bodies themselves (see ``routes/predict.py``): validating
thousands of floats through pydantic lists is the known bottleneck. These models
document the contract in OpenAPI and are what the routes' output follows.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

# Two real rows of the training data (rows 0 and 19: one malignant, one benign).
EXAMPLE_MALIGNANT: list[Any] = [
    17.99, 10.38, 122.8, 1001.0, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871,
    1.095, 0.9053, 8.589, 153.4, 0.006399, 0.04904, 0.05373, 0.01587, 0.03003, 0.006193,
    25.38, 17.33, 184.6, 2019.0, 0.1622, 0.6656, 0.7119, 0.2654, 0.4601, 0.1189,
]  # fmt: skip
EXAMPLE_BENIGN: list[Any] = [
    13.54, 14.36, 87.46, 566.3, 0.09779, 0.08129, 0.06664, 0.04781, 0.1885, 0.05766,
    0.2699, 0.7886, 2.058, 23.56, 0.008462, 0.0146, 0.02387, 0.01315, 0.0198, 0.0023,
    15.11, 19.26, 99.7, 711.2, 0.144, 0.1773, 0.239, 0.1288, 0.2977, 0.07259,
]  # fmt: skip

Instance = list[float] | dict[str, float]


class PredictRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"features": EXAMPLE_MALIGNANT}]})
    features: Instance = Field(
        description="one instance: feature values in schema order (GET /api/v1/model lists "
        "feature_names), or a mapping of every feature name to its value"
    )


class BatchPredictRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"instances": [EXAMPLE_MALIGNANT, EXAMPLE_BENIGN]}]})
    instances: list[Instance] = Field(
        min_length=1, description="instances, each as in /predict; at most the configured maximum"
    )


Task = Literal["classification", "regression"]


class ModelRef(BaseModel):
    name: str
    version: str
    task: Task = Field(description="classification: a class, label and confidence per instance; regression: a value")


class Prediction(BaseModel):
    prediction: int = Field(description="predicted class index")
    label: str = Field(description="predicted class name")
    confidence: float = Field(ge=0.0, le=1.0, description="predict_proba of the predicted class")


_PREDICTION_EXAMPLE: dict[str, Any] = {"prediction": 0, "label": "malignant", "confidence": 0.9999}
_MODEL_EXAMPLE: dict[str, Any] = {"name": "insight-predictor", "version": "1", "task": "classification"}
_REGRESSION_MODEL_EXAMPLE: dict[str, Any] = {"name": "insight-predictor-diabetes", "version": "1", "task": "regression"}


class PredictResponse(Prediction):
    model_config = ConfigDict(json_schema_extra={"examples": [{**_PREDICTION_EXAMPLE, "model": _MODEL_EXAMPLE}]})
    model: ModelRef


class BatchPredictResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "predictions": [
                        _PREDICTION_EXAMPLE,
                        {"prediction": 1, "label": "benign", "confidence": 0.9968},
                    ],
                    "model": _MODEL_EXAMPLE,
                }
            ]
        }
    )
    predictions: list[Prediction]
    model: ModelRef


class RegressionPrediction(BaseModel):
    prediction: float = Field(description="predicted value, in the target's unit")


class RegressionPredictResponse(RegressionPrediction):
    """What /predict answers when the served model is a regressor (``model.task == "regression"``)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"prediction": 151.3, "model": _REGRESSION_MODEL_EXAMPLE}]}
    )
    model: ModelRef


class BatchRegressionPredictResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"predictions": [{"prediction": 151.3}, {"prediction": 74.9}], "model": _REGRESSION_MODEL_EXAMPLE}
            ]
        }
    )
    predictions: list[RegressionPrediction]
    model: ModelRef


def _examples(*models: type[BaseModel]) -> list[Any]:
    """The examples the models document, in order (each model's ``json_schema_extra``)."""
    out: list[Any] = []
    for model in models:
        extra: Any = model.model_config.get("json_schema_extra") or {}
        out.extend(extra.get("examples", []))
    return out


class PredictAnswer(RootModel[PredictResponse | RegressionPredictResponse]):
    """What /predict answers: a class with its label and confidence, or a regressor's value (``model.task``)."""

    model_config = ConfigDict(json_schema_extra={"examples": _examples(PredictResponse, RegressionPredictResponse)})


class BatchPredictAnswer(RootModel[BatchPredictResponse | BatchRegressionPredictResponse]):
    """What /predict/batch answers, by ``model.task`` as for /predict."""

    model_config = ConfigDict(
        json_schema_extra={"examples": _examples(BatchPredictResponse, BatchRegressionPredictResponse)}
    )


class ModelInfo(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "insight-predictor",
                    "version": "1",
                    "task": "classification",
                    "estimator": "logistic_regression",
                    "feature_names": ["mean radius", "mean texture", "…"],
                    "class_labels": ["malignant", "benign"],
                    "metrics": {"accuracy": 0.98, "f1": 0.98, "roc_auc": 0.99},
                    "targets": {"accuracy": 0.85, "f1": 0.8, "roc_auc": 0.85},
                    "mlflow_run_id": "0123456789abcdef0123456789abcdef",
                    "created_at": "2026-11-27T01:00:00Z",
                    "sha256": "…",
                    "data_digest": "…",
                }
            ]
        }
    )
    name: str
    version: str
    task: Task
    estimator: str
    feature_names: list[str]
    class_labels: list[str] = Field(description="class names by index; empty for a regression model")
    metrics: dict[str, float]
    targets: dict[str, float]
    mlflow_run_id: str | None
    created_at: str
    sha256: str
    data_digest: str


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for a route that parses its body itself."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }
