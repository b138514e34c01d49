"""Per-request timeout: 504 with a message when no response has started in time; started responses run on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient

from insight.api.app import create_app
from insight.api.middleware import RequestTimeout
from insight.observability.middleware import RequestContext
from tests.api.conftest import build_with_fakes
from tests.conftest import make_settings


def timed_app(timeout_s: float) -> FastAPI:
    app = FastAPI()

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        await anyio.sleep(10)
        return {"done": "late"}

    @app.get("/fast")
    async def fast() -> dict[str, str]:
        return {"done": "now"}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def parts() -> AsyncIterator[bytes]:
            yield b"first "
            await anyio.sleep(timeout_s * 3)
            yield b"second"

        return StreamingResponse(parts(), media_type="text/plain")

    app.add_middleware(RequestTimeout, timeout_s=timeout_s)
    app.add_middleware(RequestContext, metrics=None, log_access=False)
    return app


def test_a_request_past_the_limit_gets_a_504_with_a_message() -> None:
    with TestClient(timed_app(0.2)) as client:
        response = client.get("/slow")
    assert response.status_code == 504
    body = response.json()
    assert body["code"] == "timeout" and "0.2 s" in body["message"]
    assert "INSIGHT_API__REQUEST_TIMEOUT_S" in body["message"]
    assert len(response.headers["X-Request-ID"]) == 32


def test_a_fast_request_is_untouched() -> None:
    with TestClient(timed_app(0.2)) as client:
        response = client.get("/fast")
    assert response.status_code == 200 and response.json() == {"done": "now"}


def test_a_streamed_response_that_started_in_time_is_not_cut() -> None:
    with TestClient(timed_app(0.1)) as client:
        response = client.get("/stream")
    assert response.status_code == 200 and response.text == "first second"


def test_the_app_takes_its_timeout_from_settings(trained_model_dir: Path, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, model_dir=trained_model_dir)
    settings.api.request_timeout_s = 7.5
    app = create_app(settings, build=build_with_fakes)
    timeouts = [m.kwargs["timeout_s"] for m in app.user_middleware if m.cls is RequestTimeout]
    assert timeouts == [7.5]
    assert app.user_middleware[0].cls is RequestContext  # outermost: 504s and 413s are logged and counted
