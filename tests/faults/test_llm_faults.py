"""The model provider fails (HTTP 500, timeouts, garbage) behind the HTTP API: bounded retries, then a clear
502/504 for answers; analyses keep their computed result and say in ``meta`` why the template narrated.
The OpenAI wire is mocked by respx, so the real SDK (and its retry loop) runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai._base_client
import pytest
import respx
from fastapi.testclient import TestClient

from insight.analysis import extract_numbers
from insight.api.app import create_app
from insight.config import LLMSettings
from tests.api.conftest import build_with_fakes
from tests.conftest import make_settings
from tests.llm.conftest import BASE_URL, completion

MAX_RETRIES = 2
ASK = {"collection": "handbook", "question": "How long do refunds take?", "answer_mode": "passages"}  # calls the model
ANALYZE = {
    "data": [
        {"units": u, "revenue": round(u * 12.5 + (-1) ** i * (i % 7), 1), "customer": f"cust-{i:03d}-private"}
        for i, u in enumerate([12, 45, 33, 27, 19, 41, 38, 22, 15, 30, 44, 26, 35, 18, 40, 29, 24, 37, 16, 43])
    ]
}
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


@pytest.mark.parametrize(("path", "body"), [("/api/v1/ask", ASK)])
def test_provider_500_is_retried_then_502(api: TestClient, wire: respx.MockRouter, path: str, body: Any) -> None:
    route = wire.post("/chat/completions").mock(return_value=httpx.Response(500, json={"error": {"message": "boom"}}))
    _error(api.post(path, json=body), 502, "llm_unavailable")
    assert route.call_count == 1 + MAX_RETRIES


@pytest.mark.parametrize(("path", "body"), [("/api/v1/ask", ASK)])
def test_provider_timeout_is_retried_then_504(api: TestClient, wire: respx.MockRouter, path: str, body: Any) -> None:
    route = wire.post("/chat/completions").mock(side_effect=httpx.ReadTimeout("no answer"))
    _error(api.post(path, json=body), 504, "llm_timeout")
    assert route.call_count == 1 + MAX_RETRIES


@pytest.mark.parametrize(("path", "body"), [("/api/v1/ask", ASK)])
def test_provider_garbage_is_502(api: TestClient, wire: respx.MockRouter, path: str, body: Any) -> None:
    route = wire.post("/chat/completions").mock(
        return_value=httpx.Response(200, text="<html>proxy error</html>", headers={"content-type": "text/html"})
    )
    response = api.post(path, json=body)
    assert response.status_code == 502, response.text
    assert response.json()["message"]
    assert 1 <= route.call_count <= 1 + MAX_RETRIES


def _template(response: Any, reason_start: str) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["meta"]["narrator"] == "template", body["meta"]
    assert body["meta"]["narrator_reason"].startswith(reason_start), body["meta"]["narrator_reason"]
    assert body["insights"] and body["grounding"]["grounded_rate"] == 1.0
    return body


def test_analysis_keeps_its_computed_result_when_the_provider_fails(api: TestClient, wire: respx.MockRouter) -> None:
    route = wire.post("/chat/completions").mock(return_value=httpx.Response(500, json={"error": {"message": "boom"}}))
    _template(api.post("/api/v1/analyze", json=ANALYZE), "the model failed (llm_unavailable)")
    assert route.call_count == 1 + MAX_RETRIES
    route.mock(side_effect=httpx.ReadTimeout("no answer"))
    _template(api.post("/api/v1/analyze", json=ANALYZE), "the model failed (llm_timeout)")
    route.mock(return_value=httpx.Response(200, text="<html>proxy error</html>", headers={"content-type": "text/html"}))
    _template(api.post("/api/v1/analyze", json=ANALYZE), "the model failed")


def test_analysis_output_that_never_fits_the_schema_falls_back_after_one_repair(
    api: TestClient, wire: respx.MockRouter
) -> None:
    bad = completion(tool=("NarrationPlan", {"summary": 42, "unexpected": True}))
    route = wire.post("/chat/completions").mock(return_value=httpx.Response(200, json=bad))
    _template(api.post("/api/v1/analyze", json=ANALYZE), "the model failed (output_parse_error)")
    assert route.call_count == 2


def test_the_service_recovers_when_the_provider_does(api: TestClient, wire: respx.MockRouter) -> None:
    route = wire.post("/chat/completions")
    route.mock(return_value=httpx.Response(503, json={"error": {"message": "overloaded"}}))
    _template(api.post("/api/v1/analyze", json=ANALYZE), "the model failed")
    plan = {
        "lead": [1],
        "summary": "Revenue follows units (r = {1.pearson_r}).",
        "key_points": [{"insight": 1, "wording": "Revenue rises with units."}],
        "recommendations": [],
    }
    route.mock(return_value=httpx.Response(200, json=completion(tool=("NarrationPlan", plan))))
    analyzed = api.post("/api/v1/analyze", json=ANALYZE)
    assert analyzed.status_code == 200, analyzed.text
    body = analyzed.json()
    r = next(v["text"] for v in body["insights"][0]["values"] if v["key"] == "pearson_r")
    assert body["meta"]["narrator"] == "model"
    assert body["result"]["summary"].endswith(
        f"columns (2 numeric measures, 1 categorical dimension). Revenue follows units (r = {r})."
    )


def test_only_insight_statements_leave_the_machine(api: TestClient, wire: respx.MockRouter) -> None:
    """With a remote provider the request carries the computed findings, never the rows: every number in the
    findings block is an insight value, and no cell value (the distinctive prices, the customer ids) is sent."""
    data = [dict(row, price=round(17.8312 + i * 0.0131, 4)) for i, row in enumerate(ANALYZE["data"])]
    route = wire.post("/chat/completions").mock(return_value=httpx.Response(500, json={"error": {"message": "x"}}))
    body = _template(api.post("/api/v1/analyze", json={"data": data}), "the model failed")
    sent = json.loads(route.calls[0].request.content)
    human = next(m["content"] for m in sent["messages"] if m["role"] == "user")
    block = human.split("<findings>", 1)[1].split("</findings>", 1)[0]
    values = {v["text"] for i in body["insights"] for v in i["values"]}
    raw = route.calls[0].request.content.decode()
    assert "private" not in raw and "cust-" not in raw
    assert not any(str(row["price"]) in raw for row in data)
    for mention in extract_numbers(block.replace("{", " ").replace("}", " ")):
        assert mention.text.lstrip("+") in values or mention.text.isdigit() and int(mention.text) <= 10, mention.text
