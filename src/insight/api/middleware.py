"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs throughput on every request)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from insight.api.errors import error_response


class BodySizeLimit:
    """Refuse with 413 a request whose declared Content-Length is over the limit.

    Bodies without a length (chunked) are checked by the routes that read them.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"content-length":
                    if value.isdigit() and int(value) > self.max_bytes:
                        response = error_response(
                            413,
                            "payload_too_large",
                            f"request body is {int(value)} bytes; the limit is {self.max_bytes}",
                        )
                        await response(scope, receive, send)
                        return
                    break
        await self.app(scope, receive, send)
