"""``RequestContext``: a request id on every request, its log records and its response; one access line; metrics."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from insight.observability.logging import REQUEST_ID
from insight.observability.metrics import UNMATCHED_ROUTE, InsightMetrics

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is kept only if it is short and plain: it goes into every log line of the request.
_ACCEPTED_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
access_log = logging.getLogger("insight.access")


def request_id_from(scope: Scope) -> str:
    """The caller's ``X-Request-ID`` when it is acceptable, else a fresh one."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _ACCEPTED_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/api/v1/collections/{name}``), never the raw path."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else UNMATCHED_ROUTE


class RequestContext:
    """Outermost middleware: sets the request id for the request's logs, echoes it, logs and measures the request."""

    def __init__(self, app: ASGIApp, metrics: InsightMetrics | None = None, log_access: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.log_access = log_access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500  # what the server sends if the app raises before starting a response

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            method = scope["method"]
            if self.metrics is not None:
                self.metrics.observe_request(method, route_template(scope), status, seconds)
            if self.log_access:
                client = scope.get("client")
                access_log.info(
                    "%s %s %d %.1f ms",
                    method,
                    scope["path"],
                    status,
                    seconds * 1000,
                    extra={
                        "method": method,
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(seconds * 1000, 3),
                        "client": client[0] if client else None,
                    },
                )
            REQUEST_ID.reset(token)
