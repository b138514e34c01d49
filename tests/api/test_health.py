from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from insight.api.app import create_app
from insight.config import LLMSettings
from tests.api.conftest import build_with_fakes
from tests.conftest import make_settings


def test_health_is_plain_liveness(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "version": "0.1.0"}


def test_ready_reports_every_part(client: TestClient) -> None:
    response = client.get("/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["ready"] is True
    assert body["parts"]["predictor"] == {"status": "ok", "detail": "insight-predictor v7"}
    assert body["parts"]["tracking"]["status"] == "ok"
    assert body["parts"]["vectorstore"]["status"] == "ok"
    assert body["parts"]["vectorstore"]["detail"].startswith("embedded ")
    assert body["parts"]["llm"] == {"status": "ok", "detail": "local: loads on first use"}


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        return spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]  # type: ignore[no-any-return]
    return schema


def test_every_route_documents_an_example(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    missing = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            success = next(code for code in operation["responses"] if code.startswith("2"))
            content = operation["responses"][success].get("content")
            if success != "204" and "examples" not in _resolve(spec, content["application/json"]["schema"]):
                missing.append(f"{method.upper()} {path} response")
            body = operation.get("requestBody")
            if body and "examples" not in _resolve(spec, body["content"]["application/json"]["schema"]):
                missing.append(f"{method.upper()} {path} request")
    assert not missing, missing
    assert "/api/v1/predict/batch" in spec["paths"]


def test_cors_allows_configured_origins_only(client: TestClient) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    allowed = client.options("/api/v1/predict", headers={**preflight, "Origin": "http://localhost:8000"})
    denied = client.options("/api/v1/predict", headers={**preflight, "Origin": "http://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:8000"
    assert "access-control-allow-origin" not in denied.headers


def test_unknown_route_is_a_json_404(client: TestClient) -> None:
    response = client.get("/api/v1/nothing")
    assert response.status_code == 404
    assert response.json()["message"] == "Not Found"


def test_ready_llm_part_follows_the_provider(trained_model_dir: Path, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, model_dir=trained_model_dir, llm=LLMSettings(provider="none"))
    with TestClient(create_app(settings, build=build_with_fakes)) as client:
        assert client.get("/ready").json()["parts"]["llm"]["status"] == "not configured"


def test_start_up_objects_are_frozen_out_of_garbage_collection_while_serving(tmp_path: Path) -> None:
    import gc

    assert gc.get_freeze_count() == 0
    before = gc.get_threshold()
    with TestClient(create_app(make_settings(tmp_path), build=build_with_fakes)) as client:
        assert client.get("/health").status_code == 200
        assert gc.get_freeze_count() > 10_000  # the imports and services built before serving
        assert gc.get_threshold() == (10_000, 20, 50)
    assert gc.get_freeze_count() == 0, "unfrozen at shutdown"
    assert gc.get_threshold() == before


def test_freezing_can_be_turned_off(tmp_path: Path) -> None:
    import gc

    from insight.config import ApiSettings

    settings = make_settings(tmp_path, api=ApiSettings(gc_freeze=False))
    with TestClient(create_app(settings, build=build_with_fakes)) as client:
        assert client.get("/health").status_code == 200
        assert gc.get_freeze_count() == 0
