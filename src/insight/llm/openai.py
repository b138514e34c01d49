"""OpenAI, or any OpenAI-compatible server (vLLM, Ollama, llama.cpp server) through ``base_url``.

Timeouts and retries are the OpenAI SDK's own: ``max_retries`` retries on connection errors, timeouts,
408/409/429 and 5xx with exponential backoff (0.5 s doubling, capped at 8 s, with jitter) or the delay a
``retry-after``/``retry-after-ms`` header asks for.
"""

from __future__ import annotations

import os

from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from insight.config import LLMSettings
from insight.errors import ConfigError

# OpenAI-compatible servers usually ignore the key, but the SDK refuses to start without one.
PLACEHOLDER_KEY = "not-needed"


def build_openai_chat_model(settings: LLMSettings) -> ChatOpenAI:
    """``ChatOpenAI`` for provider ``openai`` (api.openai.com unless ``base_url``) or ``openai_compatible``."""
    if settings.provider not in ("openai", "openai_compatible"):
        raise ConfigError(f"build_openai_chat_model does not handle provider {settings.provider!r}")
    if not settings.model:
        raise ConfigError(f"LLM provider {settings.provider!r} needs a model name: set INSIGHT_LLM__MODEL")
    api_key = settings.api_key or os.environ.get("OPENAI_API_KEY")
    if not api_key:
        if settings.provider == "openai":
            raise ConfigError("LLM provider 'openai' needs an API key: set INSIGHT_LLM__API_KEY (or OPENAI_API_KEY)")
        api_key = PLACEHOLDER_KEY
    return ChatOpenAI(
        model=settings.model,
        base_url=settings.base_url,
        api_key=SecretStr(api_key),
        timeout=settings.call_timeout_s,
        max_retries=settings.max_retries,
        temperature=settings.temperature,
        max_completion_tokens=settings.max_tokens,
        # langchain-openai sends only max_completion_tokens; older compatible servers read max_tokens.
        extra_body={"max_tokens": settings.max_tokens} if settings.provider == "openai_compatible" else None,
    )
