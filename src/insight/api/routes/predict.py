"""Classical prediction: one instance, or a batch scored by one vectorised call.

The two predict routes are the hot path: they get the caller's key check, the predictor and the services
from one dependency without sub-dependencies (``ServedPredictor``), which costs what a plain call does,
where the chain of ``PredictCaller`` and ``PredictorDep`` cost about a fifth of the CPU time of a one-row
request. The routes read their bodies themselves; the model is still required before the body is read.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import orjson
from fastapi import APIRouter, Request, Response

from insight.api.body import read_json_object, required_field
from insight.api.deps import AUTH_RESPONSES, PredictCaller, PredictorDep, ServedPredictor
from insight.api.schemas.predict import (
    BatchPredictAnswer,
    BatchPredictRequest,
    ModelInfo,
    PredictAnswer,
    PredictRequest,
    request_body,
)
from insight.predictor.data import FloatMatrix
from insight.predictor.features import row_to_matrix, rows_to_matrix
from insight.predictor.service import Predictions, Predictor

router = APIRouter(prefix="/api/v1", tags=["predict"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    413: {"description": "body over the configured size limit"},
    422: {"description": "invalid input; `detail` names each field and its problem"},
    503: {"description": "no model loaded (none trained, or the artifact failed its hash check)"},
}


def _json(payload: Any) -> Response:
    return Response(orjson.dumps(payload), media_type="application/json")


# The security schemes ``get_principal`` declares, for the routes that authenticate without it.
_SECURITY: dict[str, Any] = {"security": [{"HTTPBearer": []}, {"APIKeyHeader": []}]}


async def _predict(predictor: Predictor, matrix: FloatMatrix) -> Predictions:
    """Predict off the event loop, unless the work is microseconds (the predictor's NumPy path).

    Handing a call to a worker thread and back costs more than such a prediction,
    and the two threads then take turns on the GIL, which under load puts
    milliseconds onto the tail latency.
    """
    if predictor.is_fast(len(matrix)):
        return predictor.predict(matrix)
    return await anyio.to_thread.run_sync(predictor.predict, matrix)


@router.post(
    "/predict",
    response_model=PredictAnswer,
    responses=_ERRORS,
    openapi_extra=request_body(PredictRequest) | _SECURITY,
    summary="Predict one instance",
)
async def predict(request: Request, served: ServedPredictor) -> Response:
    predictor, services = served
    payload = await read_json_object(request, services.settings.api.max_body_bytes)
    features = required_field(payload, "features")
    matrix = row_to_matrix(features, predictor.feature_names, ("body", "features"))
    result = await _predict(predictor, matrix)
    if result.task == "regression":
        return _json({"prediction": float(result.values[0]), "model": _model_ref(predictor)})
    return _json(
        {
            "prediction": int(result.classes[0]),
            "label": result.labels[0],
            "confidence": float(result.confidence[0]),
            "model": _model_ref(predictor),
        }
    )


def _model_ref(predictor: Predictor) -> dict[str, str]:
    meta = predictor.metadata
    return {"name": meta.name, "version": meta.version, "task": meta.task}


@router.post(
    "/predict/batch",
    response_model=BatchPredictAnswer,
    responses=_ERRORS,
    openapi_extra=request_body(BatchPredictRequest) | _SECURITY,
    summary="Predict many instances in one vectorised call",
)
async def predict_batch(request: Request, served: ServedPredictor) -> Response:
    predictor, services = served
    settings = services.settings
    payload = await read_json_object(request, settings.api.max_body_bytes)
    rows = required_field(payload, "instances")
    matrix = rows_to_matrix(
        rows,
        predictor.feature_names,
        ("body", "instances"),
        max_rows=settings.predictor.max_batch_rows,
    )
    result = await _predict(predictor, matrix)
    if result.task == "regression":
        values = [{"prediction": value} for value in result.values.tolist()]
        return _json({"predictions": values, "model": _model_ref(predictor)})
    predictions = [
        {"prediction": c, "label": label, "confidence": p}
        for c, label, p in zip(result.classes.tolist(), result.labels, result.confidence.tolist(), strict=True)
    ]
    return _json({"predictions": predictions, "model": _model_ref(predictor)})


@router.get("/model", response_model=ModelInfo, responses={**AUTH_RESPONSES, 503: _ERRORS[503]}, summary="Served model")
async def model_info(_caller: PredictCaller, predictor: PredictorDep) -> ModelInfo:
    meta = predictor.metadata
    return ModelInfo(
        name=meta.name,
        version=meta.version,
        task=meta.task,
        estimator=meta.estimator,
        feature_names=meta.feature_names,
        class_labels=meta.class_labels,
        metrics=meta.metrics,
        targets=meta.targets,
        mlflow_run_id=meta.mlflow_run_id,
        created_at=meta.created_at.isoformat(),
        sha256=meta.sha256,
        data_digest=meta.data_digest,
    )
