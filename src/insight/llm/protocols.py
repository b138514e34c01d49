"""``ChatClient``: what the services use of a chat model client (``LLMClient`` and ``CachingLLMClient``).

The same contract holds for every backend (``tests/contracts/test_chat_client.py``): the local model
(llama.cpp, one slot), an OpenAI or OpenAI-compatible server, and the fakes the tests script.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage
from pydantic import BaseModel

from insight.prompts import Prompt

T = TypeVar("T", bound=BaseModel)


@runtime_checkable
class ChatClient(Protocol):
    """A chat model with its identity, a concurrency limit, token counting and typed errors.

    Every call raises only the domain's LLM errors (``LLMUnavailable``, ``LLMTimeout``, ``LLMRateLimited``,
    ``LLMRequestRejected``, ``OutputParseError``), never a provider's own exception.
    """

    provider: str
    """``local``, ``openai`` or ``openai_compatible``: recorded in every response's ``meta``."""
    model_name: str
    model: BaseChatModel
    """The model itself, for callers that stream (``model.astream``) inside ``slot()``."""

    @property
    def repair_prompt(self) -> Prompt:
        """The prompt that words the one repair attempt of structured calls."""
        ...

    @property
    def repair_metadata(self) -> dict[str, str | int]: ...

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` (exact for OpenAI models, an estimate for others); offline."""
        ...

    def call_params(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """A prompt's model parameters as this provider's call arguments."""
        ...

    def slot(self) -> AbstractAsyncContextManager[None]:
        """Hold one of the provider's concurrency slots (for callers driving ``model`` themselves)."""
        ...

    async def ainvoke(self, value: LanguageModelInput, **kwargs: Any) -> AIMessage: ...

    def invoke(self, value: LanguageModelInput, **kwargs: Any) -> AIMessage: ...

    async def astructured(
        self, value: LanguageModelInput, schema: type[T], params: Mapping[str, Any] | None = None
    ) -> T:
        """A validated ``schema`` instance after at most one repair attempt, or ``OutputParseError``."""
        ...

    def structured(self, value: LanguageModelInput, schema: type[T], params: Mapping[str, Any] | None = None) -> T: ...


if TYPE_CHECKING:  # mypy proves the implementations satisfy the Protocol
    from insight.llm.caching import CachingLLMClient
    from insight.llm.client import LLMClient

    def _llm_client(client: LLMClient) -> ChatClient:
        return client

    def _caching_client(client: CachingLLMClient) -> ChatClient:
        return client
