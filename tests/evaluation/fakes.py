"""Chat models for evaluation tests: replies computed from the messages, failures on demand."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from tests.analysis.fakes import ToolCallingFake, tool_reply

Responder = Callable[[list[BaseMessage]], AIMessage]


class RespondingFake(ToolCallingFake):
    """Answers each call with ``responder(messages)``; a responder may raise (e.g. ``TimeoutError``)."""

    responder: Any = None

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.received.append(list(messages))
        return ChatResult(generations=[ChatGeneration(message=self.responder(messages))])


def all_text(messages: list[BaseMessage]) -> str:
    return "\n".join(str(message.content) for message in messages)


def fact_lines(messages: list[BaseMessage]) -> list[str]:
    """The facts' sentences as the analysis prompt shows them (``- [id] text``)."""
    text = all_text(messages)
    return [m.group(1) for m in re.finditer(r"^- \[[^\]]+\] (.+)$", text, flags=re.MULTILINE)]


def faithful_analyst(messages: list[BaseMessage]) -> AIMessage:
    """Copies the shape fact and the strongest correlation: grounded, and states the reference facts."""
    facts = fact_lines(messages)
    correlation = next(line for line in facts if "correlated" in line)
    return tool_reply({"summary": facts[0], "key_points": [correlation], "confidence": 0.8}, usage=(400, 60))


def inventing_analyst(messages: list[BaseMessage]) -> AIMessage:
    """Writes figures that are in no fact."""
    return tool_reply(
        {"summary": "About 9999 rows, growing 77.7% a year.", "key_points": ["A 123.4 spike."], "confidence": 0.9}
    )


def citing_answerer(messages: list[BaseMessage]) -> AIMessage:
    """Answers with the first passage's text, citing it as [1]."""
    text = str(messages[-1].content)
    first = re.search(r"^\[1\] (.+)$", text, flags=re.MULTILINE)
    answer = (first.group(1)[:80] if first else "nothing") + " [1]"
    return AIMessage(content=answer, usage_metadata={"input_tokens": 50, "output_tokens": 12, "total_tokens": 62})
