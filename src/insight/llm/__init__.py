"""Chat models: ``build_chat_model(settings)`` → ``BaseChatModel``, one module per provider.

``local`` (llama.cpp in-process, the default engine), ``openai`` and ``openai_compatible`` (any server
speaking the OpenAI API, through ``base_url``). ``LLMClient`` adds a concurrency limit, token counting
and typed errors; ``structured`` picks the structured-output method each backend supports.
"""

from __future__ import annotations

from insight.llm.client import LLMClient
from insight.llm.errors import to_llm_error, translate_llm_errors
from insight.llm.factory import build_chat_model, build_llm_client
from insight.llm.structured import STRUCTURED_METHOD, structured

__all__ = [
    "STRUCTURED_METHOD",
    "LLMClient",
    "build_chat_model",
    "build_llm_client",
    "structured",
    "to_llm_error",
    "translate_llm_errors",
]
