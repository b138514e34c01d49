"""A chat client that records its outputs, so an evaluation re-run replays them instead of calling the model.

``CachingLLMClient`` is an ``LLMClient``: evaluation hands it to the services it builds (``build_answerer``),
which call it as they call any client, so a scorer runs the real service method and only the model calls
are replayed. It shares the wrapped client's model, identity, concurrency slots and token counting.

A call's key is the model's identity (provider, model name, and the settings that change its output), the
call itself (kind, the messages as sent, the call parameters; for a structured call the schema and the
repair prompt's sha256) and a variant (the repeat index, for suites that sample one case several times).
The messages are the rendered prompt, so a changed prompt file (template or parameters) gives a new key.
Failed calls are not recorded. Streaming (``model.astream``, driven by the caller) is not recorded either.

``recording()`` sets the variant for the calls made inside it and counts them: how many were replayed,
and the model time recorded with the replayed outputs (``replayed_ms``), which a scorer adds to the
service's own latency so that a replayed run reports what the original run measured.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import orjson
from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.prompt_values import PromptValue
from pydantic import BaseModel, ValidationError

from insight.llm.client import LLMClient

T = TypeVar("T", bound=BaseModel)

IDENTITY_SETTINGS = {"temperature", "max_tokens", "n_ctx", "base_url"}
"""The ``LLMSettings`` fields that change what the same model answers (part of every key)."""


class ResultStore(Protocol):
    """Where recorded outputs live (``insight.evaluation.cache.OutputCache``): JSON objects by key."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, value: dict[str, Any]) -> None: ...


@dataclass
class CallLog:
    """The model calls made inside one ``recording()``."""

    calls: int = 0
    replayed: int = 0
    replayed_ms: float = 0.0

    @property
    def all_replayed(self) -> bool:
        """At least one call, and every one of them replayed."""
        return self.calls > 0 and self.replayed == self.calls


_variant: ContextVar[int] = ContextVar("insight_llm_cache_variant", default=0)
_log: ContextVar[CallLog | None] = ContextVar("insight_llm_cache_log", default=None)


@contextmanager
def recording(variant: int = 0) -> Iterator[CallLog]:
    """Calls inside are keyed with ``variant`` and counted in the yielded log (per task: a context variable)."""
    log = CallLog()
    variant_token, log_token = _variant.set(variant), _log.set(log)
    try:
        yield log
    finally:
        _variant.reset(variant_token)
        _log.reset(log_token)


def _messages(value: LanguageModelInput) -> Any:
    """The input as plain data: ``[type, content]`` per message, or the text of a plain string."""
    if isinstance(value, PromptValue):
        value = value.to_messages()
    if isinstance(value, str):
        return value
    out: list[Any] = []
    for message in value:
        if isinstance(message, BaseMessage):
            out.append([message.type, message.content])
        else:
            out.append(message)
    return out


def _key(**parts: Any) -> str:
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()


def _schema_sha256(schema: type[BaseModel]) -> str:
    return hashlib.sha256(orjson.dumps(schema.model_json_schema(), option=orjson.OPT_SORT_KEYS)).hexdigest()


class CachingLLMClient(LLMClient):
    """``inner`` with its ``ainvoke``/``invoke``/``astructured``/``structured`` outputs recorded in ``store``.

    It takes over the inner client's concurrency slots and its built structured calls, so calls through
    either client count against one provider limit.
    """

    def __init__(self, inner: LLMClient, store: ResultStore) -> None:
        super().__init__(inner.model, inner.settings, repair_prompt=inner.repair_prompt)
        self.inner = inner
        self.store = store
        self.model_name = inner.model_name
        self.capacity = inner.capacity
        # one set of slots and built calls for both clients (they are the same model)
        self._slots, self._sync_slots = inner._slots, inner._sync_slots
        self._structured, self._runnables = inner._structured, inner._runnables

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def _identity(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model_name,
            "settings": self.settings.model_dump(mode="json", include=IDENTITY_SETTINGS),
            "variant": _variant.get(),
        }

    def _invoke_key(self, value: LanguageModelInput, kwargs: Mapping[str, Any]) -> str:
        return _key(kind="invoke", **self._identity(), params=self.call_params(kwargs), input=_messages(value))

    def _structured_key(self, value: LanguageModelInput, schema: type[BaseModel], params: Any) -> str:
        return _key(
            kind="structured",
            **self._identity(),
            schema=f"{schema.__module__}.{schema.__qualname__}",
            schema_sha256=_schema_sha256(schema),
            repair_prompt_sha256=self.repair_prompt.sha256,
            params=self.call_params(params),
            input=_messages(value),
        )

    def _lookup(self, key: str) -> dict[str, Any] | None:
        log = _log.get()
        if log is not None:
            log.calls += 1
        return self.store.get(key)

    @staticmethod
    def _replayed(found: dict[str, Any]) -> None:
        log = _log.get()
        if log is not None:
            log.replayed += 1
            log.replayed_ms += float(found.get("latency_ms", 0.0))

    @staticmethod
    def _message(found: dict[str, Any]) -> AIMessage | None:
        try:
            return AIMessage(
                content=found["content"],
                usage_metadata=found.get("usage_metadata"),
                tool_calls=found.get("tool_calls") or [],
            )
        except (KeyError, ValidationError):  # an entry of another shape: called again, and overwritten
            return None

    def _record_message(self, key: str, message: AIMessage, started: float) -> None:
        self.store.put(
            key,
            {
                "content": message.content,
                "usage_metadata": dict(message.usage_metadata) if message.usage_metadata else None,
                "tool_calls": [dict(call) for call in message.tool_calls],
                "latency_ms": round((time.perf_counter() - started) * 1000.0, 1),
            },
        )

    @staticmethod
    def _result(found: dict[str, Any], schema: type[T]) -> T | None:
        try:
            return schema.model_validate(found["result"])
        except (KeyError, ValidationError):
            return None

    def _record_result(self, key: str, result: BaseModel, started: float) -> None:
        latency = round((time.perf_counter() - started) * 1000.0, 1)
        self.store.put(key, {"result": result.model_dump(mode="json"), "latency_ms": latency})

    def _replay_message(self, key: str) -> AIMessage | None:
        found = self._lookup(key)
        message = self._message(found) if found is not None else None
        if found is not None and message is not None:
            self._replayed(found)
        return message

    def _replay_result(self, key: str, schema: type[T]) -> T | None:
        found = self._lookup(key)
        result = self._result(found, schema) if found is not None else None
        if found is not None and result is not None:
            self._replayed(found)
        return result

    async def ainvoke(self, value: LanguageModelInput, **kwargs: Any) -> AIMessage:
        key = self._invoke_key(value, kwargs)
        if (message := self._replay_message(key)) is None:
            started = time.perf_counter()
            message = await super().ainvoke(value, **kwargs)
            self._record_message(key, message, started)
        return message

    def invoke(self, value: LanguageModelInput, **kwargs: Any) -> AIMessage:
        key = self._invoke_key(value, kwargs)
        if (message := self._replay_message(key)) is None:
            started = time.perf_counter()
            message = super().invoke(value, **kwargs)
            self._record_message(key, message, started)
        return message

    async def astructured(
        self, value: LanguageModelInput, schema: type[T], params: Mapping[str, Any] | None = None
    ) -> T:
        key = self._structured_key(value, schema, params)
        if (result := self._replay_result(key, schema)) is None:
            started = time.perf_counter()
            result = await super().astructured(value, schema, params)
            self._record_result(key, result, started)
        return result

    def structured(self, value: LanguageModelInput, schema: type[T], params: Mapping[str, Any] | None = None) -> T:
        key = self._structured_key(value, schema, params)
        if (result := self._replay_result(key, schema)) is None:
            started = time.perf_counter()
            result = super().structured(value, schema, params)
            self._record_result(key, result, started)
        return result
