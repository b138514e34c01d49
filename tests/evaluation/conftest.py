"""Evaluation fixtures: settings under a temp dir, a tiny corpus with judgements, fake model and search."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import tiktoken
import yaml

from insight.config import EvaluationSettings, LLMSettings, Settings
from insight.evaluation import Evaluator
from insight.evaluation.cache import OutputCache
from insight.llm import LLMClient
from insight.prompts import PromptRegistry
from insight.rag.service import RagService
from insight.rag.store import ChromaStore, build_chroma_client
from insight.tokens import get_encoding
from tests.conftest import REPO_ROOT, make_settings
from tests.evaluation.fakes import Responder, RespondingFake
from tests.rag.fakes import HashEmbeddings

CORPUS = {
    "passwords.md": "# Passwords\n\nPasswords must be at least 14 characters long and rotated yearly.",
    "travel.md": "# Travel\n\nHotels are capped at 180 euros per night in Lisbon, before taxes.",
    "retention.md": "# Retention\n\nRaw event logs are kept for 13 months from ingestion, then purged.",
}
CASES = [
    {"id": "q1", "query": "minimum password length", "relevant": {"passwords.md": 2}, "answer": "14 characters"},
    {"id": "q2", "query": "hotel cap per night in Lisbon", "relevant": {"travel.md": 2}, "answer": "180 euros"},
    {"id": "q3", "query": "how long are raw event logs kept", "relevant": {"retention.md": 2}, "answer": "13 months"},
    {"id": "q4", "query": "Who is the CEO?", "relevant": {}, "answer": None},
]


@pytest.fixture
def settings(tmp_path: Path, trained_model_dir: Path) -> Settings:
    return make_settings(
        tmp_path,
        model_dir=trained_model_dir,
        evaluation=EvaluationSettings(
            suites_dir=tmp_path / "suites", cache_dir=tmp_path / "cache", bootstrap_samples=500, seed=7
        ),
    )


@pytest.fixture
def prompts() -> PromptRegistry:
    return PromptRegistry(REPO_ROOT / "prompts")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name, text in CORPUS.items():
        (folder / name).write_text(text)
    return folder


@pytest.fixture
def qa_dataset(tmp_path: Path) -> Path:
    path = tmp_path / "qa.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(case) for case in CASES) + b"\n")
    return path


@pytest.fixture
def rag(settings: Settings) -> RagService:
    store = ChromaStore(build_chroma_client(settings.vectorstore), HashEmbeddings.model_id)
    return RagService(store, HashEmbeddings(), get_encoding(), settings.search)


def fake_client(responder: Responder) -> tuple[LLMClient, RespondingFake]:
    model = RespondingFake(messages=iter([]), responder=responder)
    encoding: tiktoken.Encoding = get_encoding()
    return LLMClient(model, LLMSettings(provider="local"), encoding=encoding), model


MakeEvaluator = Callable[..., tuple[Evaluator, RespondingFake]]


@pytest.fixture
def make_evaluator(settings: Settings, prompts: PromptRegistry, rag: RagService) -> MakeEvaluator:
    """An evaluator whose model answers with ``responder`` and whose search runs on hash embeddings."""

    def make(responder: Responder, *, cache: bool = True) -> tuple[Evaluator, RespondingFake]:
        client, model = fake_client(responder)
        evaluator = Evaluator(
            settings,
            prompts,
            llm_factory=lambda _settings: client,
            rag_factory=lambda: rag,
            cache=OutputCache(settings.evaluation.cache_dir if cache else None),
        )
        return evaluator, model

    return make


def write_suite(folder: Path, **fields: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{fields['name']}.yaml"
    path.write_text(yaml.safe_dump(_plain(fields), sort_keys=False))
    return path


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


SQUAD_PARAGRAPHS = {
    "00_000": ("Passwords", "Passwords must be at least 14 characters long. They are rotated every year."),
    "01_000": ("Travel", "Hotels in Lisbon are capped at 180 euros per night. Taxes are paid on top."),
    "01_001": ("Retention", "Raw event logs are kept for 13 months. After that they are purged."),
}
SQUAD_QUESTIONS = [
    ("s1", "How long must passwords be at least?", "00_000", ["14 characters", "at least 14 characters"]),
    ("s2", "What are hotels in Lisbon capped at per night?", "01_000", ["180 euros"]),
    ("s3", "How long are raw event logs kept?", "01_001", ["13 months"]),
]


@pytest.fixture
def squad_folder(tmp_path: Path) -> Path:
    """A SQuAD-layout folder: article 00 is in the tuning half, article 01 in the report half."""
    folder = tmp_path / "squad"
    folder.mkdir()

    def jsonl(name: str, rows: list[dict[str, Any]]) -> None:
        (folder / name).write_bytes(b"\n".join(orjson.dumps(row) for row in rows) + b"\n")

    jsonl("corpus.jsonl", [{"_id": i, "title": t, "text": x} for i, (t, x) in SQUAD_PARAGRAPHS.items()])
    jsonl("queries.jsonl", [{"_id": q, "text": text} for q, text, _, _ in SQUAD_QUESTIONS])
    jsonl("answers.jsonl", [{"_id": q, "gold_doc": d, "answers": a} for q, _, d, a in SQUAD_QUESTIONS])
    qrels = "".join(f"{q}\t{d}\t1\n" for q, _, d, _ in SQUAD_QUESTIONS)
    (folder / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels)
    return folder
