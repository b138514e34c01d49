"""``to_llm_error`` / ``translate_llm_errors``: each failure kind → its domain error; bugs pass through."""

from __future__ import annotations

import httpx
import openai
import pytest
from langchain_core.exceptions import OutputParserException
from pydantic import BaseModel, ValidationError

from insight.errors import (
    InsightError,
    LLMRateLimited,
    LLMRequestRejected,
    LLMTimeout,
    LLMUnavailable,
    OutputParseError,
)
from insight.llm.errors import to_llm_error, translate_llm_errors

REQUEST = httpx.Request("POST", "http://llm.test/v1/chat/completions")


def status_error(cls: type[openai.APIStatusError], status: int, **headers: str) -> openai.APIStatusError:
    response = httpx.Response(status, request=REQUEST, headers=headers)
    return cls("boom", response=response, body={"error": {"message": f"provider says {status}"}})


class Small(BaseModel):
    n: int


def validation_error() -> ValidationError:
    try:
        Small.model_validate({"n": "many"})
    except ValidationError as exc:
        return exc
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("exc", "expected", "fragment"),
    [
        (openai.APITimeoutError(request=REQUEST), LLMTimeout, "did not answer in time"),
        (httpx.ReadTimeout("slow", request=REQUEST), LLMTimeout, "did not answer in time"),
        (openai.APIConnectionError(request=REQUEST), LLMUnavailable, "cannot be reached"),
        (status_error(openai.RateLimitError, 429, **{"retry-after": "7"}), LLMRateLimited, "provider says 429"),
        (status_error(openai.InternalServerError, 503), LLMUnavailable, "HTTP 503 after retries"),
        (status_error(openai.AuthenticationError, 401), LLMRequestRejected, "INSIGHT_LLM__API_KEY"),
        (status_error(openai.NotFoundError, 404), LLMRequestRejected, "INSIGHT_LLM__MODEL"),
        (status_error(openai.BadRequestError, 400), LLMRequestRejected, "provider says 400"),
        (OutputParserException("not json"), OutputParseError, "does not fit the schema: not json"),
        (validation_error(), OutputParseError, "n: Input should be a valid integer"),
    ],
)
def test_failures_map_to_domain_errors(exc: Exception, expected: type[InsightError], fragment: str) -> None:
    mapped = to_llm_error(exc, "openai", "gpt-x")
    assert type(mapped) is expected
    assert mapped is not None
    assert "LLM provider 'openai' (model 'gpt-x')" in mapped.message
    assert fragment in mapped.message


def test_rate_limit_keeps_the_retry_after_hint() -> None:
    mapped = to_llm_error(status_error(openai.RateLimitError, 429, **{"retry-after": "7"}), "openai", "m")
    assert isinstance(mapped, LLMRateLimited)
    assert mapped.retry_after_s == 7.0


def test_translate_chains_the_cause_and_passes_bugs_through() -> None:
    with pytest.raises(LLMTimeout) as caught, translate_llm_errors("openai_compatible", "qwen"):
        raise openai.APITimeoutError(request=REQUEST)
    assert isinstance(caught.value.__cause__, openai.APITimeoutError)

    with pytest.raises(KeyError), translate_llm_errors("openai", "m"):
        raise KeyError("a bug in our code is not an LLM failure")

    already = OutputParseError("already typed")
    with pytest.raises(OutputParseError) as typed, translate_llm_errors("openai", "m"):
        raise already
    assert typed.value is already


def test_long_provider_messages_are_shortened() -> None:
    response = httpx.Response(500, request=REQUEST)
    exc = openai.InternalServerError("x", response=response, body={"error": {"message": "line\n" * 500}})
    mapped = to_llm_error(exc, "openai", "m")
    assert mapped is not None
    assert len(mapped.message) < 420 and "\n" not in mapped.message
