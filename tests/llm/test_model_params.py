"""A prompt's ``model_params`` reach the model on every provider, for plain and structured calls alike."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
import respx
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field

from insight.config import LOCAL_TIMEOUT_S, REMOTE_TIMEOUT_S, LLMSettings
from insight.llm import build_chat_model, build_llm_client
from insight.llm.client import LLMClient
from insight.llm.local import LocalChatModel, _LockedLlama
from tests.llm.conftest import BASE_URL, completion, ok
from tests.llm.fakes import FakeLlama

PARAMS = {"temperature": 0.3, "max_tokens": 77}


class Label(BaseModel):
    """A label."""

    label: str = Field(max_length=12)


def local_client(fake: FakeLlama) -> LLMClient:
    model = LocalChatModel.model_construct(
        model_path="fake.gguf", model_name="fake", timeout_s=10.0, temperature=0.0, max_tokens=512
    )
    model.client = _LockedLlama(fake, threading.Lock(), 10.0, "fake")
    return LLMClient(model, LLMSettings(provider="local", temperature=0.0, max_tokens=512))


def remote_settings(provider: str) -> LLMSettings:
    return LLMSettings.model_validate(
        {"provider": provider, "base_url": BASE_URL, "model": "m", "api_key": "sk-test", "max_tokens": 512}
    )


@pytest.fixture
def wire() -> respx.MockRouter:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield router


def test_local_structured_call_gets_the_params() -> None:
    fake = FakeLlama({"label": "up"})
    assert asyncio.run(local_client(fake).astructured("x", Label, PARAMS)) == Label(label="up")
    call = fake.calls[0]
    assert (call["temperature"], call["max_tokens"]) == (0.3, 77)
    assert call["tool_choice"] == {"type": "function", "function": {"name": "Label"}}


def test_local_structured_call_without_params_keeps_the_model_defaults() -> None:
    fake = FakeLlama({"label": "up"})
    local_client(fake).structured("x", Label)
    assert (fake.calls[0]["temperature"], fake.calls[0]["max_tokens"]) == (0.0, 512)


def test_local_plain_call_gets_the_params() -> None:
    fake = FakeLlama("fine")
    asyncio.run(local_client(fake).ainvoke("x", **PARAMS))
    assert (fake.calls[0]["temperature"], fake.calls[0]["max_tokens"]) == (0.3, 77)


def test_the_repair_attempt_is_sent_with_the_same_params() -> None:
    fake = FakeLlama({"label": "far too long a label"})
    with pytest.raises(Exception, match="after one repair attempt"):
        local_client(fake).structured("x", Label, PARAMS)
    assert [(c["temperature"], c["max_tokens"]) for c in fake.calls] == [(0.3, 77), (0.3, 77)]


@pytest.mark.parametrize("provider", ["openai", "openai_compatible"])
def test_remote_structured_call_gets_the_params(wire: respx.MockRouter, provider: str) -> None:
    reply = (
        completion(json.dumps({"label": "up"})) if provider == "openai" else completion(tool=("Label", {"label": "up"}))
    )
    route = wire.post("/chat/completions").mock(return_value=ok(reply))
    assert build_llm_client(remote_settings(provider)).structured("x", Label, PARAMS) == Label(label="up")
    body = json.loads(route.calls.last.request.content)
    assert (body["temperature"], body["max_completion_tokens"]) == (0.3, 77)
    # an OpenAI-compatible server may read only the older name: it gets the prompt's value there too
    assert body.get("max_tokens") == (77 if provider == "openai_compatible" else None)


@pytest.mark.parametrize("provider", ["openai", "openai_compatible"])
def test_remote_plain_call_gets_the_params(wire: respx.MockRouter, provider: str) -> None:
    route = wire.post("/chat/completions").mock(return_value=ok(completion("fine")))
    asyncio.run(build_llm_client(remote_settings(provider)).ainvoke("x", **PARAMS))
    body = json.loads(route.calls.last.request.content)
    assert (body["temperature"], body["max_completion_tokens"]) == (0.3, 77)
    assert body.get("max_tokens") == (77 if provider == "openai_compatible" else None)


def test_runnables_are_cached_per_params() -> None:
    client = local_client(FakeLlama({"label": "up"}))
    first = client.structured_runnable(Label, PARAMS)
    assert client.structured_runnable(Label, dict(PARAMS)) is first
    assert client.structured_runnable(Label, {"temperature": 0.9}) is not first


def test_timeouts_default_per_provider() -> None:
    assert LLMSettings(provider="local").call_timeout_s == LOCAL_TIMEOUT_S > REMOTE_TIMEOUT_S
    assert LLMSettings(provider="local", timeout_s=5).call_timeout_s == 5
    model = build_chat_model(remote_settings("openai_compatible"))
    assert isinstance(model, ChatOpenAI) and model.request_timeout == REMOTE_TIMEOUT_S


def test_remote_providers_run_many_calls_at_once_and_the_local_model_one() -> None:
    assert LLMClient(build_chat_model(remote_settings("openai_compatible")), remote_settings("openai")).capacity >= 16
    assert local_client(FakeLlama()).capacity == 1
