"""Provider failures (openai SDK, httpx, llama.cpp, output parsers) → the domain's typed LLM errors.

Messages name the provider and the model and say what to do; they never carry a stack trace.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

import httpx
import openai
from langchain_core.exceptions import OutputParserException
from pydantic import ValidationError

from insight.errors import (
    InsightError,
    LLMRateLimited,
    LLMRequestRejected,
    LLMTimeout,
    LLMUnavailable,
    OutputParseError,
)

_MAX_DETAIL = 300
_OPENAI_MODULES = frozenset({"openai", "langchain_openai"})
_LLAMA_MODULES = frozenset({"llama_cpp"})


def _short(text: str, limit: int = _MAX_DETAIL) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _packages_in(tb: TracebackType | None) -> set[str]:
    """Top-level packages of the frames an exception passed through."""
    found: set[str] = set()
    while tb is not None:
        found.add(str(tb.tb_frame.f_globals.get("__name__", "")).partition(".")[0])
        tb = tb.tb_next
    return found


def _provider_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return _short(inner["message"])
        if isinstance(inner, str):
            return _short(inner)
    return _short(exc.message)


def _retry_after(response: httpx.Response) -> float | None:
    for header, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = response.headers.get(header)
        if value is None:
            continue
        try:
            return float(value) / scale
        except ValueError:
            continue
    return None


def validation_summary(exc: BaseException) -> str:
    """A short, model- and human-readable account of why an output did not fit its schema."""
    if isinstance(exc, ValidationError):
        problems = [f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()[:5]]
        more = f" (and {exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
        return "; ".join(problems) + more
    if isinstance(exc, OutputParserException) and isinstance(exc.__cause__, ValidationError):
        return validation_summary(exc.__cause__)
    return _short(str(exc))


def to_llm_error(exc: BaseException, provider: str, model: str) -> InsightError | None:
    """The domain error for ``exc``, or None when it is not a provider failure (a bug: let it propagate)."""
    who = f"LLM provider {provider!r} (model {model!r})"
    if isinstance(exc, InsightError):
        return exc
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException | TimeoutError):
        return LLMTimeout(f"{who} did not answer in time (after retries)")
    if isinstance(exc, openai.RateLimitError):
        retry_after = _retry_after(exc.response)
        return LLMRateLimited(
            f"{who} is rate limiting requests (HTTP 429 after retries): {_provider_message(exc)}",
            retry_after_s=retry_after,
        )
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status >= 500:
            return LLMUnavailable(f"{who} failed with HTTP {status} after retries: {_provider_message(exc)}")
        if status in (408, 409):  # retried by the SDK like 5xx
            return LLMUnavailable(f"{who} answered HTTP {status} after retries: {_provider_message(exc)}")
        hint = {
            401: "check INSIGHT_LLM__API_KEY",
            403: "check the key's permissions",
            404: "check INSIGHT_LLM__MODEL and INSIGHT_LLM__BASE_URL",
        }.get(status, "the request was refused")
        return LLMRequestRejected(f"{who} rejected the request with HTTP {status} ({hint}): {_provider_message(exc)}")
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError):
        return LLMUnavailable(f"{who} cannot be reached: {_short(str(exc))}")
    if isinstance(exc, openai.LengthFinishReasonError):
        return OutputParseError(f"{who} stopped at max_tokens before finishing its structured output")
    if isinstance(exc, openai.APIResponseValidationError):
        return LLMUnavailable(f"{who} returned a response that is not a chat completion: {_short(exc.message)}")
    if isinstance(exc, OutputParserException | ValidationError):
        return OutputParseError(f"{who} returned output that does not fit the schema: {validation_summary(exc)}")
    packages = _packages_in(exc.__traceback__)
    if packages & _OPENAI_MODULES and isinstance(exc, json.JSONDecodeError | TypeError | ValueError | KeyError):
        return LLMUnavailable(f"{who} returned a malformed response ({type(exc).__name__}: {_short(str(exc))})")
    if packages & _LLAMA_MODULES and isinstance(exc, ValueError | RuntimeError | OSError):
        message = _short(str(exc))
        if "context window" in message or "exceed context" in message:
            return LLMRequestRejected(f"{who}: the prompt does not fit the context window ({message})")
        return LLMUnavailable(f"{who} failed: {message}")
    return None


@contextmanager
def translate_llm_errors(provider: str, model: str) -> Iterator[None]:
    """Re-raise provider failures inside the block as ``LLMUnavailable``/``LLMTimeout``/…; others pass through."""
    try:
        yield
    except Exception as exc:
        mapped = to_llm_error(exc, provider, model)
        if mapped is None or mapped is exc:
            raise
        raise mapped from exc
