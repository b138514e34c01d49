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


def faithful_analyst(messages: list[BaseMessage]) -> AIMessage:
    """Leads with the first finding and words it with references only: the service fills in its figures."""
    keys = re.findall(r"\{1\.([a-z_]+)\}", all_text(messages))
    figure = "{1." + keys[0] + "}" if keys else ""
    plan = {
        "lead": [1],
        "summary": f"The leading finding: {figure}.",
        "key_points": [{"insight": 1, "wording": f"The first finding holds ({figure})."}],
        "recommendations": ["Look into the first finding."],
    }
    return tool_reply(plan, name="NarrationPlan", usage=(400, 60))


def inventing_analyst(messages: list[BaseMessage]) -> AIMessage:
    """Writes figures of its own, which the service never lets through."""
    plan = {
        "lead": [1],
        "summary": "About 9999 rows, growing 77.7% a year.",
        "key_points": [{"insight": 1, "wording": "A 123.4 spike."}],
        "recommendations": [],
    }
    return tool_reply(plan, name="NarrationPlan")


def citing_answerer(messages: list[BaseMessage]) -> AIMessage:
    """Answers with the first passage's text, citing it as [1]."""
    text = str(messages[-1].content)
    first = re.search(r"^\[1\] (.+)$", text, flags=re.MULTILINE)
    answer = (first.group(1)[:80] if first else "nothing") + " [1]"
    return AIMessage(content=answer, usage_metadata={"input_tokens": 50, "output_tokens": 12, "total_tokens": 62})
