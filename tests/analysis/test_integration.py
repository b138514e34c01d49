"""The real local model (Qwen2.5-Coder-0.5B in llama.cpp) narrating a table's insights end to end.

Asserts what the code guarantees whatever the model writes: a schema-valid ``AnalysisResult`` whose every
figure is an insight value (grounded rate 1.0), and metadata saying who narrated and why.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from insight.analysis import AnalysisResult, build_analyzer
from insight.config import AnalysisSettings, LLMSettings
from insight.llm import build_llm_client
from insight.llm.slot import LLMSlot
from insight.prompts import PromptRegistry

pytestmark = pytest.mark.integration
pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (see the Makefile's llm step)")

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL_CACHE = Path(os.environ.get("INSIGHT_TEST_MODEL_CACHE", REPO_ROOT / "var" / "models" / "llm"))


def test_the_local_model_narrates_and_every_figure_is_an_insight_value(prompts: PromptRegistry) -> None:
    settings = LLMSettings(provider="local", model_cache=MODEL_CACHE, n_ctx=2048, max_tokens=448, timeout_s=90)
    analyzer = build_analyzer(AnalysisSettings(), prompts, LLMSlot(settings, client=build_llm_client(settings)))
    rng = np.random.default_rng(3)
    units = rng.integers(10, 100, size=200).astype(float)
    frame = pd.DataFrame({"units": units, "revenue": units * 12.5 + rng.normal(scale=40, size=200)})
    started = time.monotonic()
    response = analyzer.analyze_sync(frame, question="How does revenue relate to units?")
    elapsed = time.monotonic() - started

    print(f"\n{elapsed:.1f}s {response.model_dump_json(indent=1, exclude={'facts', 'insights'})}")
    assert isinstance(response.result, AnalysisResult)
    assert 1 <= len(response.result.key_points) <= 6 and len(response.result.summary) <= 600
    assert response.grounding.unsupported == [] and response.grounding.grounded_rate == 1.0
    meta = response.meta
    assert meta.provider == "local" and meta.model == "qwen2.5-coder-0.5b-instruct-q4_k_m"
    assert meta.narrator == "model" or (meta.narrator_reason or "").startswith("the model")
    assert meta.prompt_name == "narration"
    assert elapsed < 150  # seconds on an idle machine; the 2 cores are shared in CI
