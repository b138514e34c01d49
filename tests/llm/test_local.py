"""``LocalChatModel`` without llama.cpp: one lock around the instance, async off the loop, deadline, tool calls."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import BaseModel, Field

from insight.config import LLMSettings
from insight.errors import LLMTimeout
from insight.llm.client import LLMClient
from insight.llm.local import LocalChatModel, _LockedLlama
from tests.llm.fakes import FakeLlama


class Point(BaseModel):
    """A labelled point."""

    label: str = Field(max_length=10)
    x: int


def local_model(fake: FakeLlama, timeout_s: float | None = 10.0) -> LocalChatModel:
    """A LocalChatModel around ``fake`` (no GGUF is loaded: validation, and so ``Llama(...)``, is skipped)."""
    model = LocalChatModel.model_construct(model_path="fake.gguf", model_name="fake", timeout_s=timeout_s)
    model.client = _LockedLlama(fake, threading.Lock(), timeout_s, "fake")
    return model


def test_invoke_aggregates_the_stream_into_one_message() -> None:
    fake = FakeLlama("the answer is 42")
    message = local_model(fake).invoke("question")
    assert message.text == "the answer is 42"
    assert message.response_metadata["finish_reason"] == "stop"
    assert fake.calls[0]["messages"] == [{"role": "user", "content": "question"}]
    assert fake.closed == 1


def test_structured_output_is_a_forced_tool_call_parsed_into_the_model() -> None:
    fake = FakeLlama({"label": "origin", "x": 3})
    point = local_model(fake).with_structured_output(Point).invoke("where?")
    assert point == Point(label="origin", x=3)
    assert fake.calls[0]["tool_choice"] == {"type": "function", "function": {"name": "Point"}}
    assert fake.calls[0]["tools"][0]["function"]["parameters"]["properties"]["label"]["maxLength"] == 10


def test_structured_output_under_astream_is_generated_whole() -> None:
    fake = FakeLlama({"label": "streamed", "x": 5})
    runnable = local_model(fake).with_structured_output(Point)

    async def collect() -> list[object]:
        return [chunk async for chunk in runnable.astream("where?")]

    assert asyncio.run(collect()) == [Point(label="streamed", x=5)]


def test_client_structured_goes_through_the_local_tool_call() -> None:
    fake = FakeLlama({"label": "p", "x": 1})
    client = LLMClient(local_model(fake), LLMSettings(provider="local"))
    assert asyncio.run(client.astructured("where?", Point)) == Point(label="p", x=1)
    assert client.capacity == 1


def test_calls_from_many_threads_never_overlap_inside_llama() -> None:
    fake = FakeLlama("a b c d", delay_s=0.005)
    model = local_model(fake)
    with ThreadPoolExecutor(max_workers=4) as pool:
        replies = list(pool.map(lambda i: model.invoke(f"q{i}").text, range(8)))
    assert replies == ["a b c d"] * 8
    assert fake.max_active == 1
    assert len(fake.threads) > 1


def test_ainvoke_runs_llama_in_a_worker_thread_and_the_loop_keeps_running() -> None:
    fake = FakeLlama("one two three four five six", delay_s=0.03)
    model = local_model(fake)

    async def scenario() -> tuple[str, int, int]:
        ticks = 0
        loop_thread = threading.get_ident()

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        message = await model.ainvoke("q")
        task.cancel()
        return message.text, ticks, loop_thread

    text, ticks, loop_thread = asyncio.run(scenario())
    assert text == "one two three four five six"
    assert loop_thread not in fake.threads
    assert ticks >= 5  # ~0.18 s of generation; a blocked loop would not tick at all


def test_concurrent_async_calls_are_serialised() -> None:
    fake = FakeLlama("x y", delay_s=0.01)
    model = local_model(fake)

    async def scenario() -> list[str]:
        messages = await asyncio.gather(*(model.ainvoke(f"q{i}") for i in range(4)))
        return [m.text for m in messages]

    assert asyncio.run(scenario()) == ["x y"] * 4
    assert fake.max_active == 1


def test_astream_yields_tokens_and_an_early_stop_releases_the_lock() -> None:
    fake = FakeLlama("alpha beta gamma delta")
    model = local_model(fake)

    async def first_two() -> list[str]:
        seen: list[str] = []
        stream = model.astream("q")
        async for chunk in stream:
            if chunk.text:
                seen.append(chunk.text)
            if len(seen) == 2:
                break
        await stream.aclose()
        return seen

    assert asyncio.run(first_two()) == ["alpha", " beta"]
    assert fake.closed == 1
    assert model.invoke("again").text == "alpha beta gamma delta"  # would deadlock if the lock were still held


def test_a_generation_past_the_deadline_stops_between_tokens() -> None:
    fake = FakeLlama(" ".join(["word"] * 200), delay_s=0.01)
    model = local_model(fake, timeout_s=0.1)
    started = time.monotonic()
    with pytest.raises(LLMTimeout, match=r"'local' \(model 'fake'\) did not finish within 0.1 s"):
        model.invoke("q")
    assert time.monotonic() - started < 1.0
    assert fake.closed == 1 and fake.active == 0
    fake.reply, fake.delay_s = "quick", 0.0
    assert model.invoke("q").text == "quick"
