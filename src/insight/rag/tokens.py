"""Moved to ``insight.tokens`` (the low layer: the LLM client counts tokens too); kept for old imports."""

from __future__ import annotations

from insight.tokens import (
    DEFAULT_ENCODING,
    SUPPORTED_ENCODINGS,
    count_tokens,
    default_cache_dir,
    ensure_tiktoken_cache,
    get_encoding,
)

__all__ = [
    "DEFAULT_ENCODING",
    "SUPPORTED_ENCODINGS",
    "count_tokens",
    "default_cache_dir",
    "ensure_tiktoken_cache",
    "get_encoding",
]
