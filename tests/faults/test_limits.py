"""Every request limit comes from settings and answers with its own clear status (one place to see them all).

Rate limits (429) are covered in tests/auth/test_keys.py, request timeouts (504) in
tests/observability/test_request_timeout.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from insight.api.app import create_app
from insight.api.deps import Services
from insight.config import AnalysisSettings, ApiSettings, PredictorSettings, SearchSettings, Settings
from insight.llm.slot import LLMSlot
from tests.api.conftest import build_with_fakes
from tests.conftest import MODEL_CONFIG, make_settings
from tests.rag.test_answer import fake_llm


def _with_a_model(settings: Settings) -> Services:
    """A model is there (a fake that is never reached): the limits answer before it is asked."""
    services = build_with_fakes(settings, llm=LLMSlot(settings.llm, client=fake_llm("unused")))
    return services


@pytest.fixture
def api(tmp_path: Path, trained_model_dir: Path) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path,
        api=ApiSettings(max_body_bytes=4096),
        search=SearchSettings(max_query_chars=40, max_top_k=5, max_upload_bytes=2048),
        analysis=AnalysisSettings(max_rows=10, max_bytes=4096),
    )
    settings.predictor = PredictorSettings(config_path=MODEL_CONFIG, model_dir=trained_model_dir, max_batch_rows=3)
    with TestClient(create_app(settings, build=_with_a_model)) as client:
        docs = {"documents": [{"id": "a", "text": "Refunds are paid within 30 days."}]}
        assert client.post("/api/v1/collections/notes/documents", json=docs).status_code == 200
        yield client


def _status(response: Any, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    assert words in response.json()["message"], response.json()


def test_body_size(api: TestClient) -> None:
    _status(
        api.post("/api/v1/search", content=b"{" + b" " * 5000 + b"}", headers={"content-type": "application/json"}),
        413,
        "the limit is 4096",
    )


def test_upload_size(api: TestClient) -> None:
    files = [("files", ("big.txt", b"word " * 1000, "text/plain"))]
    _status(api.post("/api/v1/collections/notes/documents", files=files), 413, "over the upload limit of 2048 bytes")


def test_batch_rows(api: TestClient) -> None:
    features = api.get("/api/v1/model").json()["feature_names"]
    rows = [dict.fromkeys(features, 1.0)] * 4
    _status(api.post("/api/v1/predict/batch", json={"instances": rows}), 422, "at most 3 are allowed")
    assert api.post("/api/v1/predict/batch", json={"instances": rows[:3]}).status_code == 200


def test_rows_per_analysis(api: TestClient) -> None:
    rows = [{"x": i, "y": 2 * i} for i in range(11)]
    response = api.post("/api/v1/analyze", json={"data": rows})
    assert response.status_code == 413, response.text
    assert "11 rows" in response.json()["message"] and "10" in response.json()["message"], response.json()


def test_query_length_and_top_k(api: TestClient) -> None:
    _status(api.post("/api/v1/search", json={"collection": "notes", "query": "x" * 41}), 422, "at most 40")
    _status(api.post("/api/v1/search", json={"collection": "notes", "query": "refunds", "top_k": 6}), 422, "at most 5")
    _status(api.post("/api/v1/ask", json={"collection": "notes", "question": "x" * 41}), 422, "at most 40")
