"""Collections, ingestion and search over HTTP, with a real embedded Chroma and a fake embedder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from insight.api.app import create_app
from insight.config import SearchSettings, VectorStoreSettings
from tests.api.conftest import build_with_fakes
from tests.conftest import make_settings

DOCS = {
    "documents": [
        {"id": "refunds", "title": "Refunds", "text": "Refunds are paid within 30 days.", "metadata": {"team": "cx"}},
        {
            "id": "parking",
            "title": "Parking",
            "text": "Parking permits come from facilities.",
            "metadata": {"team": "ops"},
        },
    ]
}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, search=SearchSettings(max_query_chars=50, max_top_k=20, max_upload_bytes=4096))

    with TestClient(create_app(settings, build=build_with_fakes)) as client:
        yield client


def message(response: Any) -> str:
    body = response.json()
    assert body["message"], body
    return str(body["message"])


def test_collection_lifecycle(api: TestClient) -> None:
    created = api.post("/api/v1/collections", json={"name": "handbook"})
    assert created.status_code == 201 and created.json()["documents"] == 0
    assert api.post("/api/v1/collections", json={"name": "handbook"}).status_code == 409
    ingested = api.post("/api/v1/collections/handbook/documents", json=DOCS)
    assert ingested.status_code == 200, ingested.text
    assert sorted(ingested.json()["added"]) == ["parking", "refunds"]
    again = api.post("/api/v1/collections/handbook/documents", json=DOCS).json()
    assert sorted(again["unchanged"]) == ["parking", "refunds"] and again["chunks_embedded"] == 0
    listed = api.get("/api/v1/collections").json()["collections"]
    assert [(c["name"], c["documents"]) for c in listed] == [("handbook", 2)]
    assert api.delete("/api/v1/collections/handbook/documents/parking").json()["chunks_deleted"] == 1
    assert api.get("/api/v1/collections/handbook").json()["documents"] == 1
    assert api.delete("/api/v1/collections/handbook").status_code == 204
    assert api.get("/api/v1/collections/handbook").status_code == 404


def test_search_returns_hits_with_breakdown_and_spans(api: TestClient) -> None:
    api.post("/api/v1/collections/handbook/documents", json=DOCS)
    response = api.post("/api/v1/search", json={"collection": "handbook", "query": "parking permits", "top_k": 1})
    assert response.status_code == 200
    (hit,) = response.json()["hits"]
    assert hit["doc_id"] == "parking" and hit["title"] == "Parking"
    assert hit["text"] == DOCS["documents"][1]["text"][hit["start"] : hit["end"]]
    assert hit["scores"]["dense"]["rank"] == 1 and hit["scores"]["lexical"]["rank"] == 1
    assert hit["scores"]["first_chunk"]["rank"] == 1  # document aggregation: the first passage is ranked too
    assert hit["metadata"]["team"] == "ops" and "doc_hash" not in hit["metadata"]
    filtered = api.post(
        "/api/v1/search", json={"collection": "handbook", "query": "parking permits", "filters": {"team": "cx"}}
    )
    assert [h["doc_id"] for h in filtered.json()["hits"]] == ["refunds"]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"collection": "handbook", "query": ""}, 422, "query"),
        ({"collection": "handbook", "query": "   "}, 422, "must contain text"),
        ({"collection": "handbook", "query": "x" * 51}, 422, "at most 50 are allowed"),
        ({"collection": "handbook", "query": "x", "top_k": 21}, 422, "must be at most 20"),
        ({"collection": "handbook", "query": "x", "mode": "fuzzy"}, 422, "mode"),
        ({"collection": "nowhere", "query": "x"}, 404, "collection 'nowhere' does not exist"),
    ],
)
def test_search_bad_input(api: TestClient, body: dict[str, Any], status: int, fragment: str) -> None:
    api.post("/api/v1/collections/handbook/documents", json=DOCS)
    response = api.post("/api/v1/search", json=body)
    assert response.status_code == status
    assert fragment in response.text


def test_uploads_ingest_and_report_per_file_failures(api: TestClient) -> None:
    files = [
        ("files", ("notes.md", b"# Notes\n\nThe quarterly review is on Friday.", "text/markdown")),
        ("files", ("broken.pdf", b"%PDF-1.7 nonsense", "application/pdf")),
    ]
    response = api.post("/api/v1/collections/uploads/documents", files=files, data={"metadata": '{"batch": 3}'})
    assert response.status_code == 422
    body = response.json()
    assert body["added"] == ["notes.md"]
    assert [f["source"] for f in body["failed"]] == ["broken.pdf"]
    assert "broken.pdf" in body["message"]
    hits = api.post("/api/v1/search", json={"collection": "uploads", "query": "quarterly review"}).json()["hits"]
    assert hits[0]["doc_id"] == "notes.md" and hits[0]["metadata"]["batch"] == 3


def test_unsupported_upload_is_415_listing_supported_types(api: TestClient) -> None:
    files = [("files", ("tool.exe", b"MZ...", "application/octet-stream"))]
    response = api.post("/api/v1/collections/uploads/documents", files=files)
    assert response.status_code == 415
    assert "tool.exe" in message(response) and ".pdf" in message(response) and ".md" in message(response)


def test_oversize_upload_is_413(api: TestClient) -> None:
    files = [("files", ("big.txt", b"word " * 2000, "text/plain"))]
    response = api.post("/api/v1/collections/uploads/documents", files=files)
    assert response.status_code == 413
    assert "big.txt is over the upload limit of 4096 bytes" in message(response)


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"documents": []}, "at least 1 item"),
        ({"documents": [{"id": "a", "text": ""}]}, "at least 1 character"),
        ({"documents": [{"id": "a", "text": "t", "metadata": {"doc_id": "x"}}]}, "reserved field name"),
        ({"documents": [{"id": "a", "text": "t", "metadata": {"": "x"}}]}, "must not be empty"),
        ({"documents": [{"id": "a", "text": "t", "metadata": {"tags": ["x"]}}]}, "metadata"),
    ],
)
def test_bad_json_documents_are_422(api: TestClient, payload: dict[str, Any], fragment: str) -> None:
    response = api.post("/api/v1/collections/handbook/documents", json=payload)
    assert response.status_code == 422
    assert fragment in response.text


def test_wrong_content_type_is_415(api: TestClient) -> None:
    response = api.post("/api/v1/collections/x1x/documents", content=b"hi", headers={"content-type": "text/plain"})
    assert response.status_code == 415


def test_bad_collection_name_is_422(api: TestClient) -> None:
    response = api.post("/api/v1/collections", json={"name": "Bad Name"})
    assert response.status_code == 422
    assert "collection names are 3-63 characters" in message(response)


def test_vector_store_down_is_503_and_not_ready(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, vectorstore=VectorStoreSettings(host="127.0.0.1", port=9))
    with TestClient(create_app(settings)) as client:
        response = client.post("/api/v1/search", json={"collection": "any", "query": "x"})
        ready = client.get("/ready").json()
    assert response.status_code == 503
    assert "Chroma" in message(response)
    assert ready["parts"]["vectorstore"]["status"] == "error"
