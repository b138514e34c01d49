"""The OpenAI client's pooled connections answer httpcore's ``is_readable`` from a socket looked up once."""

from __future__ import annotations

import socket
from typing import Any

import anyio
import httpcore
import pytest
from anyio.abc import SocketAttribute
from anyio.abc import SocketStream as AnyioSocketStream

from insight.config import LLMSettings
from insight.llm.openai import SocketCachingBackend, _SocketCachingStream, build_openai_chat_model


class SocketStream(httpcore.AsyncNetworkStream):
    """A stand-in for anyio's stream: counts how often its extra info is asked for."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.asked: list[str] = []

    def get_extra_info(self, info: str) -> Any:
        self.asked.append(info)
        return self.sock if info == "socket" else f"{info}-value"


def test_readability_follows_the_socket_and_other_info_is_passed_through() -> None:
    ours, peer = socket.socketpair()
    inner = SocketStream(ours)
    stream = _SocketCachingStream(inner)
    try:
        assert stream.get_extra_info("is_readable") is False  # idle, nothing sent
        peer.sendall(b"x")
        assert stream.get_extra_info("is_readable") is True  # the server said something (or closed)
        assert stream.get_extra_info("server_addr") == "server_addr-value"
        assert inner.asked == ["socket", "server_addr"]  # the socket looked up once, at the start
    finally:
        peer.close()
        ours.close()
    assert stream.get_extra_info("is_readable") is True  # a closed socket reads as its end


@pytest.mark.parametrize("provider", ["openai_compatible", "openai"])
def test_the_chat_model_pools_use_the_socket_caching_backend(provider: str) -> None:
    settings = LLMSettings(provider=provider, model="m", base_url="http://127.0.0.1:9/v1", api_key="k")
    model = build_openai_chat_model(settings)
    pool = model.root_async_client._client._transport._pool
    assert isinstance(pool._network_backend, SocketCachingBackend)


COMPLETION = (
    b'{"id":"c","object":"chat.completion","created":0,"model":"m","choices":[{"index":0,'
    b'"message":{"role":"assistant","content":"pong"},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}'
)


@pytest.mark.anyio
async def test_calls_over_a_pooled_loopback_connection_go_through(anyio_backend: str) -> None:
    connections: list[int] = []

    async def serve(client: AnyioSocketStream) -> None:
        connections.append(1)
        buffered = b""
        async with client:
            while True:
                while b"\r\n\r\n" not in buffered:
                    try:
                        buffered += await client.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        return
                head, _, buffered = buffered.partition(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                while len(buffered) < length:
                    buffered += await client.receive()
                buffered = buffered[length:]
                await client.send(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"content-length: {len(COMPLETION)}\r\n\r\n".encode()
                    + COMPLETION
                )

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(SocketAttribute.local_port)
    settings = LLMSettings(provider="openai_compatible", model="m", base_url=f"http://127.0.0.1:{port}/v1")
    model = build_openai_chat_model(settings)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(listener.serve, serve)
        replies = [await model.ainvoke("ping") for _ in range(3)]
        tasks.cancel_scope.cancel()
    await listener.aclose()
    assert [reply.text for reply in replies] == ["pong"] * 3
    assert connections == [1]  # one keep-alive connection, found idle and not expired each time
