"""Liveness (the process answers) and readiness (each part can do its job)."""

from __future__ import annotations

from pathlib import Path

import anyio.to_thread
import httpx
from fastapi import APIRouter, Response

from insight import __version__
from insight.api.deps import ServicesDep
from insight.api.schemas.health import Health, PartStatus, Readiness
from insight.config import TrackingSettings
from insight.errors import InsightError

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="Liveness")
async def health() -> Health:
    return Health(status="ok", version=__version__)


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "a configured part is not ready"}},
    summary="Readiness of each part",
)
async def ready(services: ServicesDep, response: Response) -> Readiness:
    slot = services.predictor
    if slot.predictor is not None:
        meta = slot.predictor.metadata
        predictor = PartStatus(status="ok", detail=f"{meta.name} v{meta.version}")
    else:
        predictor = PartStatus(status="error", detail=slot.problem)
    parts = {
        "predictor": predictor,
        "vectorstore": await _vectorstore_status(services),
        "llm": _llm_status(services),
        "tracking": await _tracking_status(services.settings.tracking),
    }
    # Tracking is reported but does not gate readiness: serving never calls MLflow (only training and
    # evaluation runs do), so a replica keeps taking traffic while MLflow is down.
    is_ready = all(part.status != "error" for name, part in parts.items() if name != "tracking")
    if not is_ready:
        response.status_code = 503
    return Readiness(ready=is_ready, parts=parts)


def _llm_status(services: ServicesDep) -> PartStatus:
    slot = services.llm
    if not slot.configured:
        return PartStatus(status="not configured")
    if slot.client is not None:
        return PartStatus(status="ok", detail=f"{slot.client.provider}: {slot.client.model_name}")
    if slot.problem:
        return PartStatus(status="error", detail=slot.problem)
    return PartStatus(status="ok", detail=f"{slot.settings.provider}: loads on first use")


async def _vectorstore_status(services: ServicesDep) -> PartStatus:
    settings = services.settings.vectorstore
    where = f"chroma server {settings.host}:{settings.port}" if settings.host else f"embedded {settings.path}"
    try:
        rag = await anyio.to_thread.run_sync(services.rag.require)
        await anyio.to_thread.run_sync(rag.store.heartbeat)
    except InsightError as exc:
        return PartStatus(status="error", detail=f"{where}: {exc.message}")
    return PartStatus(status="ok", detail=where)


async def _tracking_status(settings: TrackingSettings) -> PartStatus:
    uri = settings.uri
    if uri.startswith("sqlite:///"):
        folder = Path(uri.removeprefix("sqlite:///")).parent
        writable = await anyio.to_thread.run_sync(_writable_folder, folder)
        if writable:
            return PartStatus(status="ok", detail=uri)
        return PartStatus(status="error", detail=f"{folder} cannot be created or written")
    if uri.startswith(("http://", "https://")):
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                reply = await client.get(uri.rstrip("/") + "/health")
        except httpx.HTTPError as exc:
            return PartStatus(status="error", detail=f"{uri} unreachable: {type(exc).__name__}")
        if reply.status_code == 200:
            return PartStatus(status="ok", detail=uri)
        return PartStatus(status="error", detail=f"{uri} answered HTTP {reply.status_code}")
    return PartStatus(status="ok", detail=uri)


def _writable_folder(folder: Path) -> bool:
    import os

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)
