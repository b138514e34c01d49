"""Domain errors map to HTTP in one place, with a message and never a stack trace."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from insight.api.errors import install_error_handlers, status_for
from insight.errors import (
    InsightError,
    LLMNotConfigured,
    LLMRateLimited,
    LLMRequestRejected,
    LLMTimeout,
    LLMUnavailable,
    OutputParseError,
    PromptNotFound,
)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (LLMUnavailable("down"), 502),
        (LLMRequestRejected("bad request"), 502),
        (LLMNotConfigured("none"), 503),
        (LLMTimeout("slow"), 504),
        (LLMRateLimited("busy"), 429),
        (OutputParseError("garbage"), 502),
        (PromptNotFound("no such prompt"), 404),
        (InsightError("unmapped"), 500),
    ],
)
def test_status_for_each_error(error: InsightError, status: int) -> None:
    assert status_for(error) == status


def app_raising(error: Exception) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise error

    return TestClient(app, raise_server_exceptions=False)


def test_rate_limit_carries_retry_after() -> None:
    response = app_raising(LLMRateLimited("provider busy", retry_after_s=2.4)).get("/boom")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    assert response.json() == {"code": "llm_rate_limited", "message": "provider busy", "detail": "provider busy"}


def test_unexpected_errors_are_500_without_a_trace() -> None:
    response = app_raising(RuntimeError("secret internals")).get("/boom")
    assert response.status_code == 500
    assert "secret" not in response.text and "Traceback" not in response.text
    assert response.json()["message"].startswith("internal error")
