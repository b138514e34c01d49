"""The caching chat client: recorded outputs replayed by key (messages, params, model settings, variant),
for plain and structured calls, sync and async; failures never recorded; one concurrency limit."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from pydantic import BaseModel

from insight.config import LLMSettings
from insight.errors import LLMTimeout
from insight.evaluation.cache import OutputCache
from insight.llm.caching import CachingLLMClient, recording
from insight.llm.client import LLMClient
from tests.analysis.fakes import ToolCallingFake, tool_reply
from tests.evaluation.fakes import RespondingFake


class Choice(BaseModel):
    passages: list[int]


def client(*replies: AIMessage, settings: LLMSettings | None = None) -> tuple[LLMClient, ToolCallingFake]:
    model = ToolCallingFake(messages=itertools.cycle(replies))
    return LLMClient(model, settings or LLMSettings(provider="local")), model


MESSAGES = [SystemMessage("answer briefly"), HumanMessage("when are refunds paid?")]


@pytest.mark.anyio
async def test_a_replayed_call_gives_the_recorded_message_without_calling_the_model(tmp_path: Path) -> None:
    reply = AIMessage(content="In 30 days.", usage_metadata={"input_tokens": 9, "output_tokens": 4, "total_tokens": 13})
    inner, model = client(reply)
    cache = OutputCache(tmp_path)
    with recording() as first:
        got = await CachingLLMClient(inner, cache).ainvoke(MESSAGES, temperature=0.0)
    assert got.content == "In 30 days." and len(model.received) == 1
    assert (first.calls, first.replayed, first.all_replayed) == (1, 0, False)

    other, other_model = client(AIMessage(content="something else"))  # the same identity, another reply
    with recording() as second:
        again = await CachingLLMClient(other, cache).ainvoke(MESSAGES, temperature=0.0)
    assert other_model.received == []
    assert again.content == "In 30 days." and again.usage_metadata == reply.usage_metadata
    assert second.all_replayed and second.replayed_ms >= 0.0
    assert (cache.hits, cache.misses) == (1, 1)


@pytest.mark.anyio
async def test_messages_params_settings_and_variant_each_change_the_key(tmp_path: Path) -> None:
    cache = OutputCache(tmp_path)
    inner, model = client(AIMessage(content="x"))
    caching = CachingLLMClient(inner, cache)
    await caching.ainvoke(MESSAGES, temperature=0.0)
    await caching.ainvoke([*MESSAGES[:1], HumanMessage("another question")], temperature=0.0)
    await caching.ainvoke(MESSAGES, temperature=0.7)
    with recording(variant=1):
        await caching.ainvoke(MESSAGES, temperature=0.0)
    warmer, warmer_model = client(AIMessage(content="x"), settings=LLMSettings(provider="local", temperature=0.9))
    await CachingLLMClient(warmer, cache).ainvoke(MESSAGES, temperature=0.0)
    assert len(model.received) == 4 and len(warmer_model.received) == 1 and cache.hits == 0
    with recording(variant=1) as log:
        await caching.ainvoke(MESSAGES, temperature=0.0)
    assert log.all_replayed and len(model.received) == 4


@pytest.mark.anyio
async def test_structured_results_are_replayed_as_the_schema(tmp_path: Path) -> None:
    cache = OutputCache(tmp_path)
    inner, model = client(tool_reply({"passages": [2, 1]}, name="Choice"))
    first = await CachingLLMClient(inner, cache).astructured(MESSAGES, Choice, {"temperature": 0.0})
    assert first == Choice(passages=[2, 1]) and len(model.received) == 1
    other, other_model = client(tool_reply({"passages": [9]}, name="Choice"))
    with recording() as log:
        again = await CachingLLMClient(other, cache).astructured(MESSAGES, Choice, {"temperature": 0.0})
    assert again == first and other_model.received == [] and log.all_replayed


def test_sync_calls_are_recorded_and_replayed_too(tmp_path: Path) -> None:
    cache = OutputCache(tmp_path)
    inner, model = client(AIMessage(content="sync"), tool_reply({"passages": [1]}, name="Choice"))
    caching = CachingLLMClient(inner, cache)
    assert caching.invoke(MESSAGES).content == "sync"
    assert caching.structured(MESSAGES, Choice) == Choice(passages=[1])
    assert caching.invoke(MESSAGES).content == "sync" and caching.structured(MESSAGES, Choice).passages == [1]
    assert len(model.received) == 2 and cache.hits == 2


@pytest.mark.anyio
async def test_a_failed_call_is_not_recorded_and_an_unreadable_entry_is_called_again(tmp_path: Path) -> None:
    calls = 0

    def flaky(_messages: Any) -> AIMessage:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise TimeoutError("slow")
        return AIMessage(content="answered")

    inner = LLMClient(RespondingFake(messages=iter([]), responder=flaky), LLMSettings(provider="local"))
    cache = OutputCache(tmp_path)
    caching = CachingLLMClient(inner, cache)
    with pytest.raises(LLMTimeout):
        await caching.ainvoke(MESSAGES)
    assert (await caching.ainvoke(MESSAGES)).content == "answered" and calls == 2

    broken = OutputCache(tmp_path / "broken")
    structured_inner, model = client(tool_reply({"passages": [3]}, name="Choice"))
    structured = CachingLLMClient(structured_inner, broken)
    key = structured._structured_key(MESSAGES, Choice, None)
    broken.put(key, {"result": {"passages": "not a list"}})
    with recording() as log:
        assert (await structured.astructured(MESSAGES, Choice)).passages == [3]
    assert (log.calls, log.replayed) == (1, 0) and len(model.received) == 1
    assert broken.get(key) is not None and broken.get(key)["result"] == {"passages": [3]}  # type: ignore[index]


def test_it_shares_the_inner_clients_identity_and_concurrency_limit(tmp_path: Path) -> None:
    inner, _ = client(AIMessage(content="x"), settings=LLMSettings(provider="local"))
    caching = CachingLLMClient(inner, OutputCache(tmp_path))
    assert (caching.provider, caching.model_name, caching.capacity) == (inner.provider, inner.model_name, 1)
    assert caching._slots is inner._slots and caching.count_tokens("three words here") == inner.count_tokens(
        "three words here"
    )
