"""``build_chat_model(settings)``: the one place that turns ``LLMSettings`` into a ``BaseChatModel``."""

from __future__ import annotations

import tiktoken
from langchain_core.language_models import BaseChatModel

from insight.config import LLMSettings
from insight.errors import LLMNotConfigured
from insight.llm.client import LLMClient
from insight.llm.structured import load_repair_prompt
from insight.prompts import PromptRegistry

NOT_CONFIGURED = (
    "no LLM configured: set INSIGHT_LLM__PROVIDER to 'local' (embedded llama.cpp), 'openai' "
    "(with INSIGHT_LLM__MODEL and INSIGHT_LLM__API_KEY) or 'openai_compatible' (with INSIGHT_LLM__BASE_URL "
    "and INSIGHT_LLM__MODEL)"
)


def build_chat_model(settings: LLMSettings) -> BaseChatModel:
    """The chat model ``settings.provider`` names; provider ``none`` raises ``LLMNotConfigured``.

    ``local`` assembles the GGUF into ``settings.model_cache`` on first use (about 1 s per 100 MB) and
    loads it; the provider modules are imported only when chosen.
    """
    if settings.provider == "local":
        from insight.llm.local import build_local_chat_model

        return build_local_chat_model(settings)
    if settings.provider in ("openai", "openai_compatible"):
        from insight.llm.openai import build_openai_chat_model

        return build_openai_chat_model(settings)
    raise LLMNotConfigured(NOT_CONFIGURED)


def build_llm_client(
    settings: LLMSettings, *, encoding: tiktoken.Encoding | None = None, prompts: PromptRegistry | None = None
) -> LLMClient:
    """``build_chat_model`` wrapped in an ``LLMClient`` (concurrency limit, token counting, typed errors).

    ``prompts``: the registry whose ``llm_repair`` prompt words structured calls' repair attempt (the
    service's, from ``settings.prompts_dir``); None uses the shipped one.
    """
    repair = load_repair_prompt(prompts) if prompts is not None else None
    return LLMClient(build_chat_model(settings), settings, encoding=encoding, repair_prompt=repair)
