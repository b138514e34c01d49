"""Stand-ins for ``llama_cpp.Llama`` and a slow chat model, to test locking, threads and limits."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool


class FakeLlama:
    """Streams OpenAI-style chunks the way llama-cpp-python does, recording how it was called.

    ``reply`` is plain text, or a dict for a forced tool call (sent as JSON in pieces).
    """

    def __init__(self, reply: str | dict[str, Any] = "hello world", delay_s: float = 0.0) -> None:
        self.reply = reply
        self.delay_s = delay_s
        self.active = 0
        self.max_active = 0
        self.calls: list[dict[str, Any]] = []
        self.threads: set[int] = set()
        self.closed = 0
        self._guard = threading.Lock()

    def create_chat_completion(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        assert kwargs.get("stream") is True, "LocalChatModel always streams from llama.cpp"
        self.calls.append(kwargs)
        return self._chunks(kwargs)

    def _enter(self) -> None:
        with self._guard:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        self.threads.add(threading.get_ident())

    def _leave(self) -> None:
        with self._guard:
            self.active -= 1

    def _chunks(self, kwargs: dict[str, Any]) -> Iterator[dict[str, Any]]:
        self._enter()
        try:
            if isinstance(self.reply, dict):
                yield from self._tool_chunks(kwargs)
            else:
                yield self._chunk({"role": "assistant"})
                for word in self.reply.split(" "):
                    time.sleep(self.delay_s)
                    yield self._chunk({"content": word if word == self.reply.split(" ")[0] else " " + word})
                yield self._chunk({}, finish_reason="stop")
        finally:
            self.closed += 1
            self._leave()

    def _tool_chunks(self, kwargs: dict[str, Any]) -> Iterator[dict[str, Any]]:
        name = kwargs["tool_choice"]["function"]["name"]
        text = json.dumps(self.reply)
        pieces = [text[i : i + 7] for i in range(0, len(text), 7)]
        yield self._chunk(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"index": 0, "id": "call_1", "type": "function", "function": {"name": name, "arguments": ""}}
                ],
            }
        )
        for piece in pieces:
            time.sleep(self.delay_s)
            yield self._chunk(
                {"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": name, "arguments": piece}}]}
            )
        yield self._chunk({}, finish_reason="tool_calls")

    @staticmethod
    def _chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "fake.gguf",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }


class SlowFakeChatModel(GenericFakeChatModel):
    """A fake chat model whose async calls take ``delay_s`` and record how many overlap."""

    delay_s: float = 0.05
    active: int = 0
    max_active: int = 0

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            await asyncio.sleep(self.delay_s)
        finally:
            self.active -= 1
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="ok"))])


class SchemaAwareFake(GenericFakeChatModel):
    """Answers a structured-output request with a tool call for the schema it was bound to, else with text.

    ``tool_args`` maps a schema's name to the arguments of its tool call; ``default_args`` serves the rest.
    """

    tool_args: dict[str, dict[str, Any]] = {}
    default_args: dict[str, Any] | None = None
    text: str = "Refunds are paid within 30 days [1]."
    received: list[list[BaseMessage]] = []

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | None = None, **kwargs: Any) -> Any:
        return self.bind(reply_tool=convert_to_openai_tool(tools[0])["function"]["name"], **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.received.append(list(messages))
        name = kwargs.get("reply_tool")
        if name is None:  # a plain-text request
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self.text))])
        args = self.tool_args.get(name, self.default_args)
        if args is None:
            raise AssertionError(f"SchemaAwareFake has no reply for a {name} tool call")
        call = {"name": name, "args": args, "id": "call_1", "type": "tool_call"}
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="", tool_calls=[call]))])
