"""Domain errors → HTTP, in one place. Clients get a message, never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from insight.errors import (
    CollectionExists,
    CollectionNotFound,
    ConfigError,
    DataChanged,
    DocumentNotFound,
    EmbeddingModelUnavailable,
    EvalQueueFull,
    EvalRunNotFound,
    Forbidden,
    InsightError,
    InvalidDocument,
    InvalidInput,
    KeyNotFound,
    LLMNotConfigured,
    LLMRateLimited,
    LLMTimeout,
    LLMUnavailable,
    ModelIntegrityError,
    ModelNotLoaded,
    OutputParseError,
    PayloadTooLarge,
    PlanExecutionError,
    PlanRejected,
    PromptNotFound,
    RateLimitExceeded,
    SuiteNotFound,
    TargetsNotMet,
    TokenizerUnavailable,
    TrackingUnavailable,
    Unauthenticated,
    UnsupportedFileType,
    VectorStoreUnavailable,
)

log = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[InsightError], int] = {
    InvalidInput: 422,
    InvalidDocument: 422,
    PlanRejected: 422,
    PlanExecutionError: 422,
    PayloadTooLarge: 413,
    UnsupportedFileType: 415,
    CollectionNotFound: 404,
    DocumentNotFound: 404,
    CollectionExists: 409,
    VectorStoreUnavailable: 503,
    EmbeddingModelUnavailable: 503,
    TokenizerUnavailable: 503,
    LLMNotConfigured: 503,
    LLMUnavailable: 502,
    OutputParseError: 502,
    LLMTimeout: 504,
    LLMRateLimited: 429,
    PromptNotFound: 404,
    SuiteNotFound: 404,
    EvalRunNotFound: 404,
    EvalQueueFull: 429,
    ModelNotLoaded: 503,
    ModelIntegrityError: 503,
    TrackingUnavailable: 503,
    TargetsNotMet: 409,
    DataChanged: 409,
    ConfigError: 500,
    Unauthenticated: 401,
    Forbidden: 403,
    KeyNotFound: 404,
    RateLimitExceeded: 429,
}


def error_response(status: int, code: str, message: str, detail: Any = None) -> Response:
    body = {"code": code, "message": message, "detail": message if detail is None else detail}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def status_for_class(error: type[InsightError]) -> int:
    """The status of the nearest mapped class in ``error``'s MRO; 500 when none is (``InsightError`` itself)."""
    for cls in error.__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def status_for(exc: InsightError) -> int:
    return status_for_class(type(exc))


async def _insight_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InsightError)
    status = status_for(exc)
    if isinstance(exc, InvalidInput):
        detail = [{"loc": list(p.loc), "msg": p.msg, "type": p.type} for p in exc.problems]
        return error_response(status, exc.code, exc.message, detail)
    if status >= 500:
        log.error("%s: %s", exc.code, exc.message)
    response = error_response(status, exc.code, exc.message)
    if isinstance(exc, LLMRateLimited | RateLimitExceeded) and exc.retry_after_s:
        response.headers["Retry-After"] = str(max(1, round(exc.retry_after_s)))
    if isinstance(exc, Unauthenticated):
        response.headers["WWW-Authenticate"] = 'Bearer realm="insight"'
    return response


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    detail = [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]
    first = detail[0] if detail else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"])
    return error_response(422, "invalid_input", f"{where}: {first['msg']}", detail)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    return error_response(exc.status_code, "http_error", message)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal error; the server log has the details")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(InsightError, _insight_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
