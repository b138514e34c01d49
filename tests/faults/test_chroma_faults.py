"""The Chroma server dies under a running API: 503 and /ready false, then recovery when it returns.

(Search over a small collection may still answer during the outage: it is served from an in-memory
copy of the collection's vectors. What must reach Chroma, writes, listing and stats, answers 503.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from insight.api.app import create_app
from tests.api.conftest import build_with_fakes
from tests.conftest import make_settings
from tests.faults.chroma import ChromaServer

DOCS = {"documents": [{"id": "refunds", "title": "Refunds", "text": "Refunds are paid within 30 days."}]}
SEARCH = {"collection": "handbook", "query": "refunds paid"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ChromaServer]:
    chroma = ChromaServer(tmp_path).start()
    yield chroma
    chroma.kill()


def test_chroma_killed_gives_503_and_not_ready_then_recovers(
    server: ChromaServer, tmp_path: Path, trained_model_dir: Path
) -> None:
    settings = make_settings(tmp_path, model_dir=trained_model_dir, vectorstore=server.settings)
    with TestClient(create_app(settings, build=build_with_fakes)) as client:
        assert client.post("/api/v1/collections/handbook/documents", json=DOCS).status_code == 200
        assert client.post("/api/v1/search", json=SEARCH).json()["hits"][0]["doc_id"] == "refunds"
        assert client.get("/ready").json()["ready"] is True

        server.kill()
        more = {"documents": [{"id": "parking", "title": "Parking", "text": "Parking permits come from facilities."}]}
        for response in (
            client.post("/api/v1/collections/handbook/documents", json=more),
            client.get("/api/v1/collections"),
            client.get("/api/v1/collections/handbook"),
        ):
            assert response.status_code == 503, response.text
            assert response.json()["code"] == "vectorstore_unavailable" and response.json()["message"]
        ready = client.get("/ready")
        assert ready.status_code == 503 and ready.json()["ready"] is False
        assert ready.json()["parts"]["vectorstore"]["status"] == "error"
        # Everything that does not need Chroma keeps working.
        assert client.get("/health").status_code == 200
        assert client.get("/api/v1/model").status_code == 200

        server.start()
        deadline = time.monotonic() + 30
        while (response := client.post("/api/v1/collections/handbook/documents", json=more)).status_code != 200:
            assert time.monotonic() < deadline, response.text
            time.sleep(0.2)
        assert client.get("/api/v1/collections/handbook").json()["documents"] == 2  # the data survived the kill
        hits = client.post("/api/v1/search", json={"collection": "handbook", "query": "parking permits"}).json()
        assert hits["hits"][0]["doc_id"] == "parking"
        assert client.get("/ready").json()["ready"] is True
