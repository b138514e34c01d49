"""The model provider fails (HTTP 500, timeouts, garbage) behind the HTTP API: bounded retries, then a clear
502/504. The OpenAI wire is mocked by respx, so the real SDK (and its retry loop) runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai._base_client
import pytest
import respx
from fastapi.testclient import TestClient

from insight.api.app import create_app
from insight.config import LLMSettings
from tests.api.conftest import build_with_fakes
from tests.conftest import make_settings
from tests.llm.conftest import BASE_URL, completion

MAX_RETRIES = 2
ASK = {"collection": "handbook", "question": "How long do refunds take?"}
ANALYZE = {"data": [{"month": "2026-01-01", "revenue": 100.0}, {"month": "2026-02-01", "revenue": 120.0}]}
DOCS = {"documents": [{"id": "refunds", "title": "Refunds", "text": "Refunds are paid within 30 days."}]}


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    # The SDK's own backoff schedule, started at 1 ms instead of 0.5 s.
    monkeypatch.setattr(openai._base_client, "INITIAL_RETRY_DELAY", 0.001)
    llm = LLMSettings(
        provider="openai_compatible", base_url=BASE_URL, model="qwen", max_retries=MAX_RETRIES, timeout_s=2.0
    )
    with TestClient(create_app(make_settings(tmp_path, llm=llm), build=build_with_fakes)) as client:
        assert client.post("/api/v1/collections/handbook/documents", json=DOCS).status_code == 200
        yield client


@pytest.fixture
def wire() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield router


def _error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code and body["message"], body
    return str(body["message"])


@pytest.mark.parametrize(("path", "body"), [("/api/v1/ask", ASK), ("/api/v1/analyze", ANALYZE)])
def test_provider_500_is_retried_then_502(api: TestClient, wire: respx.MockRouter, path: str, body: Any) -> None:
    route = wire.post("/chat/completions").mock(return_value=httpx.Response(500, json={"error": {"message": "boom"}}))
    _error(api.post(path, json=body), 502, "llm_unavailable")
    assert route.call_count == 1 + MAX_RETRIES


@pytest.mark.parametrize(("path", "body"), [("/api/v1/ask", ASK), ("/api/v1/analyze", ANALYZE)])
def test_provider_timeout_is_retried_then_504(api: TestClient, wire: respx.MockRouter, path: str, body: Any) -> None:
    route = wire.post("/chat/completions").mock(side_effect=httpx.ReadTimeout("no answer"))
    _error(api.post(path, json=body), 504, "llm_timeout")
    assert route.call_count == 1 + MAX_RETRIES


@pytest.mark.parametrize(("path", "body"), [("/api/v1/ask", ASK), ("/api/v1/analyze", ANALYZE)])
def test_provider_garbage_is_502(api: TestClient, wire: respx.MockRouter, path: str, body: Any) -> None:
    route = wire.post("/chat/completions").mock(
        return_value=httpx.Response(200, text="<html>proxy error</html>", headers={"content-type": "text/html"})
    )
    response = api.post(path, json=body)
    assert response.status_code == 502, response.text
    assert response.json()["message"]
    assert 1 <= route.call_count <= 1 + MAX_RETRIES


def test_analysis_output_that_never_fits_the_schema_is_502_after_one_repair(
    api: TestClient, wire: respx.MockRouter
) -> None:
    bad = completion(tool=("AnalysisResult", {"summary": 42, "unexpected": True}))
    route = wire.post("/chat/completions").mock(return_value=httpx.Response(200, json=bad))
    _error(api.post("/api/v1/analyze", json=ANALYZE), 502, "output_parse_error")
    assert route.call_count == 2


def test_the_service_recovers_when_the_provider_does(api: TestClient, wire: respx.MockRouter) -> None:
    route = wire.post("/chat/completions")
    route.mock(return_value=httpx.Response(503, json={"error": {"message": "overloaded"}}))
    assert api.post("/api/v1/analyze", json=ANALYZE).status_code == 502
    result = {"summary": "Revenue rose from 100 to 120.", "key_points": ["Revenue rose."], "confidence": 0.8}
    route.mock(return_value=httpx.Response(200, json=completion(tool=("AnalysisResult", result))))
    analyzed = api.post("/api/v1/analyze", json=ANALYZE)
    assert analyzed.status_code == 200, analyzed.text
    assert analyzed.json()["result"]["summary"] == result["summary"]
