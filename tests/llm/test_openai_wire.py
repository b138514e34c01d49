"""The OpenAI(-compatible) path through ``build_chat_model``, on the real SDK, with the wire mocked by respx."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import respx
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field

from insight.config import LLMSettings
from insight.errors import (
    LLMRateLimited,
    LLMRequestRejected,
    LLMTimeout,
    LLMUnavailable,
    OutputParseError,
)
from insight.llm import build_chat_model, build_llm_client, structured
from tests.llm.conftest import BASE_URL, completion, error, ok


class Verdict(BaseModel):
    """A short verdict."""

    label: str = Field(max_length=12)
    reasons: list[str] = Field(max_length=3)
    confidence: float = Field(ge=0.0, le=1.0)


GOOD = {"label": "positive", "reasons": ["sales up", "costs flat"], "confidence": 0.8}


def settings(**overrides: object) -> LLMSettings:
    values: dict[str, object] = {
        "provider": "openai_compatible",
        "base_url": BASE_URL,
        "model": "qwen",
        "max_retries": 2,
        "timeout_s": 5.0,
        "max_tokens": 64,
        "concurrency": 2,
    }
    values.update(overrides)
    return LLMSettings.model_validate(values)


@pytest.fixture
def wire() -> respx.MockRouter:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield router


def test_builds_chat_openai_with_the_settings() -> None:
    model = build_chat_model(settings())
    assert isinstance(model, ChatOpenAI)
    assert model.model_name == "qwen"
    assert model.openai_api_base == BASE_URL
    assert model.request_timeout == 5.0
    assert model.max_retries == 2


def test_a_completion_round_trip_sends_the_settings(wire: respx.MockRouter) -> None:
    route = wire.post("/chat/completions").mock(return_value=ok(completion("hello there")))
    client = build_llm_client(settings(api_key="sk-test", temperature=0.3))
    message = client.invoke("Say hello")
    assert message.text == "hello there"
    request = route.calls.last.request
    body = json.loads(request.content)
    assert body["model"] == "qwen"
    assert body["messages"] == [{"role": "user", "content": "Say hello"}]
    assert body["temperature"] == 0.3
    assert body["max_completion_tokens"] == 64 and body["max_tokens"] == 64
    assert request.headers["authorization"] == "Bearer sk-test"


def test_a_compatible_server_needs_no_key(wire: respx.MockRouter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    route = wire.post("/chat/completions").mock(return_value=ok(completion()))
    build_llm_client(settings()).invoke("hi")
    assert route.calls.last.request.headers["authorization"] == "Bearer not-needed"


def test_429_then_success_is_retried_after_the_servers_delay(wire: respx.MockRouter) -> None:
    route = wire.post("/chat/completions").mock(
        side_effect=[error(429, "slow down", retry_after_ms="1"), ok(completion("after retry"))]
    )
    message = asyncio.run(build_llm_client(settings()).ainvoke("hi"))
    assert message.text == "after retry"
    assert route.call_count == 2


def test_5xx_is_retried_then_reported_as_unavailable(wire: respx.MockRouter, fast_backoff: None) -> None:
    route = wire.post("/chat/completions").mock(return_value=error(500, "model crashed"))
    with pytest.raises(
        LLMUnavailable, match=r"'openai_compatible' \(model 'qwen'\) failed with HTTP 500.*model crashed"
    ):
        asyncio.run(build_llm_client(settings(max_retries=2)).ainvoke("hi"))
    assert route.call_count == 3  # one try and max_retries retries, no more


def test_5xx_then_success_recovers(wire: respx.MockRouter, fast_backoff: None) -> None:
    route = wire.post("/chat/completions").mock(side_effect=[error(503), error(502), ok(completion("up"))])
    assert build_llm_client(settings()).invoke("hi").text == "up"
    assert route.call_count == 3


def test_a_timeout_is_retried_then_reported_as_llm_timeout(wire: respx.MockRouter, fast_backoff: None) -> None:
    route = wire.post("/chat/completions").mock(side_effect=httpx.ReadTimeout("read timed out"))
    with pytest.raises(LLMTimeout, match=r"'openai_compatible' \(model 'qwen'\) did not answer in time"):
        asyncio.run(build_llm_client(settings(max_retries=1)).ainvoke("hi"))
    assert route.call_count == 2


def test_an_unreachable_server_is_unavailable(wire: respx.MockRouter, fast_backoff: None) -> None:
    wire.post("/chat/completions").mock(side_effect=httpx.ConnectError("connection refused"))
    with pytest.raises(LLMUnavailable, match=r"cannot be reached"):
        build_llm_client(settings(max_retries=0)).invoke("hi")


def test_429_after_retries_is_rate_limited_with_the_servers_hint(wire: respx.MockRouter) -> None:
    route = wire.post("/chat/completions").mock(return_value=error(429, "quota", retry_after_ms="1"))
    with pytest.raises(LLMRateLimited, match=r"rate limiting.*quota") as caught:
        build_llm_client(settings(max_retries=1)).invoke("hi")
    assert caught.value.retry_after_s == pytest.approx(0.001)
    assert route.call_count == 2


def test_a_rejected_key_is_not_retried(wire: respx.MockRouter) -> None:
    route = wire.post("/chat/completions").mock(return_value=error(401, "invalid api key"))
    with pytest.raises(LLMRequestRejected, match=r"HTTP 401 \(check INSIGHT_LLM__API_KEY\): invalid api key"):
        build_llm_client(settings()).invoke("hi")
    assert route.call_count == 1


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, content=b'{"choices": [', headers={"content-type": "application/json"}),
        httpx.Response(200, text="<html>gateway</html>", headers={"content-type": "text/html"}),
        httpx.Response(200, json={"unexpected": True}),
    ],
    ids=["truncated-json", "html", "wrong-shape"],
)
def test_a_malformed_body_is_a_clear_error(wire: respx.MockRouter, response: httpx.Response) -> None:
    wire.post("/chat/completions").mock(return_value=response)
    with pytest.raises(LLMUnavailable, match=r"'openai_compatible' \(model 'qwen'\) returned a malformed response"):
        build_llm_client(settings()).invoke("hi")


def test_structured_output_uses_function_calling_on_a_compatible_server(wire: respx.MockRouter) -> None:
    route = wire.post("/chat/completions").mock(return_value=ok(completion(tool=("Verdict", GOOD))))
    verdict = asyncio.run(build_llm_client(settings()).astructured("Judge: sales up 10%", Verdict))
    assert verdict == Verdict.model_validate(GOOD)
    body = json.loads(route.calls.last.request.content)
    assert body["tool_choice"]["function"]["name"] == "Verdict"
    assert body["tools"][0]["function"]["parameters"]["properties"]["label"]["maxLength"] == 12
    assert "response_format" not in body


def test_structured_output_uses_json_schema_on_openai(wire: respx.MockRouter) -> None:
    route = wire.post("/chat/completions").mock(return_value=ok(completion(json.dumps(GOOD))))
    model_settings = settings(provider="openai", api_key="sk-test")
    verdict = structured(build_chat_model(model_settings), Verdict, model_settings).invoke("Judge")
    assert verdict == Verdict.model_validate(GOOD)
    body = json.loads(route.calls.last.request.content)
    assert body["response_format"]["type"] == "json_schema"
    assert "tools" not in body


def test_an_invalid_structured_answer_is_repaired_once(wire: respx.MockRouter) -> None:
    bad = {**GOOD, "confidence": 1.7}  # grammars do not bound floats; the schema does
    route = wire.post("/chat/completions").mock(
        side_effect=[ok(completion(tool=("Verdict", bad))), ok(completion(tool=("Verdict", GOOD)))]
    )
    verdict = build_llm_client(settings()).structured("Judge", Verdict)
    assert verdict.confidence == 0.8
    assert route.call_count == 2
    repair = json.loads(route.calls.last.request.content)["messages"][-1]
    assert repair["role"] == "user"
    assert "confidence: Input should be less than or equal to 1" in repair["content"]
    assert '"confidence": 1.7' in repair["content"]


def test_structured_output_still_invalid_after_the_repair_is_an_output_parse_error(wire: respx.MockRouter) -> None:
    bad = {**GOOD, "label": "much too long a label"}
    route = wire.post("/chat/completions").mock(return_value=ok(completion(tool=("Verdict", bad))))
    with pytest.raises(OutputParseError, match=r"does not fit Verdict after one repair attempt: label: String should"):
        asyncio.run(build_llm_client(settings()).astructured("Judge", Verdict))
    assert route.call_count == 2


def test_a_plain_text_answer_to_a_structured_request_is_an_output_parse_error(wire: respx.MockRouter) -> None:
    wire.post("/chat/completions").mock(return_value=ok(completion("I think it is positive.")))
    with pytest.raises(OutputParseError, match=r"the reply held no structured output"):
        build_llm_client(settings()).structured("Judge", Verdict)
