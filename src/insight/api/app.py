"""``create_app(settings)``: the FastAPI app, its services built in the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from insight import __version__
from insight.api.deps import Services
from insight.api.errors import install_error_handlers
from insight.api.middleware import BodySizeLimit
from insight.api.routes import health, predict
from insight.config import Settings
from insight.predictor.service import PredictorSlot

log = logging.getLogger(__name__)


def build_services(settings: Settings) -> Services:
    slot = PredictorSlot.from_dir(settings.predictor.model_dir)
    if slot.predictor is not None:
        meta = slot.predictor.metadata
        log.info("predictor %s v%s loaded (sha256 %s…)", meta.name, meta.version, meta.sha256[:12])
    else:
        log.error("predictor not loaded: %s", slot.problem)
    return Services(settings=settings, predictor=slot)


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = await anyio.to_thread.run_sync(build_services, settings)
        yield

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
    app.add_middleware(BodySizeLimit, max_bytes=settings.api.max_body_bytes)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(predict.router)
    return app
