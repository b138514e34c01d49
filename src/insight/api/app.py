"""``create_app(settings)``: the FastAPI app, its services built in the lifespan."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from insight import __version__
from insight.api.deps import Services
from insight.api.errors import install_error_handlers
from insight.api.middleware import BodySizeLimit, RequestTimeout
from insight.api.routes import analyze, ask, documents, evals, health, predict, search
from insight.config import Settings
from insight.llm.slot import LLMSlot
from insight.observability.metrics import InsightMetrics, metrics_endpoint
from insight.observability.middleware import RequestContext
from insight.predictor.service import PredictorSlot
from insight.prompts import PromptRegistry
from insight.rag.factory import RagSlot
from insight.workbench.routes import mount_workbench

log = logging.getLogger(__name__)


def build_services(settings: Settings) -> Services:
    slot = PredictorSlot.from_dir(settings.predictor.model_dir)
    if slot.predictor is not None:
        meta = slot.predictor.metadata
        log.info("predictor %s v%s loaded (sha256 %s…)", meta.name, meta.version, meta.sha256[:12])
    else:
        log.error("predictor not loaded: %s", slot.problem)
    prompts = PromptRegistry(settings.prompts_dir)
    return Services(
        settings=settings,
        predictor=slot,
        rag=RagSlot(settings).start(),
        llm=LLMSlot(settings.llm, prompts=prompts),
        prompts=prompts,
    )


def create_app(settings: Settings, build: Callable[[Settings], Services] = build_services) -> FastAPI:
    """The app; ``build`` makes its services at start-up (tests pass one with fakes)."""

    metrics = InsightMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await anyio.to_thread.run_sync(build, settings)
        metrics.watch(services)
        app.state.services = services
        python_threshold = gc.get_threshold()
        gc.set_threshold(*settings.api.gc_threshold)
        if settings.api.gc_freeze:
            # Imports and services leave ~440,000 long-lived objects; one full collection walking them all
            # takes ~0.2 s on this machine, and under load that pause lands on whatever requests are in
            # flight (bench/llm_overhead.py p99 ~360 ms without this, ~255 ms with it; docs/benchmarks.md).
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:  # several apps in one process (tests) must not pile up frozen objects
            gc.set_threshold(*python_threshold)
            if settings.api.gc_freeze:
                gc.unfreeze()
        await services.evals.aclose()  # evaluation runs still going are cancelled, not orphaned

    app = FastAPI(
        title="Insight",
        version=__version__,
        description="Structured analysis, semantic search, prompt evaluation runs and "
        "classical prediction — offline by default.",
        lifespan=lifespan,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.api.cors_origins,
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["Content-Type", "Authorization", "X-API-Key"],
    )
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.api.max_body_bytes,
        upload_max_bytes=settings.search.max_upload_bytes * 4,
    )
    app.add_middleware(RequestTimeout, timeout_s=settings.api.request_timeout_s)
    # Added last, so outermost: 413s, 504s and errors get a request id, an access line and metrics too.
    app.add_middleware(RequestContext, metrics=metrics, log_access=settings.api.access_log)
    app.state.metrics = metrics
    install_error_handlers(app)
    if settings.api.metrics:
        app.add_api_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
    app.include_router(health.router)
    app.include_router(predict.router)
    app.include_router(documents.router)
    app.include_router(search.router)
    app.include_router(ask.router)
    app.include_router(analyze.router)
    app.include_router(evals.router)
    mount_workbench(app)
    return app
