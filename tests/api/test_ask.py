"""POST /api/v1/ask: JSON answers and server-sent events, with a fake model and real embedded Chroma."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from insight.api.app import create_app
from insight.api.deps import Services
from insight.config import LLMSettings, Settings
from insight.llm.slot import LLMSlot
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
