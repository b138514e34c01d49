"""The repair attempt of structured calls is worded by a prompt file, whose identity the client exposes."""

from __future__ import annotations

import hashlib
import textwrap
import threading
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from insight.config import LLMSettings
from insight.errors import OutputParseError, PromptNotFound
from insight.llm import build_llm_client
from insight.llm.client import LLMClient
from insight.llm.local import LocalChatModel, _LockedLlama
from insight.llm.slot import LLMSlot
from insight.llm.structured import REPAIR_PROMPT, load_repair_prompt
from insight.prompts import PromptRegistry, default_prompt_root
from tests.llm.conftest import BASE_URL
from tests.llm.fakes import FakeLlama


class Label(BaseModel):
    """A label."""

    label: str = Field(max_length=12)


def local_model(fake: FakeLlama) -> LocalChatModel:
    model = LocalChatModel.model_construct(
        model_path="fake.gguf", model_name="fake", timeout_s=10.0, temperature=0.0, max_tokens=512
    )
    model.client = _LockedLlama(fake, threading.Lock(), 10.0, "fake")
    return model


def custom_prompts(tmp_path: Path) -> PromptRegistry:
    path = tmp_path / REPAIR_PROMPT / "v1.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(
        textwrap.dedent(
            f"""\
            name: {REPAIR_PROMPT}
            version: 1
            description: A terse repair.
            input_variables: [problem, previous_answer, schema_name]
            template: "FIX {{schema_name}}: {{problem}} (was {{previous_answer}})"
            """
        ),
        encoding="utf-8",
    )
    return PromptRegistry(tmp_path)


def test_the_shipped_repair_prompt_is_a_versioned_hashed_file() -> None:
    prompt = load_repair_prompt()
    assert prompt.path == default_prompt_root() / REPAIR_PROMPT / f"v{prompt.version}.yaml"
    assert prompt.sha256 == hashlib.sha256(prompt.path.read_bytes()).hexdigest()
    assert set(prompt.input_variables) == {"problem", "previous_answer", "schema_name"}


def test_the_repair_message_is_the_prompt_filled_in_after_the_original_messages() -> None:
    fake = FakeLlama({"label": "far too long a label"})
    client = LLMClient(local_model(fake), LLMSettings(provider="local"))
    with pytest.raises(OutputParseError, match="after one repair attempt"):
        client.structured("Label this.", Label)
    first, repair = (call["messages"] for call in fake.calls)
    assert repair[: len(first)] == first
    expected = client.repair_prompt.format_messages(
        problem="label: String should have at most 12 characters",
        previous_answer='{"label": "far too long a label"}',
        schema_name="Label",
    )[0]
    assert repair[len(first) :] == [{"role": "user", "content": expected.text}]


def test_a_repair_prompt_passed_in_is_the_one_used_and_reported(tmp_path: Path) -> None:
    prompts = custom_prompts(tmp_path)
    fake = FakeLlama({"label": "far too long a label"})
    client = LLMClient(local_model(fake), LLMSettings(provider="local"), repair_prompt=load_repair_prompt(prompts))
    with pytest.raises(OutputParseError):
        client.structured("x", Label)
    assert fake.calls[1]["messages"][-1]["content"].startswith("FIX Label: label: String should have at most 12")
    custom = prompts.get(REPAIR_PROMPT)
    assert client.repair_metadata == {
        "repair_prompt_name": REPAIR_PROMPT,
        "repair_prompt_version": 1,
        "repair_prompt_sha256": custom.sha256,
    }
    assert custom.sha256 != load_repair_prompt().sha256


def test_without_one_the_client_reports_the_shipped_prompt() -> None:
    client = LLMClient(local_model(FakeLlama()), LLMSettings(provider="local"))
    shipped = load_repair_prompt()
    assert client.repair_metadata["repair_prompt_sha256"] == shipped.sha256
    assert client.repair_metadata["repair_prompt_version"] == shipped.version


def test_the_factory_and_the_slot_take_it_from_the_service_registry(tmp_path: Path) -> None:
    prompts = custom_prompts(tmp_path)
    settings = LLMSettings(provider="openai_compatible", base_url=BASE_URL, model="m")
    expected = prompts.get(REPAIR_PROMPT).sha256
    assert build_llm_client(settings, prompts=prompts).repair_metadata["repair_prompt_sha256"] == expected
    assert LLMSlot(settings, prompts=prompts).require().repair_metadata["repair_prompt_sha256"] == expected


def test_a_registry_without_the_repair_prompt_fails_at_build_time(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    settings = LLMSettings(provider="openai_compatible", base_url=BASE_URL, model="m")
    with pytest.raises(PromptNotFound, match="llm_repair"):
        build_llm_client(settings, prompts=PromptRegistry(tmp_path / "empty"))
