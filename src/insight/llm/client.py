"""``LLMClient``: a chat model with its identity, a per-provider concurrency limit, token counting and typed errors."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

import anyio
import tiktoken
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable
from pydantic import BaseModel

from insight.config import LLMSettings
from insight.llm.errors import translate_llm_errors
from insight.llm.structured import StructuredCall, load_repair_prompt, model_name_of
from insight.prompts import Prompt
from insight.tokens import DEFAULT_ENCODING, SUPPORTED_ENCODINGS, count_tokens, get_encoding

T = TypeVar("T", bound=BaseModel)


def encoding_name_for(settings: LLMSettings) -> str:
    """tiktoken's encoding for an OpenAI model when it is one we ship offline, else ``cl100k_base``.

    For other models (the local Qwen, most OpenAI-compatible servers) the count is an estimate.
    """
    if settings.provider == "openai" and settings.model:
        try:
            name = tiktoken.encoding_name_for_model(settings.model)
        except KeyError:
            return DEFAULT_ENCODING
        return name if name in SUPPORTED_ENCODINGS else DEFAULT_ENCODING
    return DEFAULT_ENCODING


class LLMClient:
    """What callers hold instead of a bare model: at most ``capacity`` calls in flight, typed errors.

    ``capacity`` is ``settings.concurrency``, except for the local model, where it is 1: llama.cpp runs
    one generation at a time anyway, and waiting here (cancellable, no thread) beats waiting on its lock.
    ``repair_prompt`` words the one repair attempt of structured calls (None: the shipped ``llm_repair``,
    loaded on first use); ``repair_metadata`` identifies it for responses and tracked runs.
    """

    def __init__(
        self,
        model: BaseChatModel,
        settings: LLMSettings,
        *,
        encoding: tiktoken.Encoding | None = None,
        repair_prompt: Prompt | None = None,
    ) -> None:
        self.model = model
        self.settings = settings
        self.provider: str = settings.provider
        self.model_name = model_name_of(model, settings)
        self.capacity = 1 if settings.provider == "local" else settings.concurrency
        self._slots = anyio.Semaphore(self.capacity)
        self._sync_slots = threading.BoundedSemaphore(self.capacity)
        self._encoding = encoding
        self._repair_prompt = repair_prompt
        self._structured: dict[tuple[type[BaseModel], str], StructuredCall[Any]] = {}
        self._runnables: dict[tuple[type[BaseModel], str], Runnable[LanguageModelInput, Any]] = {}

    @property
    def in_flight(self) -> int:
        """Async calls holding a slot now."""
        return self.capacity - self._slots.value

    @property
    def repair_prompt(self) -> Prompt:
        if self._repair_prompt is None:
            self._repair_prompt = load_repair_prompt()
        return self._repair_prompt

    @property
    def repair_metadata(self) -> dict[str, str | int]:
        """The repair prompt's name, version and sha256, keyed like ``Prompt.metadata`` with ``repair_`` in front."""
        return {f"repair_{key}": value for key, value in self.repair_prompt.metadata.items()}

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` by tiktoken (offline); exact for OpenAI models, an estimate for others."""
        if self._encoding is None:
            self._encoding = get_encoding(encoding_name_for(self.settings))
        return count_tokens(text, self._encoding)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the provider's concurrency slots (for callers driving the model themselves)."""
        async with self._slots:
            yield

    @contextmanager
    def sync_slot(self) -> Iterator[None]:
        with self._sync_slots:
            yield

    def call_params(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """A prompt's model parameters as this provider's call arguments.

        Every provider takes ``temperature``/``max_tokens``/… as call arguments (llama.cpp's
        ``create_chat_completion``; ChatOpenAI sends ``max_tokens`` as ``max_completion_tokens``). An
        OpenAI-compatible server may read only ``max_tokens``, so it is sent in the body under that name too.
        """
        values = dict(params or {})
        if self.provider == "openai_compatible" and "max_tokens" in values:
            extra = dict(values.get("extra_body") or {})
            extra["max_tokens"] = values["max_tokens"]
            values["extra_body"] = extra
        return values

    def _structured_call(self, schema: type[T], params: Mapping[str, Any] | None) -> StructuredCall[T]:
        """One ``StructuredCall`` per (schema, call arguments), built on first use and reused."""
        call = self.call_params(params)
        key = (schema, json.dumps(call, sort_keys=True, default=str))
        found = self._structured.get(key)
        if found is None:
            found = self._structured[key] = StructuredCall(self.model, schema, self.settings, call, self.repair_prompt)
        return found

    def structured_runnable(
        self, schema: type[T], params: Mapping[str, Any] | None = None
    ) -> Runnable[LanguageModelInput, T]:
        """The schema-validated runnable for this backend (no slot: compose it, or use ``astructured``)."""
        call = self.call_params(params)
        key = (schema, json.dumps(call, sort_keys=True, default=str))
        runnable = self._runnables.get(key)
        if runnable is None:
            runnable = self._runnables[key] = self._structured_call(schema, params).runnable()
        return runnable

    async def ainvoke(self, value: LanguageModelInput, **kwargs: Any) -> AIMessage:
        async with self._slots:
            with translate_llm_errors(self.provider, self.model_name):
                message = await self.model.ainvoke(value, **self.call_params(kwargs))
        return _as_ai_message(message)

    def invoke(self, value: LanguageModelInput, **kwargs: Any) -> AIMessage:
        with self._sync_slots, translate_llm_errors(self.provider, self.model_name):
            message = self.model.invoke(value, **self.call_params(kwargs))
        return _as_ai_message(message)

    async def astructured(
        self, value: LanguageModelInput, schema: type[T], params: Mapping[str, Any] | None = None
    ) -> T:
        """A validated ``schema`` instance (one repair attempt), or ``OutputParseError``/another LLM error.

        ``params``: call arguments such as a prompt's ``model_params`` (temperature, max_tokens).
        """
        call = self._structured_call(schema, params)  # called directly: no runnable layer per request
        async with self._slots:
            result = await call.arun(value)
        return _as_schema(result, schema)

    def structured(self, value: LanguageModelInput, schema: type[T], params: Mapping[str, Any] | None = None) -> T:
        call = self._structured_call(schema, params)
        with self._sync_slots:
            result = call.run(value)
        return _as_schema(result, schema)


def _as_ai_message(message: BaseMessage) -> AIMessage:
    if not isinstance(message, AIMessage):  # pragma: no cover - chat models return AIMessage
        raise TypeError(f"expected an AIMessage from the chat model, got {type(message).__name__}")
    return message


def _as_schema(result: object, schema: type[T]) -> T:
    if not isinstance(result, schema):  # pragma: no cover - structured() only returns schema instances
        raise TypeError(f"expected {schema.__name__}, got {type(result).__name__}")
    return result
