"""Prometheus metrics, one registry per app: requests, latencies, LLM calls and tokens, ingestion counts."""

from __future__ import annotations

from typing import Any, Protocol
from uuid import UUID

from fastapi import Request
from fastapi.responses import Response
from langchain_core.callbacks import BaseCallbackHandler, BaseCallbackManager
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from insight.llm.client import LLMClient
from insight.llm.slot import LLMSlot
from insight.rag.factory import RagSlot
from insight.rag.ingest import IngestReport
from insight.rag.service import RagService

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
UNMATCHED_ROUTE = "unmatched"
"""The route label of a request no route matched (a 404 path is not a label: that would be unbounded)."""


class WatchedServices(Protocol):
    """What ``InsightMetrics.watch`` hooks into: the API's ``Services`` is one (this layer does not import api)."""

    @property
    def llm(self) -> LLMSlot: ...

    @property
    def rag(self) -> RagSlot: ...


class InsightMetrics:
    """The service's metrics on their own ``CollectorRegistry`` (two apps in one process do not share counts)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "insight_http_requests",
            "HTTP requests served, by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "insight_http_request_duration_seconds",
            "Time from request to the end of the response, by route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.llm_calls = Counter(
            "insight_llm_calls",
            "Chat model calls, by provider, model and outcome (ok|error)",
            ["provider", "model", "outcome"],
            registry=self.registry,
        )
        self.llm_tokens = Counter(
            "insight_llm_tokens",
            "Tokens the chat model reported, by direction (input|output)",
            ["provider", "model", "direction"],
            registry=self.registry,
        )
        self.ingested_documents = Counter(
            "insight_ingested_documents",
            "Documents given to ingestion, by outcome (added|updated|unchanged|failed)",
            ["outcome"],
            registry=self.registry,
        )
        self.ingested_chunks = Counter(
            "insight_ingested_chunks",
            "Chunks embedded and written to the vector store",
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def observe_ingest(self, _collection: str, report: IngestReport) -> None:
        for outcome, count in (
            ("added", len(report.added)),
            ("updated", len(report.updated)),
            ("unchanged", len(report.unchanged)),
            ("failed", len(report.failed)),
        ):
            if count:
                self.ingested_documents.labels(outcome).inc(count)
        if report.chunks_embedded:
            self.ingested_chunks.inc(report.chunks_embedded)

    def watch_llm_client(self, client: LLMClient) -> None:
        """Count every call of the client's chat model (structured and streamed ones too) and its tokens."""
        add_callback(client.model, LLMMetricsCallback(self, client.provider, client.model_name))

    def watch_rag_service(self, service: RagService) -> None:
        service.on_ingest = self.observe_ingest

    def watch(self, services: WatchedServices) -> None:
        """Hook the services' LLM client and search service, now if built, else when their slot builds them."""
        if services.llm.client is not None:
            self.watch_llm_client(services.llm.client)
        services.llm.on_client = self.watch_llm_client
        if services.rag.service is not None:
            self.watch_rag_service(services.rag.service)
        services.rag.on_service = self.watch_rag_service

    def render(self) -> bytes:
        return generate_latest(self.registry)


class LLMMetricsCallback(BaseCallbackHandler):
    """LangChain callback on the chat model itself: it fires for every call whatever runnable wraps the model."""

    run_inline = True  # counter increments: no need for LangChain's thread pool

    def __init__(self, metrics: InsightMetrics, provider: str, model: str) -> None:
        self.metrics = metrics
        self.provider = provider
        self.model = model

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, parent_run_id: UUID | None = None, **_: Any) -> None:
        self.metrics.llm_calls.labels(self.provider, self.model, "ok").inc()
        input_tokens, output_tokens = reported_usage(response)
        if input_tokens:
            self.metrics.llm_tokens.labels(self.provider, self.model, "input").inc(input_tokens)
        if output_tokens:
            self.metrics.llm_tokens.labels(self.provider, self.model, "output").inc(output_tokens)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **_: Any) -> None:
        self.metrics.llm_calls.labels(self.provider, self.model, "error").inc()


def reported_usage(response: LLMResult) -> tuple[int, int]:
    """(input, output) tokens from the messages' ``usage_metadata``, else the provider's ``token_usage``."""
    input_tokens = output_tokens = 0
    found = False
    for generations in response.generations:
        for generation in generations:
            message = generation.message if isinstance(generation, ChatGeneration) else None
            usage = message.usage_metadata if isinstance(message, AIMessage) else None
            if usage:
                found = True
                input_tokens += usage.get("input_tokens", 0)
                output_tokens += usage.get("output_tokens", 0)
    if not found and response.llm_output:
        token_usage = response.llm_output.get("token_usage") or {}
        input_tokens = int(token_usage.get("prompt_tokens", 0) or 0)
        output_tokens = int(token_usage.get("completion_tokens", 0) or 0)
    return input_tokens, output_tokens


def add_callback(model: Any, handler: BaseCallbackHandler) -> None:
    """Append ``handler`` to a LangChain model's own callbacks (a list, a manager, or none yet)."""
    callbacks = model.callbacks
    if isinstance(callbacks, BaseCallbackManager):
        callbacks.add_handler(handler, inherit=False)
    else:
        model.callbacks = [*(callbacks or []), handler]


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus text exposition of this app's registry."""
    metrics: InsightMetrics = request.app.state.metrics
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
