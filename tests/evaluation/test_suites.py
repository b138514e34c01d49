"""Suite files: validated, hashed, and the shipped ones consistent with what they evaluate."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from insight.errors import SuiteInvalid, SuiteNotFound
from insight.evaluation import find_suite, list_suites, load_suite_file
from insight.evaluation.datasets import load_jsonl
from insight.predictor.config import load_model_config
from tests.conftest import MODEL_CONFIG, REPO_ROOT
from tests.evaluation.conftest import write_suite

SHIPPED = REPO_ROOT / "eval" / "suites"


def test_every_shipped_suite_loads_with_targets() -> None:
    suites = {loaded.suite.name: loaded for loaded in list_suites(SHIPPED)}
    assert {"analysis-sklearn", "retrieval-sample", "ask-sample", "retrieval-beir", "ask-beir", "predictor"} <= set(
        suites
    )
    for loaded in suites.values():
        assert loaded.suite.targets, loaded.suite.name
        if loaded.suite.dataset is not None and loaded.suite.dataset.path is not None:
            assert load_jsonl(REPO_ROOT / loaded.suite.dataset.path).cases


def test_the_predictor_suite_keeps_the_model_config_targets() -> None:
    suite = load_suite_file(SHIPPED / "predictor.yaml").suite
    assert {t.metric: t.value for t in suite.targets} == load_model_config(MODEL_CONFIG).targets


def test_a_suite_is_identified_by_its_bytes(tmp_path: Path) -> None:
    fields = {
        "name": "p",
        "kind": "predictor",
        "metrics": ["accuracy"],
        "targets": [{"metric": "accuracy", "value": 0.8}],
    }
    first = load_suite_file(write_suite(tmp_path / "a", **fields))
    fields["targets"] = [{"metric": "accuracy", "value": 0.9}]
    second = load_suite_file(write_suite(tmp_path / "b", **fields))
    assert first.sha256 != second.sha256


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        (
            {"kind": "retrieval", "metrics": ["schema_valid"], "dataset": {"path": "x"}, "collection": "c1c"},
            "not measured",
        ),
        ({"kind": "predictor", "metrics": ["accuracy"], "targets": [{"metric": "f1", "value": 1}]}, "not in metrics"),
        ({"kind": "analysis", "metrics": ["schema_valid"], "dataset": {"path": "x"}}, "needs 'prompt'"),
        (
            {"kind": "retrieval", "metrics": ["ndcg@10"], "dataset": {"path": "x", "beir": "y"}, "collection": "c"},
            "exactly one",
        ),
        ({"kind": "predictor", "metrics": ["accuracy"], "surprise": 1}, "Extra inputs"),
        (
            {"kind": "ask", "metrics": ["exact_match"], "dataset": {"path": "x"}, "collection": "c"},
            "needs 'prompt'",
        ),
        (
            {"kind": "ask", "answer_mode": "extractive", "prompt": {"name": "rag_answer"}}
            | {"metrics": ["exact_match"], "dataset": {"path": "x"}, "collection": "c"},
            "calls no model",
        ),
        (
            {"kind": "ask", "answer_mode": "generative", "prompt": {"name": "rag_answer"}}
            | {"metrics": ["exact_match"], "dataset": {"path": "x"}, "collection": "c"},
            "answers with prompt 'rag_extract'",
        ),
        (
            {"kind": "retrieval", "answer_mode": "extractive", "metrics": ["ndcg@10"]}
            | {"dataset": {"path": "x"}, "collection": "c"},
            "only kind 'ask'",
        ),
        (
            {"kind": "ask", "answer_mode": "extractive", "metrics": ["gold_cited"], "collection": "c"}
            | {"dataset": {"path": "x", "squad": "y"}},
            "exactly one",
        ),
    ],
)
def test_invalid_suites_name_the_problem(tmp_path: Path, fields: dict[str, object], problem: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"name": "bad", **fields}))
    with pytest.raises(SuiteInvalid, match=problem):
        load_suite_file(path)


def test_an_extractive_ask_suite_needs_no_prompt_or_model(tmp_path: Path) -> None:
    suite = load_suite_file(
        write_suite(
            tmp_path,
            name="ask-extract",
            kind="ask",
            answer_mode="extractive",
            dataset={"squad": "data/squad", "half": "tune"},
            collection="c",
            metrics=["exact_match", "gold_cited"],
        )
    ).suite
    assert suite.prompt is None and not suite.calls_model
    assert suite.dataset is not None and suite.dataset.half == "tune" and not suite.dataset.is_beir
    judged = suite.model_copy(update={"metrics": ["exact_match", "judge_relevance"]})
    assert judged.calls_model  # the judge is a model


def test_find_suite_by_name_or_path(tmp_path: Path) -> None:
    assert find_suite("predictor", SHIPPED).suite.kind == "predictor"
    assert find_suite(str(SHIPPED / "predictor.yaml"), tmp_path).suite.name == "predictor"
    with pytest.raises(SuiteNotFound, match="available: analysis-sklearn"):
        find_suite("nope", SHIPPED)
    with pytest.raises(SuiteNotFound):
        find_suite("../etc/passwd", SHIPPED)


def test_datasets_are_hashed_and_need_unique_ids(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b"}\n')
    first = load_jsonl(path).sha256
    path.write_text('{"id": "a"}\n{"id": "c"}\n')
    assert load_jsonl(path).sha256 != first
    path.write_text('{"id": "a"}\n{"id": "a"}\n')
    with pytest.raises(SuiteInvalid, match="twice"):
        load_jsonl(path)
