"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs throughput on every request)."""

from __future__ import annotations

import math

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from insight.api.errors import error_response


class BodySizeLimit:
    """Refuse with 413 a request whose declared Content-Length is over the limit.

    Multipart uploads get their own, larger limit (each file is checked again by its route).
    Bodies without a length (chunked) are checked by the routes that read them.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, upload_max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            length = headers.get(b"content-length", b"")
            if length.isdigit():
                multipart = headers.get(b"content-type", b"").startswith(b"multipart/form-data")
                limit = self.upload_max_bytes if multipart else self.max_bytes
                if int(length) > limit:
                    response = error_response(
                        413, "payload_too_large", f"request body is {int(length)} bytes; the limit is {limit}"
                    )
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


class RequestTimeout:
    """Answer 504 when no response has started within ``timeout_s``; a started (streamed) response runs on.

    The handler is cancelled at its next await. Work in a worker thread cannot be cancelled: the 504 then
    goes out when the thread returns, so CPU work keeps its own bounds (row and batch limits, LLM timeout).
    """

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_and_note(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                deadline.deadline = math.inf
            await send(message)

        with anyio.CancelScope(deadline=anyio.current_time() + self.timeout_s) as deadline:
            await self.app(scope, receive, send_and_note)
        if deadline.cancelled_caught and not started:
            response = error_response(
                504,
                "timeout",
                f"the request took longer than {self.timeout_s:g} s; the limit is INSIGHT_API__REQUEST_TIMEOUT_S",
            )
            await response(scope, receive, send)
