"""A chat model that answers with scripted tool calls: structured output without a real model.

``with_structured_output`` on a ``BaseChatModel`` binds the schema as a forced tool and parses the first
tool call, exactly as ``ChatLlamaCpp`` and ``ChatOpenAI(method="function_calling")`` replies are parsed; so
``LLMClient.astructured`` runs its real code (validation, the one repair attempt) against this fake.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from pydantic import Field

FAKE_MODEL = "fake-analyst"


def tool_reply(
    args: dict[str, Any], *, name: str = "AnalysisResult", usage: tuple[int, int] | None = None
) -> AIMessage:
    """The reply a tool-calling model gives for structured output (``usage``: input and output tokens)."""
    metadata = None
    if usage is not None:
        metadata = {"input_tokens": usage[0], "output_tokens": usage[1], "total_tokens": sum(usage)}
    return AIMessage(
        content="",
        tool_calls=[{"name": name, "args": args, "id": "call_1", "type": "tool_call"}],
        usage_metadata=metadata,  # type: ignore[arg-type]
        response_metadata={"model_name": FAKE_MODEL},
    )


class ToolCallingFake(GenericFakeChatModel):
    """Replies with the next scripted message and records every list of messages it was sent."""

    model_name: str = FAKE_MODEL
    received: list[list[BaseMessage]] = Field(default_factory=list)

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self.bind(**kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.received.append(list(messages))
        return super()._generate(messages, stop, run_manager, **kwargs)


def scripted(*replies: AIMessage) -> Iterator[AIMessage]:
    return iter(replies)
