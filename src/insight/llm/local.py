"""The embedded chat model: llama.cpp in-process (``ChatLlamaCpp``) made safe to share.

llama.cpp is not thread-safe, so every call into the ``Llama`` instance goes through one lock (held for
the whole of a streamed generation); async calls run in a worker thread, never on the event loop; and a
generation that outlives ``timeout_s`` is stopped between tokens and raised as ``LLMTimeout``.
"""

from __future__ import annotations

import functools
import threading
import time
import warnings
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Any, Literal

import anyio.to_thread
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from pydantic import Field, model_validator

from insight.config import LLMSettings
from insight.errors import LLMTimeout, LLMUnavailable
from insight.llm.local_model import LOCAL_MODEL_NAME, assemble_model

with warnings.catch_warnings():
    # langchain-community warns on import that it is being sunset; ChatLlamaCpp still works as is.
    warnings.simplefilter("ignore", DeprecationWarning)
    from langchain_community.chat_models.llamacpp import ChatLlamaCpp

PROVIDER = "local"
_SENTINEL = object()


class _LockedLlama:
    """Stands in for ``llama_cpp.Llama`` as ``ChatLlamaCpp.client``: chat completions run under one lock.

    A completion is always generated as a stream so that it can stop between tokens once ``timeout_s``
    has passed; a non-streamed request is aggregated back into the non-streamed response shape.
    """

    def __init__(self, llama: Any, lock: threading.Lock, timeout_s: float | None, model_name: str) -> None:
        self.llama = llama
        self._lock = lock
        self._timeout_s = timeout_s
        self._model_name = model_name

    def __getattr__(self, name: str) -> Any:
        return getattr(self.llama, name)

    def create_chat_completion(self, *, stream: bool = False, **kwargs: Any) -> Any:
        chunks = self._locked_stream(kwargs)
        return chunks if stream else _aggregate(chunks)

    def _locked_stream(self, kwargs: dict[str, Any]) -> Iterator[dict[str, Any]]:
        with self._lock:
            deadline = None if self._timeout_s is None else time.monotonic() + self._timeout_s
            chunks = self.llama.create_chat_completion(stream=True, **kwargs)
            try:
                for chunk in chunks:
                    yield chunk
                    if deadline is not None and time.monotonic() > deadline:
                        raise LLMTimeout(
                            f"LLM provider {PROVIDER!r} (model {self._model_name!r}) did not finish within "
                            f"{self._timeout_s:g} s; lower max_tokens or raise INSIGHT_LLM__TIMEOUT_S"
                        )
            finally:
                chunks.close()


def _aggregate(chunks: Iterator[dict[str, Any]]) -> dict[str, Any]:
    """Fold OpenAI-style stream chunks into one non-streamed chat completion (content and tool calls)."""
    content: list[str] = []
    tool_calls: dict[int, dict[str, Any]] = {}
    finish_reason = None
    first: dict[str, Any] = {}
    n_chunks = 0
    for chunk in chunks:
        first = first or chunk
        if not chunk.get("choices"):
            continue
        choice = chunk["choices"][0]
        finish_reason = choice.get("finish_reason") or finish_reason
        delta = choice.get("delta") or {}
        if delta.get("content"):
            content.append(delta["content"])
            n_chunks += 1
        for call in delta.get("tool_calls") or []:
            slot = tool_calls.setdefault(
                call.get("index", 0), {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
            )
            slot["id"] = slot["id"] or call.get("id")
            function = call.get("function") or {}
            slot["function"]["name"] = slot["function"]["name"] or function.get("name") or ""
            if function.get("arguments"):
                slot["function"]["arguments"] += function["arguments"]
                n_chunks += 1
    message: dict[str, Any] = {"role": "assistant", "content": "".join(content) or None}
    if tool_calls:
        message["tool_calls"] = [tool_calls[index] for index in sorted(tool_calls)]
    return {
        "id": first.get("id"),
        "object": "chat.completion",
        "created": first.get("created"),
        "model": first.get("model"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"completion_chunks": n_chunks},
    }


class LocalChatModel(ChatLlamaCpp):
    """``ChatLlamaCpp`` that is safe to share between threads and tasks (see the module docstring)."""

    streaming: bool = False
    # Streamed tool calls repeat the tool name in every chunk, which LangChain's chunk merge concatenates:
    # structured output (a forced tool call) is always generated whole, even under astream/astream_events.
    disable_streaming: bool | Literal["tool_calling"] = "tool_calling"
    timeout_s: float | None = Field(default=None, gt=0)
    model_name: str = LOCAL_MODEL_NAME

    @model_validator(mode="after")
    def _wrap_client(self) -> LocalChatModel:
        if not isinstance(self.client, _LockedLlama):
            self.client = _LockedLlama(self.client, threading.Lock(), self.timeout_s, self.model_name)
        return self

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        sync_manager = run_manager.get_sync() if run_manager else None
        call = functools.partial(self._generate, messages, stop, sync_manager, **kwargs)
        return await anyio.to_thread.run_sync(call)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        sync_manager = run_manager.get_sync() if run_manager else None
        chunks = self._stream(messages, stop, sync_manager, **kwargs)
        assert isinstance(chunks, Generator)
        try:
            while True:
                chunk = await anyio.to_thread.run_sync(next, chunks, _SENTINEL)
                if chunk is _SENTINEL:
                    return
                assert isinstance(chunk, ChatGenerationChunk)
                yield chunk
        finally:
            chunks.close()  # releases the lock if the consumer stopped early


def build_local_chat_model(settings: LLMSettings, model_path: Path | None = None) -> LocalChatModel:
    """The embedded model, assembled into ``settings.model_cache`` on first use (or ``model_path`` as given)."""
    path = model_path if model_path is not None else assemble_model(settings.model_cache)
    name = LOCAL_MODEL_NAME if model_path is None else model_path.stem
    try:
        return LocalChatModel(
            model_path=str(path),
            model_name=name,
            n_ctx=settings.n_ctx,
            n_threads=settings.n_threads,
            # llama.cpp evaluates prompts with cpu_count() threads unless told: on a busy 2-core machine
            # a second thread makes prompt evaluation several times slower, so both use n_threads.
            model_kwargs={"n_threads_batch": settings.n_threads},
            n_batch=512,
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
            timeout_s=settings.call_timeout_s,
            verbose=False,
        )
    except ImportError as exc:
        raise LLMUnavailable(
            "LLM provider 'local' needs llama-cpp-python: pip install llama-cpp-python==0.3.36 "
            f"(it compiles llama.cpp, several minutes on 2 cores) ({exc})"
        ) from exc
    except ValueError as exc:
        raise LLMUnavailable(f"LLM provider 'local' cannot load {path}: {exc}") from exc
