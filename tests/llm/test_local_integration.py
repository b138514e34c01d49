"""The real llama.cpp: SmolLM2 (94 MB) for load + grammar, the assembled Qwen GGUF for a structured answer.

The Qwen GGUF is assembled once into ``$INSIGHT_TEST_MODEL_CACHE`` (default: the service's own
``var/models/llm``, so ``make run`` and later test runs reuse it instead of re-joining 491 MB).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from insight.config import LLMSettings
from insight.errors import LLMRequestRejected
from insight.llm import LLMClient, build_llm_client
from insight.llm.local import LocalChatModel, _LockedLlama, build_local_chat_model
from insight.llm.local_model import QWEN25_CODER_05B, locate_smollm2

pytestmark = pytest.mark.integration
pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (see the Makefile's llm step)")

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL_CACHE = Path(os.environ.get("INSIGHT_TEST_MODEL_CACHE", REPO_ROOT / "var" / "models" / "llm"))


class Tag(BaseModel):
    """A one-word tag for a sentence."""

    tag: str = Field(max_length=16)
    positive: bool


class Trend(BaseModel):
    """The direction of a series and a one-line headline."""

    direction: Literal["up", "down", "flat"]
    headline: str = Field(max_length=80)
    points: list[str] = Field(max_length=2)


@pytest.fixture(scope="module")
def smollm2() -> LocalChatModel:
    settings = LLMSettings(provider="local", n_ctx=512, max_tokens=48, timeout_s=30)
    return build_local_chat_model(settings, model_path=locate_smollm2())


def test_smollm2_loads_and_its_output_follows_the_schema_grammar(smollm2: LocalChatModel) -> None:
    model = smollm2
    assert isinstance(model, LocalChatModel)
    assert isinstance(model.client, _LockedLlama)  # every call into llama.cpp goes through the lock
    tag = model.with_structured_output(Tag).invoke("Tag this sentence: 'The launch went great.'")
    assert isinstance(tag, Tag)
    assert len(tag.tag) <= 16


def test_a_prompt_longer_than_the_context_is_a_clear_rejection(smollm2: LocalChatModel) -> None:
    client = LLMClient(smollm2, LLMSettings(provider="local"))
    with pytest.raises(LLMRequestRejected, match=r"'local' \(model 'SmolLM2-135M-Instruct.Q4_1'\).*context window"):
        client.invoke("word " * 2000)
    assert client.invoke("Say hi.").text  # the instance (and its lock) are still usable


def test_the_assembled_qwen_gives_a_schema_valid_structured_answer() -> None:
    settings = LLMSettings(provider="local", model_cache=MODEL_CACHE, n_ctx=1024, max_tokens=96, timeout_s=60)
    client = build_llm_client(settings)
    assert (MODEL_CACHE / QWEN25_CODER_05B.filename).stat().st_size == QWEN25_CODER_05B.size
    assert client.model_name == "qwen2.5-coder-0.5b-instruct-q4_k_m"
    started = time.monotonic()
    trend = client.structured(
        [
            ("system", "You are a careful data analyst. Use only the facts given."),
            ("human", "Facts: monthly sales were 100, 120, 135 and 150 (January to April). Describe the trend."),
        ],
        Trend,
    )
    elapsed = time.monotonic() - started
    # Valid for the schema, grammar-bounded lengths included. Whether the direction is right is a
    # question of model quality, not of this code: compute such judgements in Python instead.
    assert isinstance(trend, Trend)
    assert trend.direction in ("up", "down", "flat")
    assert 0 < len(trend.headline) <= 80 and len(trend.points) <= 2
    assert elapsed < 60
