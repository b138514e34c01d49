"""POST /api/v1/ask: JSON answers and server-sent events, with a fake model and real embedded Chroma."""

from __future__ import annotations

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
from insight.llm.slot import LLMSlot
from insight.rag.answer import Answerer, build_answerer
from insight.rag.factory import RagSlot
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


def test_answer_with_checked_citations(api: TestClient) -> None:
    response = api.post("/api/v1/ask", json={"collection": "handbook", "question": "when are refunds paid?"})
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
    body = {"collection": "handbook", "question": "when are refunds paid?", "stream": True}
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
        response = client.post("/api/v1/ask", json={"collection": "handbook", "question": "x"})
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
