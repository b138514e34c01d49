"""Structured output the way each backend supports it, with one repair attempt, then ``OutputParseError``.

- ``local`` (llama.cpp): ``ChatLlamaCpp.with_structured_output`` forces a tool call, which llama.cpp turns
  into a grammar built from the JSON schema (put ``maxLength``/``maxItems`` in the schema so output ends).
- ``openai``: ChatOpenAI's default (``json_schema``, strict structured outputs).
- ``openai_compatible``: ``function_calling`` (llama.cpp server answers HTTP 500 to ``json_schema``).

A prompt's ``model_params`` (temperature, max_tokens, …) are bound to the model call of every method, as
they are to plain calls (``LLMClient.call_params`` says how each provider takes them).

The grammar does not enforce every constraint (a float's bounds, for one), so the result is always
validated by the Pydantic model; an invalid answer is sent back once with the validation errors, in the
words of the ``llm_repair`` prompt file (``prompts/llm_repair/v<N>.yaml``; its hash identifies it like any
prompt's: ``LLMClient.repair_metadata``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Generic, Literal, TypeVar

from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, convert_to_messages
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_openai.chat_models.base import BaseChatOpenAI
from pydantic import BaseModel, ValidationError

from insight.config import LLMSettings
from insight.errors import OutputParseError
from insight.llm.errors import translate_llm_errors, validation_summary
from insight.prompts import Prompt, PromptRegistry, default_prompt_root

T = TypeVar("T", bound=BaseModel)
StructuredMethod = Literal["function_calling", "json_mode", "json_schema"]

STRUCTURED_METHOD: dict[str, StructuredMethod | None] = {
    "local": None,  # ChatLlamaCpp has one method: a forced tool call (grammar-constrained)
    "openai": None,  # ChatOpenAI's default, json_schema
    "openai_compatible": "function_calling",
}
_MAX_ECHO = 1500
REPAIR_PROMPT = "llm_repair"


def load_repair_prompt(prompts: PromptRegistry | None = None) -> Prompt:
    """The latest ``llm_repair`` prompt of ``prompts``, or of the shipped ``prompts/`` folder when None."""
    registry = prompts if prompts is not None else PromptRegistry(default_prompt_root())
    return registry.get(REPAIR_PROMPT)


def model_name_of(model: BaseChatModel, settings: LLMSettings) -> str:
    """The model's name for messages and metadata (``model_name`` of ChatOpenAI/LocalChatModel)."""
    name = getattr(model, "model_name", None) or settings.model
    return str(name) if name else type(model).__name__


def to_messages(value: LanguageModelInput) -> list[BaseMessage]:
    if isinstance(value, PromptValue):
        return value.to_messages()
    if isinstance(value, str):
        return [HumanMessage(content=value)]
    return convert_to_messages(value)


def _raw_text(raw: object) -> str:
    if not isinstance(raw, AIMessage):
        return ""
    if raw.tool_calls:
        text = json.dumps(raw.tool_calls[0]["args"], ensure_ascii=False)
    elif raw.invalid_tool_calls:
        text = str(raw.invalid_tool_calls[0].get("args") or "")
    else:
        text = raw.text
    return text if len(text) <= _MAX_ECHO else text[:_MAX_ECHO] + "…"


def _outcome(result: Any, schema: type[T]) -> tuple[T | None, str]:
    """The parsed object, or None and why there is none."""
    parsed = result.get("parsed") if isinstance(result, dict) else None
    if isinstance(parsed, schema):
        return parsed, ""
    error = result.get("parsing_error") if isinstance(result, dict) else None
    if isinstance(error, BaseException):
        return None, validation_summary(error)
    raw = result.get("raw") if isinstance(result, dict) else None
    refusal = raw.additional_kwargs.get("refusal") if isinstance(raw, AIMessage) else None
    if refusal:
        return None, f"the model refused: {refusal}"
    return None, "the reply held no structured output"


def _repair_messages(
    messages: Sequence[BaseMessage], result: Any, problem: str, schema: type[BaseModel], repair: Prompt
) -> list[BaseMessage]:
    """The original messages, then ``repair`` filled with the problem and the answer that had it."""
    raw = result.get("raw") if isinstance(result, dict) else None
    note = repair.format_messages(problem=problem, previous_answer=_raw_text(raw) or None, schema_name=schema.__name__)
    return [*messages, *note]


def tool_outcome(message: BaseMessage, schema: type[T], tool: str) -> dict[str, Any]:
    """``{raw, parsed, parsing_error}`` for a reply that should call ``tool`` with ``schema``'s arguments."""
    calls = [c for c in message.tool_calls if c["name"] == tool] if isinstance(message, AIMessage) else []
    if not calls:
        invalid = message.invalid_tool_calls if isinstance(message, AIMessage) else []
        error = None
        if invalid:
            error = OutputParserException(f"the tool call's arguments are not valid JSON: {invalid[0].get('error')}")
        return {"raw": message, "parsed": None, "parsing_error": error}
    try:
        return {"raw": message, "parsed": schema.model_validate(calls[0]["args"]), "parsing_error": None}
    except ValidationError as exc:
        return {"raw": message, "parsed": None, "parsing_error": exc}


def forced_tool_call(
    model: BaseChatModel, schema: type[T], params: Mapping[str, Any] | None = None
) -> Runnable[LanguageModelInput, dict[str, Any]]:
    """``{raw, parsed, parsing_error}`` from a forced call of the ``schema`` tool, ``params`` bound to the call.

    What ``with_structured_output(schema, include_raw=True)`` gives with tool calling (llama.cpp turns the
    forced tool into a grammar), with the prompt's model parameters bound to the call (``ChatLlamaCpp``
    refuses extra arguments there), and parsed in the calling task: LangChain's parser chain runs its
    sync steps in executor threads, a thread hop each, which shows at a hundred requests a second.
    """
    call = _ForcedToolCall(model, schema, params)
    return RunnableLambda(call.invoke, afunc=call.ainvoke, name=f"parse_{call.tool}")


class _ForcedToolCall:
    """The model with the ``schema`` tool forced and ``params`` bound; its reply parsed in the same step.

    Called directly (not as a two-step runnable sequence), so a request pays for one LangChain run (the
    chat model's) instead of three.
    """

    def __init__(self, model: BaseChatModel, schema: type[BaseModel], params: Mapping[str, Any] | None) -> None:
        self.schema = schema
        self.tool = convert_to_openai_tool(schema)["function"]["name"]
        # The OpenAI form forces the call (llama.cpp builds its grammar from it); BaseChatModel types it as str.
        forced: Any = {"type": "function", "function": {"name": self.tool}}
        self.bound = model.bind_tools([schema], tool_choice=forced, **(params or {}))

    def invoke(self, messages: LanguageModelInput) -> dict[str, Any]:
        return tool_outcome(self.bound.invoke(messages), self.schema, self.tool)

    async def ainvoke(self, messages: LanguageModelInput) -> dict[str, Any]:
        return tool_outcome(await self.bound.ainvoke(messages), self.schema, self.tool)


class StructuredCall(Generic[T]):
    """A validated ``schema`` instance from a list of messages, with one repair attempt (see ``structured``).

    ``run``/``arun`` may be called directly (``LLMClient`` does: no runnable layer around it), or through
    the runnable that ``structured`` wraps around them. ``repair`` is the repair prompt (variables
    ``problem``, ``previous_answer``, ``schema_name``); None loads the shipped one.
    """

    def __init__(
        self,
        model: BaseChatModel,
        schema: type[T],
        settings: LLMSettings,
        params: Mapping[str, Any] | None = None,
        repair: Prompt | None = None,
    ) -> None:
        method = STRUCTURED_METHOD.get(settings.provider)
        extra = dict(params or {})
        self.schema = schema
        self.repair = repair if repair is not None else load_repair_prompt()
        self.provider = settings.provider
        self.model_name = model_name_of(model, settings)
        self._invoke: Callable[[list[BaseMessage]], Any]
        self._ainvoke: Callable[[list[BaseMessage]], Awaitable[Any]]
        if isinstance(model, BaseChatOpenAI) and method != "function_calling":
            # json_schema (ChatOpenAI's default, method None) or the method the provider names
            bound = (
                model.with_structured_output(schema, include_raw=True, **extra)
                if method is None
                else model.with_structured_output(schema, method=method, include_raw=True, **extra)
            )
            self._invoke, self._ainvoke = bound.invoke, bound.ainvoke
        else:
            call = _ForcedToolCall(model, schema, extra)
            self._invoke, self._ainvoke = call.invoke, call.ainvoke

    def _failure(self, problem: str) -> OutputParseError:
        return OutputParseError(
            f"LLM provider {self.provider!r} (model {self.model_name!r}) returned output that does not fit "
            f"{self.schema.__name__} after one repair attempt: {problem}"
        )

    def run(self, value: LanguageModelInput) -> T:
        messages = to_messages(value)
        with translate_llm_errors(self.provider, self.model_name):
            result = self._invoke(messages)
            parsed, problem = _outcome(result, self.schema)
            if parsed is not None:
                return parsed
            retry = self._invoke(_repair_messages(messages, result, problem, self.schema, self.repair))
            parsed, problem = _outcome(retry, self.schema)
        if parsed is None:
            raise self._failure(problem)
        return parsed

    async def arun(self, value: LanguageModelInput) -> T:
        messages = to_messages(value)
        with translate_llm_errors(self.provider, self.model_name):
            result = await self._ainvoke(messages)
            parsed, problem = _outcome(result, self.schema)
            if parsed is not None:
                return parsed
            retry = await self._ainvoke(_repair_messages(messages, result, problem, self.schema, self.repair))
            parsed, problem = _outcome(retry, self.schema)
        if parsed is None:
            raise self._failure(problem)
        return parsed

    def runnable(self) -> Runnable[LanguageModelInput, T]:
        return RunnableLambda(self.run, afunc=self.arun, name=f"structured_{self.schema.__name__}")


def structured(
    model: BaseChatModel,
    schema: type[T],
    settings: LLMSettings,
    params: Mapping[str, Any] | None = None,
    repair: Prompt | None = None,
) -> Runnable[LanguageModelInput, T]:
    """A runnable giving a validated ``schema`` instance; provider failures come out as typed LLM errors.

    ``params`` (call arguments, e.g. a prompt's temperature and max_tokens) go with every model call,
    the repair attempt included; ``repair`` is the repair prompt (None: the shipped one).
    """
    return StructuredCall(model, schema, settings, params, repair).runnable()
