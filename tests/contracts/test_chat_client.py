"""The ``ChatClient`` contract, run against every client the services are given.

- ``local``: ``LLMClient`` with provider ``local`` over a scripted tool-calling fake (the llama.cpp path:
  structured output through a forced tool call, one slot);
- ``remote``: ``LLMClient`` over ``ChatOpenAI`` for an OpenAI-compatible server, the wire mocked by respx;
- ``caching``: ``CachingLLMClient`` (evaluation's recording client) over the local one.

Each test scripts the model's replies the same way for every implementation.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx
import pytest
import respx
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatResult
from pydantic import BaseModel, Field

from insight.config import LLMSettings
from insight.errors import LLMTimeout, OutputParseError
from insight.llm.caching import CachingLLMClient
from insight.llm.client import LLMClient
from insight.llm.factory import build_llm_client
from insight.llm.protocols import ChatClient
from tests.analysis.fakes import ToolCallingFake, tool_reply
from tests.llm.conftest import BASE_URL, completion, ok


class Verdict(BaseModel):
    """A short verdict."""

    label: str = Field(max_length=12)
    confidence: float = Field(ge=0.0, le=1.0)


GOOD = {"label": "positive", "confidence": 0.8}
BAD = {"label": "positive", "confidence": 1.7}  # a grammar does not bound floats; the schema does

Reply = str | dict[str, Any] | None
"""Text, a ``Verdict`` tool call's arguments, or None for a call that times out."""
MakeClient = Callable[[Sequence[Reply]], ChatClient]


class ScriptedFake(ToolCallingFake):
    """The tool-calling fake that times out while ``timeouts`` lasts."""

    timeouts: int = 0

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.timeouts:
            self.timeouts -= 1
            raise TimeoutError("the model did not answer")
        return super()._generate(messages, stop, run_manager, **kwargs)


def local_client(replies: Sequence[Reply]) -> LLMClient:
    scripted = [
        AIMessage(content=r) if isinstance(r, str) else tool_reply(r, name="Verdict") for r in replies if r is not None
    ]
    model = ScriptedFake(messages=iter(scripted), timeouts=sum(r is None for r in replies))
    return LLMClient(model, LLMSettings(provider="local"))


class MemoryStore:
    def __init__(self) -> None:
        self.values: dict[str, dict[str, Any]] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        return self.values.get(key)

    def put(self, key: str, value: dict[str, Any]) -> None:
        self.values[key] = value


def streamed(text: str) -> httpx.Response:
    """A streamed chat completion as server-sent events: the text in two deltas, then ``[DONE]``."""
    middle = len(text) // 2
    events = [
        {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "qwen",
         "choices": [{"index": 0, "delta": {"role": "assistant", "content": piece}, "finish_reason": None}]}
        for piece in (text[:middle], text[middle:])
    ]  # fmt: skip
    body = "".join(f"data: {json.dumps(event)}\n\n" for event in events) + "data: [DONE]\n\n"
    return httpx.Response(200, content=body.encode(), headers={"content-type": "text/event-stream"})


def wire_replies(replies: Sequence[Reply]) -> Callable[[httpx.Request], httpx.Response]:
    """The server's side: the next scripted reply for each request, streamed when the request asks for it."""
    pending = list(replies)

    def reply_to(request: httpx.Request) -> httpx.Response:
        reply = pending.pop(0)
        if reply is None:
            raise httpx.ReadTimeout("the model did not answer", request=request)
        if isinstance(reply, str):
            return streamed(reply) if json.loads(request.content).get("stream") else ok(completion(reply))
        return ok(completion(tool=("Verdict", reply)))

    return reply_to


@pytest.fixture(params=["local", "remote", "caching"])
def make_client(request: pytest.FixtureRequest) -> Iterator[MakeClient]:
    if request.param == "local":
        yield local_client
    elif request.param == "caching":
        yield lambda replies: CachingLLMClient(local_client(replies), MemoryStore())
    else:
        with respx.mock(base_url=BASE_URL, assert_all_called=False) as wire:
            route = wire.post("/chat/completions")

            def remote(replies: Sequence[Reply]) -> ChatClient:
                route.mock(side_effect=wire_replies(replies))
                settings = LLMSettings(
                    provider="openai_compatible", base_url=BASE_URL, model="qwen", max_retries=0, timeout_s=5.0
                )
                return build_llm_client(settings)

            yield remote


def test_is_a_chat_client_with_an_identity(make_client: MakeClient) -> None:
    client = make_client([])
    assert isinstance(client, ChatClient)
    assert client.provider in {"local", "openai", "openai_compatible"}
    assert isinstance(client.model_name, str) and client.model_name
    assert client.repair_metadata and all(key.startswith("repair_") for key in client.repair_metadata)
    assert client.repair_metadata["repair_prompt_sha256"] == client.repair_prompt.metadata["prompt_sha256"]


def test_invoke_and_ainvoke_return_the_reply(make_client: MakeClient) -> None:
    client = make_client(["first answer", "second answer"])
    assert client.invoke("hello").text == "first answer"
    reply = asyncio.run(client.ainvoke("hello again"))
    assert isinstance(reply, AIMessage) and reply.text == "second answer"


def test_structured_returns_a_validated_instance(make_client: MakeClient) -> None:
    client = make_client([GOOD, GOOD])
    assert client.structured("Judge: sales up", Verdict) == Verdict.model_validate(GOOD)
    assert asyncio.run(client.astructured("Judge: sales up", Verdict, {"temperature": 0.0})) == Verdict(**GOOD)


def test_an_invalid_structured_reply_is_repaired_once(make_client: MakeClient) -> None:
    client = make_client([BAD, GOOD])
    assert asyncio.run(client.astructured("Judge", Verdict)).confidence == 0.8


def test_invalid_after_the_repair_is_an_output_parse_error(make_client: MakeClient) -> None:
    client = make_client([BAD, BAD])
    with pytest.raises(OutputParseError):
        client.structured("Judge", Verdict)


def test_a_plain_text_reply_to_a_structured_call_is_an_output_parse_error(make_client: MakeClient) -> None:
    client = make_client(["I think it is positive.", "Still positive, I think."])
    with pytest.raises(OutputParseError):
        asyncio.run(client.astructured("Judge", Verdict))


def test_a_model_that_does_not_answer_is_a_timeout(make_client: MakeClient) -> None:
    client = make_client([None, None])
    with pytest.raises(LLMTimeout):
        client.invoke("hello")
    with pytest.raises(LLMTimeout):
        asyncio.run(client.ainvoke("hello"))


def test_tokens_are_counted_offline(make_client: MakeClient) -> None:
    client = make_client([])
    assert client.count_tokens("") == 0
    short, longer = client.count_tokens("revenue grew"), client.count_tokens("revenue grew in every region but one")
    assert 0 < short < longer


def test_a_slot_is_held_around_a_streamed_call(make_client: MakeClient) -> None:
    client = make_client(["streamed"])

    async def scenario() -> str:
        async with client.slot():
            pieces = [chunk.text async for chunk in client.model.astream("hello", **client.call_params({}))]
        return "".join(pieces)

    assert asyncio.run(scenario()) == "streamed"
