"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs throughput on every request)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

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
