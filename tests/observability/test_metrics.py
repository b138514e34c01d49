"""/metrics: request counts and latencies by route template, LLM calls and tokens, ingestion counts."""

from __future__ import annotations

from pathlib import Path

import pytest
import respx
from fastapi.testclient import TestClient
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from prometheus_client.parser import text_string_to_metric_families

from insight.api.app import create_app
from insight.config import LLMSettings
from insight.errors import LLMUnavailable
from insight.llm.client import LLMClient
from insight.llm.slot import LLMSlot
from insight.observability.metrics import InsightMetrics
from tests.api.conftest import build_with_fakes
from tests.conftest import make_settings
from tests.llm.conftest import BASE_URL, completion, error, ok

DOCS = {
    "documents": [
        {"id": "refunds", "title": "Refunds", "text": "Refunds are paid within 30 days."},
        {"id": "parking", "title": "Parking", "text": "Parking permits come from facilities."},
    ]
}


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus exposition, keyed by (name, labels)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)


def test_requests_are_counted_by_route_template_and_status(api: TestClient) -> None:
    for name in ("alpha", "beta"):
        assert api.get(f"/api/v1/collections/{name}").status_code == 404
    assert api.get("/no/such/path").status_code == 404
    assert api.get("/health").status_code == 200
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    route = "/api/v1/collections/{name}"
    assert value(text, "insight_http_requests_total", method="GET", route=route, status="404") == 2
    assert value(text, "insight_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert value(text, "insight_http_requests_total", method="GET", route="/health", status="200") == 1
    assert value(text, "insight_http_request_duration_seconds_count", method="GET", route=route) == 2
    assert "alpha" not in text and "/no/such/path" not in text


def test_the_metrics_route_is_not_in_the_openapi_schema(api: TestClient) -> None:
    assert "/metrics" not in api.get("/openapi.json").json()["paths"]


def test_each_app_counts_its_own_requests(api: TestClient, trained_model_dir: Path, tmp_path: Path) -> None:
    api.get("/health")
    api.get("/health")
    settings = make_settings(tmp_path / "second", model_dir=trained_model_dir)
    with TestClient(create_app(settings, build=build_with_fakes)) as second:
        second.get("/health")
        text = second.get("/metrics").text
    assert value(text, "insight_http_requests_total", method="GET", route="/health", status="200") == 1


def test_metrics_can_be_switched_off(trained_model_dir: Path, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, model_dir=trained_model_dir)
    settings.api.metrics = False
    with TestClient(create_app(settings, build=build_with_fakes)) as client:
        assert client.get("/metrics").status_code == 404


def test_ingestion_counts_documents_by_outcome_and_chunks(api: TestClient) -> None:
    assert api.post("/api/v1/collections/handbook/documents", json=DOCS).status_code in (200, 201)
    assert api.post("/api/v1/collections/handbook/documents", json=DOCS).status_code in (200, 201)
    text = api.get("/metrics").text
    assert value(text, "insight_ingested_documents_total", outcome="added") == 2
    assert value(text, "insight_ingested_documents_total", outcome="unchanged") == 2
    assert value(text, "insight_ingested_chunks_total") >= 2


@pytest.mark.anyio
async def test_llm_calls_and_reported_tokens_are_counted() -> None:
    metrics = InsightMetrics()
    usage = {"input_tokens": 7, "output_tokens": 2, "total_tokens": 9}
    model = GenericFakeChatModel(messages=iter([AIMessage("one", usage_metadata=usage), AIMessage("two")]))
    client = LLMClient(model, LLMSettings(provider="none"))
    metrics.watch_llm_client(client)
    await client.ainvoke("hello")
    client.invoke("again")  # no usage reported: counted as a call, no tokens
    text = metrics.render().decode()
    labels = {"provider": "none", "model": client.model_name}
    assert value(text, "insight_llm_calls_total", outcome="ok", **labels) == 2
    assert value(text, "insight_llm_tokens_total", direction="input", **labels) == 7
    assert value(text, "insight_llm_tokens_total", direction="output", **labels) == 2


def test_the_slot_hook_counts_openai_wire_usage_and_failures() -> None:
    metrics = InsightMetrics()
    settings = LLMSettings(provider="openai_compatible", base_url=BASE_URL, model="qwen", max_retries=0)
    slot = LLMSlot(settings, on_client=metrics.watch_llm_client)
    with respx.mock(base_url=BASE_URL) as wire:
        wire.post("/chat/completions").mock(side_effect=[ok(completion("hi")), error(500)])
        client = slot.require()
        client.invoke("hello")
        with pytest.raises(LLMUnavailable):
            client.invoke("hello again")
    text = metrics.render().decode()
    labels = {"provider": "openai_compatible", "model": "qwen"}
    assert value(text, "insight_llm_calls_total", outcome="ok", **labels) == 1
    assert value(text, "insight_llm_calls_total", outcome="error", **labels) == 1
    assert value(text, "insight_llm_tokens_total", direction="input", **labels) == 12
    assert value(text, "insight_llm_tokens_total", direction="output", **labels) == 3
