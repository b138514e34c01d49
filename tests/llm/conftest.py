"""LLM test helpers: OpenAI wire-format responses and a fast retry backoff."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai._base_client
import pytest

BASE_URL = "http://llm.test/v1"


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's exponential backoff starts at 1 ms instead of 0.5 s (same schedule, shorter)."""
    monkeypatch.setattr(openai._base_client, "INITIAL_RETRY_DELAY", 0.001)


def completion(content: str | None = "hello", *, tool: tuple[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """A chat.completion body as OpenAI (and llama.cpp server, vLLM, Ollama) send it."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    finish = "stop"
    if tool is not None:
        name, arguments = tool
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
            ],
        }
        finish = "tool_calls"
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "qwen",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    }


def ok(body: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json=body)


def error(status: int, message: str = "boom", **headers: str) -> httpx.Response:
    """An OpenAI-style error body; ``retry_after_ms="1"`` keeps the SDK's wait short."""
    return httpx.Response(
        status,
        json={"error": {"message": message, "type": "server_error", "code": None}},
        headers={key.replace("_", "-"): value for key, value in headers.items()},
    )
