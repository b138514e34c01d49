"""OpenAI, or any OpenAI-compatible server (vLLM, Ollama, llama.cpp server) through ``base_url``.

Timeouts and retries are the OpenAI SDK's own: ``max_retries`` retries on connection errors, timeouts,
408/409/429 and 5xx with exponential backoff (0.5 s doubling, capped at 8 s, with jitter) or the delay a
``retry-after``/``retry-after-ms`` header asks for.
"""

from __future__ import annotations

import os
import select
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from insight.config import LLMSettings
from insight.errors import ConfigError

# OpenAI-compatible servers usually ignore the key, but the SDK refuses to start without one.
PLACEHOLDER_KEY = "not-needed"


def build_openai_chat_model(settings: LLMSettings) -> ChatOpenAI:
    """``ChatOpenAI`` for provider ``openai`` (api.openai.com unless ``base_url``) or ``openai_compatible``."""
    if settings.provider not in ("openai", "openai_compatible"):
        raise ConfigError(f"build_openai_chat_model does not handle provider {settings.provider!r}")
    if not settings.model:
        raise ConfigError(f"LLM provider {settings.provider!r} needs a model name: set INSIGHT_LLM__MODEL")
    api_key = settings.api_key or os.environ.get("OPENAI_API_KEY")
    if not api_key:
        if settings.provider == "openai":
            raise ConfigError("LLM provider 'openai' needs an API key: set INSIGHT_LLM__API_KEY (or OPENAI_API_KEY)")
        api_key = PLACEHOLDER_KEY
    model = ChatOpenAI(
        model=settings.model,
        base_url=settings.base_url,
        api_key=SecretStr(api_key),
        timeout=settings.call_timeout_s,
        max_retries=settings.max_retries,
        temperature=settings.temperature,
        max_completion_tokens=settings.max_tokens,
        # langchain-openai sends only max_completion_tokens; older compatible servers read max_tokens.
        extra_body={"max_tokens": settings.max_tokens} if settings.provider == "openai_compatible" else None,
    )
    cache_pool_sockets(model)
    return model


class _SocketCachingStream(httpcore.AsyncNetworkStream):
    """A network stream that answers httpcore's ``is_readable`` check from its socket, looked up once.

    httpcore asks every pooled connection ``has_expired`` (→ ``get_extra_info("is_readable")``) each time it
    assigns a request or releases one; through anyio each ask rebuilds the socket's attribute table (a
    ``getpeername`` system call among it). With sixteen pooled connections that was a tenth of the
    service's CPU per ``/analyze`` call. The answer (a zero-timeout poll of the socket) is unchanged.
    """

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream
        self._socket: socket.socket | None = stream.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpcore.AsyncNetworkStream:
        return _SocketCachingStream(await self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._socket is not None:
            return _is_readable(self._socket)
        return self._stream.get_extra_info(info)


def _is_readable(sock: socket.socket) -> bool:
    """httpcore's own test: a closed socket counts as readable (its next read is the end)."""
    fd = sock.fileno()
    if fd < 0:
        return True
    if not hasattr(select, "poll"):  # pragma: no cover - Windows
        ready, _, _ = select.select([fd], [], [], 0)
        return bool(ready)
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    return bool(poll.poll(0))


class SocketCachingBackend(httpcore.AsyncNetworkBackend):
    """Wraps httpcore's network backend so that its streams are ``_SocketCachingStream``s."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self.inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self.inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _SocketCachingStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _SocketCachingStream(await self.inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def cache_pool_sockets(model: ChatOpenAI) -> bool:
    """Put ``SocketCachingBackend`` under the connection pools of the model's async HTTP client.

    The client is the one langchain-openai built (its timeouts, socket options and proxy handling kept);
    the pools are reached through httpx/httpcore attributes that are not public, so when they are not
    there (another version) nothing changes and False comes back.
    """
    client = getattr(model.root_async_client, "_client", None)
    if not isinstance(client, httpx.AsyncClient):
        return False
    transports = [getattr(client, "_transport", None), *getattr(client, "_mounts", {}).values()]
    changed = False
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(pool, httpcore.AsyncConnectionPool) and isinstance(backend, httpcore.AsyncNetworkBackend):
            if not isinstance(backend, SocketCachingBackend):
                pool._network_backend = SocketCachingBackend(backend)
            changed = True
    return changed
