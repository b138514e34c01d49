"""Tenant isolation over HTTP: a key scoped to one collection cannot read, change or see another.

Auth is on, the key store is a real SQLite file, Chroma is embedded and real; only the embedder is a fake.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from insight.api.app import create_app
from insight.auth import KeyStore
from insight.config import LLMSettings
from tests.api.conftest import build_with_fakes
from tests.conftest import auth_settings, make_settings


def _docs(collection: str) -> dict[str, Any]:
    return {
        "documents": [
            {"id": f"{collection}-memo", "title": f"{collection} memo", "text": f"The {collection} budget is secret."},
            {"id": f"{collection}-plan", "title": f"{collection} plan", "text": f"The {collection} plan ships in May."},
        ]
    }


@dataclass
class Tenants:
    client: TestClient
    store: KeyStore
    admin: str
    alpha_writer: str  # read + write on alpha
    alpha_reader: str  # read on alpha
    analyst: str  # analyze + predict, no collection

    def as_key(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def tenants(tmp_path: Path, trained_model_dir: Path) -> Iterator[Tenants]:
    settings = make_settings(
        tmp_path,
        model_dir=trained_model_dir,
        auth=auth_settings(tmp_path),
        llm=LLMSettings(provider="none"),
    )
    store = KeyStore(settings.auth.keys_path)
    keys = Tenants(
        client=None,  # type: ignore[arg-type]
        store=store,
        admin=store.create("admin", ["admin"]).key,
        alpha_writer=store.create("alpha team", ["write:alpha"]).key,
        alpha_reader=store.create("alpha viewer", ["read:alpha"]).key,
        analyst=store.create("analyst", ["analyze", "predict"]).key,
    )
    with TestClient(create_app(settings, build=build_with_fakes)) as client:
        keys.client = client
        admin = keys.as_key(keys.admin)
        for name in ("alpha", "beta"):
            assert client.post("/api/v1/collections", json={"name": name}, headers=admin).status_code == 201
            assert client.post(f"/api/v1/collections/{name}/documents", json=_docs(name), headers=admin).is_success
        yield keys


def _forbidden(response: Any) -> str:
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["code"] == "forbidden" and body["message"], body
    return str(body["message"])


def _beta_untouched(t: Tenants) -> None:
    stats = t.client.get("/api/v1/collections/beta", headers=t.as_key(t.admin))
    assert stats.status_code == 200 and stats.json()["documents"] == 2


# Every route that names a collection, pointed at beta (method, path, JSON body).
BETA_REQUESTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/v1/collections/beta", None),
    ("DELETE", "/api/v1/collections/beta", None),
    ("POST", "/api/v1/collections/beta/documents", _docs("intruder")),
    ("DELETE", "/api/v1/collections/beta/documents/beta-memo", None),
    ("POST", "/api/v1/search", {"collection": "beta", "query": "budget secret"}),
    ("POST", "/api/v1/ask", {"collection": "beta", "question": "What is the budget?"}),
    ("POST", "/api/v1/collections", {"name": "beta"}),
]


@pytest.mark.parametrize(("method", "path", "body"), BETA_REQUESTS, ids=[f"{m} {p}" for m, p, _ in BETA_REQUESTS])
@pytest.mark.parametrize("key_name", ["alpha_writer", "alpha_reader", "analyst"])
def test_a_key_for_alpha_cannot_touch_beta(
    tenants: Tenants, key_name: str, method: str, path: str, body: dict[str, Any] | None
) -> None:
    headers = tenants.as_key(getattr(tenants, key_name))
    response = tenants.client.request(method, path, json=body, headers=headers)
    assert "beta" in _forbidden(response)
    _beta_untouched(tenants)


def test_a_key_for_alpha_cannot_upload_files_into_beta(tenants: Tenants) -> None:
    files = [("files", ("notes.md", b"# Intruder\nnot yours", "text/markdown"))]
    response = tenants.client.post(
        "/api/v1/collections/beta/documents", files=files, headers=tenants.as_key(tenants.alpha_writer)
    )
    _forbidden(response)
    _beta_untouched(tenants)


def test_listing_shows_only_the_collections_a_key_may_read(tenants: Tenants) -> None:
    def names(key: str) -> list[str]:
        response = tenants.client.get("/api/v1/collections", headers=tenants.as_key(key))
        assert response.status_code == 200
        return sorted(c["name"] for c in response.json()["collections"])

    assert names(tenants.admin) == ["alpha", "beta"]
    assert names(tenants.alpha_writer) == ["alpha"]
    assert names(tenants.alpha_reader) == ["alpha"]
    assert names(tenants.analyst) == []
    everything = tenants.store.create("auditor", ["read:*"]).key
    assert names(everything) == ["alpha", "beta"]


def test_the_alpha_writer_works_on_alpha(tenants: Tenants) -> None:
    client, headers = tenants.client, tenants.as_key(tenants.alpha_writer)
    hits = client.post("/api/v1/search", json={"collection": "alpha", "query": "budget secret"}, headers=headers)
    assert hits.status_code == 200
    assert hits.json()["hits"] and {h["doc_id"] for h in hits.json()["hits"]} <= {"alpha-memo", "alpha-plan"}
    extra = {"documents": [{"id": "alpha-extra", "text": "More alpha notes."}]}
    assert client.post("/api/v1/collections/alpha/documents", json=extra, headers=headers).json()["added"] == [
        "alpha-extra"
    ]
    assert client.delete("/api/v1/collections/alpha/documents/alpha-extra", headers=headers).status_code == 200
    assert client.get("/api/v1/collections/alpha", headers=headers).json()["documents"] == 2
    # Past auth, /ask reaches the model, which this app has none of.
    body = {"collection": "alpha", "question": "Budget?", "answer_mode": "passages"}  # the mode that needs a model
    asked = client.post("/api/v1/ask", json=body, headers=headers)
    assert asked.status_code == 503 and asked.json()["code"] == "llm_not_configured"
    assert client.delete("/api/v1/collections/alpha", headers=headers).status_code == 204


def test_write_scope_lets_a_key_create_only_its_collection(tenants: Tenants) -> None:
    key = tenants.store.create("gamma team", ["write:gamma"]).key
    headers = tenants.as_key(key)
    assert tenants.client.post("/api/v1/collections", json={"name": "gamma"}, headers=headers).status_code == 201
    _forbidden(tenants.client.post("/api/v1/collections", json={"name": "delta"}, headers=headers))


def test_a_read_key_cannot_change_its_own_collection(tenants: Tenants) -> None:
    client, headers = tenants.client, tenants.as_key(tenants.alpha_reader)
    assert client.post("/api/v1/search", json={"collection": "alpha", "query": "plan"}, headers=headers).is_success
    _forbidden(client.post("/api/v1/collections/alpha/documents", json=_docs("alpha"), headers=headers))
    _forbidden(client.delete("/api/v1/collections/alpha/documents/alpha-memo", headers=headers))
    _forbidden(client.delete("/api/v1/collections/alpha", headers=headers))
    assert client.get("/api/v1/collections/alpha", headers=headers).json()["documents"] == 2


def test_analyze_and_predict_need_their_scopes(tenants: Tenants) -> None:
    client = tenants.client
    features = client.get("/api/v1/model", headers=tenants.as_key(tenants.admin)).json()["feature_names"]
    row = {"features": dict.fromkeys(features, 1.0)}
    table = {"data": [{"x": 1, "y": 2}, {"x": 2, "y": 4}]}
    for key in (tenants.alpha_writer, tenants.alpha_reader):
        headers = tenants.as_key(key)
        assert "predict" in _forbidden(client.post("/api/v1/predict", json=row, headers=headers))
        _forbidden(client.post("/api/v1/predict/batch", json={"instances": [row["features"]]}, headers=headers))
        _forbidden(client.get("/api/v1/model", headers=headers))
        assert "analyze" in _forbidden(client.post("/api/v1/analyze", json=table, headers=headers))
    headers = tenants.as_key(tenants.analyst)
    assert client.post("/api/v1/predict", json=row, headers=headers).status_code == 200
    assert client.post("/api/v1/predict/batch", json={"instances": [row["features"]]}, headers=headers).is_success
    assert client.get("/api/v1/model", headers=headers).status_code == 200
    analyzed = client.post("/api/v1/analyze", json=table, headers=headers)
    assert analyzed.status_code == 200  # allowed: no model here, so the engine's result with the template
    assert analyzed.json()["meta"]["narrator"] == "template"
