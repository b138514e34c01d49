"""POST /api/v1/ask: JSON answers and server-sent events, with a fake model and real embedded Chroma."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from insight.api.app import create_app
from insight.api.deps import Services
from insight.config import LLMSettings, Settings
from insight.llm.client import LLMClient
from insight.llm.slot import LLMSlot
from insight.rag.answer import Answerer, build_answerer
from insight.rag.factory import RagSlot
from tests.analysis.fakes import ToolCallingFake, tool_reply
from tests.api.conftest import build_with_fakes
from tests.conftest import make_settings
from tests.rag.test_answer import cited_llm

DOCS = {
    "documents": [
        {"id": "refunds", "title": "Refunds", "text": "Refunds are paid within 30 days to the original card."},
        {"id": "parking", "title": "Parking", "text": "Parking permits are issued by the facilities team."},
    ]
}


def client_with(tmp_path: Path, numbers: list[int], reply: str) -> Iterator[TestClient]:
    def build(settings: Settings) -> Services:
        services = build_with_fakes(settings, llm=LLMSlot(settings.llm, client=cited_llm(numbers, reply)))
        return services

    with TestClient(create_app(make_settings(tmp_path), build=build)) as client:
        assert client.post("/api/v1/collections/handbook/documents", json=DOCS).status_code == 200
        yield client


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    yield from client_with(tmp_path, [1, 4], "Refunds are paid within 30 days.")


def test_default_answer_is_the_best_sentence_verbatim_with_its_exact_span(api: TestClient) -> None:
    response = api.post("/api/v1/ask", json={"collection": "handbook", "question": "when are refunds paid?"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["found"] is True and body["mode"] == "extractive"
    assert body["answer"] == "Refunds are paid within 30 days to the original card."
    (citation,) = body["citations"]
    text = DOCS["documents"][0]["text"]
    assert citation["doc_id"] == "refunds" and citation["quote"] == body["answer"]
    assert text[citation["quote_start"] : citation["quote_end"]] == citation["quote"]
    assert body["meta"]["answer_mode"] == "extractive" and body["meta"]["input_tokens"] == 0


def test_extractive_needs_no_model(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, llm=LLMSettings(provider="none"))
    with TestClient(create_app(settings, build=build_with_fakes)) as client:
        assert client.post("/api/v1/collections/handbook/documents", json=DOCS).status_code == 200
        question = {"collection": "handbook", "question": "who issues parking permits?"}
        response = client.post("/api/v1/ask", json=question)
        assert response.status_code == 200, response.text
        assert response.json()["citations"][0]["doc_id"] == "parking"
        generative = client.post("/api/v1/ask", json={**question, "answer_mode": "generative"})
        assert generative.status_code == 503


def test_passages_mode_answers_with_checked_citations(api: TestClient) -> None:
    body = {"collection": "handbook", "question": "when are refunds paid?", "answer_mode": "passages"}
    response = api.post("/api/v1/ask", json=body)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["found"] is True
    assert body["answer"] == "Refunds are paid within 30 days. [1]"
    (citation,) = body["citations"]
    assert citation["doc_id"] == "refunds" and citation["chunk_id"] == "refunds#0"
    assert citation["text"] == DOCS["documents"][0]["text"][citation["start"] : citation["end"]]
    assert body["invalid_citations"] == [4]
    assert body["meta"]["prompt_name"] == "rag_answer" and len(body["meta"]["prompt_sha256"]) == 64


def test_stream_sends_tokens_then_citations_then_done(api: TestClient) -> None:
    body = {"collection": "handbook", "question": "when are refunds paid?", "stream": True, "answer_mode": "passages"}
    with api.stream("POST", "/api/v1/ask", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = b"".join(response.iter_bytes()).decode()
    events = [block.split("\n", 1) for block in raw.strip().split("\n\n")]
    kinds = [kind.removeprefix("event: ") for kind, _ in events]
    assert kinds[-2:] == ["citations", "done"] and set(kinds[:-2]) == {"token"}
    payloads = [orjson.loads(data.removeprefix("data: ")) for _, data in events]
    assert "".join(p["text"] for p in payloads[:-2]).startswith("Refunds are paid")
    assert payloads[-2]["citations"][0]["doc_id"] == "refunds"
    assert payloads[-1]["answer"] == "Refunds are paid within 30 days. [1]"


def test_unknown_collection_is_404(api: TestClient) -> None:
    response = api.post("/api/v1/ask", json={"collection": "nope", "question": "x"})
    assert response.status_code == 404


@pytest.mark.parametrize("question", ["", "   ", "q" * 3000])
def test_bad_question_is_422(api: TestClient, question: str) -> None:
    assert api.post("/api/v1/ask", json={"collection": "handbook", "question": question}).status_code == 422


def test_no_llm_configured_is_503(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, llm=LLMSettings(provider="none"))
    with TestClient(create_app(settings, build=build_with_fakes)) as client:
        response = client.post(
            "/api/v1/ask", json={"collection": "handbook", "question": "x", "answer_mode": "passages"}
        )
    assert response.status_code == 503
    assert "INSIGHT_LLM__PROVIDER" in response.json()["message"]


def test_one_answerer_built_at_start_up_answers_every_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[Answerer] = []
    original = Answerer.__init__

    def counting(self: Answerer, *args: Any, **kwargs: Any) -> None:
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(Answerer, "__init__", counting)
    clients = client_with(tmp_path, [1], "Refunds are paid within 30 days.")
    api = next(clients)
    services: Services = api.app.state.services  # type: ignore[attr-defined]
    assert built == [services.answerer]
    for stream in (False, True, False):
        body = {"collection": "handbook", "question": "when are refunds paid?", "stream": stream}
        assert api.post("/api/v1/ask", json=body).status_code == 200
    assert built == [services.answerer]
    settings = services.settings.search
    answerer = services.answerer
    assert (answerer.top_k, answerer.min_dense, answerer.context_tokens) == (
        settings.answer_top_k,
        settings.answer_min_dense,
        settings.answer_context_tokens,
    )
    clients.close()


def test_no_search_service_is_503_before_a_stream_starts(tmp_path: Path) -> None:
    def build(settings: Settings) -> Services:
        services = build_with_fakes(settings, llm=LLMSlot(settings.llm, client=cited_llm([1], "x")))
        services.rag = RagSlot(settings, problem="chroma is down", _last_try=time.monotonic())
        services.answerer = build_answerer(settings.search, services.rag, services.llm, services.prompts)
        return services

    with TestClient(create_app(make_settings(tmp_path), build=build)) as client:
        for stream in (False, True):
            body = {"collection": "handbook", "question": "x", "stream": stream}
            response = client.post("/api/v1/ask", json=body)
            assert response.status_code == 503 and "chroma is down" in response.json()["message"]


def span_llm(sentence: int, answer: str) -> LLMClient:
    """A fake for rag_extract: it chooses sentence ``sentence`` and answers ``answer`` (a ``SpanAnswer`` call)."""
    reply = tool_reply({"sentence": sentence, "answer": answer}, name="SpanAnswer")
    return LLMClient(ToolCallingFake(messages=itertools.cycle([reply])), LLMSettings(provider="local"))


def generative_client(tmp_path: Path, sentence: int, answer: str) -> Iterator[TestClient]:
    def build(settings: Settings) -> Services:
        return build_with_fakes(settings, llm=LLMSlot(settings.llm, client=span_llm(sentence, answer)))

    with TestClient(create_app(make_settings(tmp_path), build=build)) as client:
        assert client.post("/api/v1/collections/handbook/documents", json=DOCS).status_code == 200
        yield client


def test_generative_stream_sends_the_extractive_answer_first_then_the_verified_one(tmp_path: Path) -> None:
    client = next(generative_client(tmp_path, 1, "within 30 days"))
    body = {"collection": "handbook", "question": "when are refunds paid?", "stream": True, "answer_mode": "generative"}
    with client.stream("POST", "/api/v1/ask", json=body) as response:
        raw = b"".join(response.iter_bytes()).decode()
    events = [block.split("\n", 1) for block in raw.strip().split("\n\n")]
    kinds = [kind.removeprefix("event: ") for kind, _ in events]
    assert kinds == ["extractive", "citations", "done"]
    payloads = [orjson.loads(data.removeprefix("data: ")) for _, data in events]
    assert payloads[0]["answer"] == "Refunds are paid within 30 days to the original card."
    assert payloads[0]["citations"][0]["doc_id"] == "refunds"
    assert payloads[2]["answer"] == "within 30 days" and payloads[2]["mode"] == "generative"
    assert payloads[2]["meta"]["verified"] is True


def test_generative_answer_that_fails_verification_falls_back_and_says_why(tmp_path: Path) -> None:
    client = next(generative_client(tmp_path, 1, "within 45 days"))
    body = {"collection": "handbook", "question": "when are refunds paid?", "answer_mode": "generative"}
    answer = client.post("/api/v1/ask", json=body).json()
    assert (
        answer["mode"] == "extractive" and answer["answer"] == "Refunds are paid within 30 days to the original card."
    )
    assert answer["meta"]["verified"] is False and "45" in answer["meta"]["fallback_reason"]
    assert answer["meta"]["rejected_answer"] == "within 45 days"
