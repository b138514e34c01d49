"""Suites run end to end on fakes: the gate passes and fails as the targets say, unmeasured cases are
counted (never averaged in), invalid output scores 0, the cache makes a re-run free and identical."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import anyio
import pytest
from langchain_core.messages import AIMessage, BaseMessage

from insight.config import Settings
from insight.errors import ConfigError, SuiteInvalid
from insight.evaluation import Evaluator, RunResult, load_suite_file
from insight.evaluation.cache import OutputCache
from insight.evaluation.squad import normalise_answer
from insight.evaluation.suites import LoadedSuite, ModelSpec
from insight.predictor.config import load_model_config
from insight.predictor.data import load_dataset, split_dataset
from insight.predictor.service import Predictor
from insight.prompts import PromptRegistry
from insight.rag.service import RagService
from tests.analysis.fakes import tool_reply
from tests.conftest import REPO_ROOT
from tests.evaluation.conftest import SQUAD_QUESTIONS, MakeEvaluator, write_suite
from tests.evaluation.fakes import all_text, citing_answerer, faithful_analyst, inventing_analyst

ANALYSIS_DATA = REPO_ROOT / "eval" / "datasets" / "analysis_sklearn.jsonl"


def run(evaluator: Evaluator, loaded: LoadedSuite, **kwargs: Any) -> list[RunResult]:
    async def go() -> list[RunResult]:
        return await evaluator.run(loaded, **kwargs)

    return anyio.run(go)


def analysis_suite(folder: Path, targets: list[dict[str, Any]], **extra: Any) -> LoadedSuite:
    fields: dict[str, Any] = {
        "name": "analysis-ci",
        "kind": "analysis",
        "prompt": {"name": "narration", "versions": [1]},
        "dataset": {"path": ANALYSIS_DATA},
        "metrics": [
            "schema_valid",
            "grounded_rate",
            "reference_recall",
            "model_narration",
            "latency_p95",
            "output_tokens",
        ],
        "targets": targets,
        "concurrency": 3,
    }
    return load_suite_file(write_suite(folder, **(fields | extra)))


def ask_suite(folder: Path, name: str, version: int, corpus: Path, qa_dataset: Path, **fields: Any) -> LoadedSuite:
    """An ask suite over the test corpus, answering with rag_answer ``version``."""
    return load_suite_file(
        write_suite(
            folder / "suites",
            name=name,
            kind="ask",
            prompt={"name": "rag_answer", "versions": [version]},
            dataset={"path": qa_dataset},
            collection="ci-docs",
            corpus=corpus,
            **fields,
        )
    )


def test_gate_passes_reachable_targets_and_fails_an_unreachable_one(
    make_evaluator: MakeEvaluator, tmp_path: Path
) -> None:
    reachable = [
        {"metric": "schema_valid", "op": ">=", "value": 1.0},
        {"metric": "grounded_rate", "op": ">=", "value": 0.9, "gate_on": "lower_bound"},
        {"metric": "reference_recall", "op": ">=", "value": 0.3},
    ]
    evaluator, model = make_evaluator(faithful_analyst)
    results = run(evaluator, analysis_suite(tmp_path / "a", reachable))
    assert [r.label for r in results] == ["analysis-ci v1"]
    assert all(r.passed for r in results), [t.why for r in results for t in r.targets]
    first = results[0]
    assert first.metrics["schema_valid"].measured == 6 and first.metrics["schema_valid"].value == 1.0
    assert first.metrics["grounded_rate"].value == 1.0
    assert first.metrics["model_narration"].value == 1.0
    assert first.params["dataset_sha256"] == first.dataset_sha256 and first.params["prompt_version"] == "1"
    assert first.metrics["output_tokens"].value == 60.0
    assert len(model.received) == 6

    unreachable = [*reachable, {"metric": "reference_recall", "op": ">=", "value": 1.01}]
    evaluator, _ = make_evaluator(faithful_analyst)
    missed = run(evaluator, analysis_suite(tmp_path / "b", unreachable))
    assert not any(r.passed for r in missed)
    failing = [t for t in missed[0].targets if not t.passed]
    assert [t.target.value for t in failing] == [1.01]
    assert "is not >= 1.01" in failing[0].why


def test_invented_figures_never_reach_the_result(make_evaluator: MakeEvaluator, tmp_path: Path) -> None:
    evaluator, _ = make_evaluator(inventing_analyst)
    loaded = analysis_suite(tmp_path, [{"metric": "grounded_rate", "op": ">=", "value": 1.0}])
    (result,) = run(evaluator, loaded)
    assert result.metrics["grounded_rate"].value == 1.0
    assert all("9999" not in (case.output or "") for case in result.cases)
    assert result.passed


def test_a_model_that_times_out_is_replaced_by_the_template_and_counted(
    make_evaluator: MakeEvaluator, tmp_path: Path
) -> None:
    def flaky(messages: list[BaseMessage]) -> AIMessage:
        if "alcohol" in all_text(messages):
            raise TimeoutError("the model took too long")
        return faithful_analyst(messages)

    evaluator, _ = make_evaluator(flaky)
    targets = [{"metric": "schema_valid", "op": ">=", "value": 0.9}]
    (result,) = run(evaluator, analysis_suite(tmp_path, targets))
    assert result.metrics["schema_valid"].value == 1.0 and result.metrics["schema_valid"].unmeasured == 0
    timed_out = [case for case in result.cases if case.detail.get("narrator") == "template"]
    assert timed_out and all("llm_timeout" in str(case.detail["narrator_reason"]) for case in timed_out)
    assert result.metrics["model_narration"].value == pytest.approx(1 - len(timed_out) / 6)
    assert result.passed


def test_output_that_never_fits_the_schema_falls_back_to_the_template(
    make_evaluator: MakeEvaluator, tmp_path: Path
) -> None:
    def broken(messages: list[BaseMessage]) -> AIMessage:
        if "sepal" in all_text(messages):
            return tool_reply({"summary": "", "key_points": []}, name="NarrationPlan")
        return faithful_analyst(messages)

    evaluator, _ = make_evaluator(broken)
    loaded = analysis_suite(tmp_path, [{"metric": "model_narration", "op": ">=", "value": 0.9}])
    (result,) = run(evaluator, loaded)
    assert result.metrics["schema_valid"].value == 1.0
    assert result.metrics["model_narration"].value == pytest.approx(4 / 6)
    assert not result.passed


def test_a_rerun_reads_the_cache_and_gives_the_same_result(make_evaluator: MakeEvaluator, tmp_path: Path) -> None:
    loaded = analysis_suite(tmp_path, [])
    evaluator, model = make_evaluator(faithful_analyst)
    (first,) = run(evaluator, loaded)
    assert (first.cache_hits, first.cache_misses) == (0, 6)
    evaluator, model = make_evaluator(inventing_analyst)  # a different model behind the same identity
    (second,) = run(evaluator, loaded)
    assert model.received == []
    assert (second.cache_hits, second.cache_misses) == (6, 0)
    assert {k: s.value for k, s in second.metrics.items()} == {k: s.value for k, s in first.metrics.items()}


def test_ask_scores_citations_against_gold_documents(
    make_evaluator: MakeEvaluator, tmp_path: Path, corpus: Path, qa_dataset: Path
) -> None:
    loaded = ask_suite(
        tmp_path,
        "ask-ci",
        1,
        corpus,
        qa_dataset,
        top_k=3,
        metrics=["citation_precision", "citation_recall", "answer_f1", "found_rate", "ndcg@3", "input_tokens"],
        targets=[{"metric": "citation_recall", "op": ">=", "value": 0.5}],
    )
    evaluator, model = make_evaluator(citing_answerer)
    (result,) = run(evaluator, loaded)
    precision, recall = result.metrics["citation_precision"], result.metrics["citation_recall"]
    assert precision.measured == 3 and precision.reasons == {"no_judgements": 1}  # q4 has no relevant document
    assert precision.value is not None and recall.value is not None
    # the fake cites the top passage: right exactly when search ranked the gold document first
    ndcg = result.metrics["ndcg@3"]
    assert ndcg.value is not None and ndcg.measured == 3
    top_right = [c for c in result.cases if c.detail.get("ranking", [None])[0] in c.detail.get("relevant", {})]
    assert recall.value == pytest.approx(len(top_right) / 3)
    # q4 finds no passage worth showing: the model is not called (0 tokens), which counts in the mean
    tokens = [c.input_tokens for c in result.cases]
    assert all(t is not None and t > 0 for t in tokens[:3]) and tokens[3] == 0
    assert result.metrics["input_tokens"].value == pytest.approx(sum(t or 0 for t in tokens) / 4)
    assert result.params["collection"] == "ci-docs"
    assert len(model.received) == 3 and not any(c.cached for c in result.cases)


def test_a_failing_judge_leaves_its_metrics_unmeasured(
    make_evaluator: MakeEvaluator, tmp_path: Path, corpus: Path, qa_dataset: Path
) -> None:
    def answer_but_no_judge(messages: list[BaseMessage]) -> AIMessage:
        if "grade answers" in str(messages[0].content):
            raise TimeoutError("judge too slow")
        return citing_answerer(messages)

    loaded = ask_suite(
        tmp_path,
        "ask-judge",
        1,
        corpus,
        qa_dataset,
        metrics=["citation_precision", "judge_faithfulness", "judge_relevance"],
        targets=[{"metric": "judge_faithfulness", "op": ">=", "value": 0.5}],
        max_unmeasured=0.3,
    )
    evaluator, _ = make_evaluator(answer_but_no_judge)
    (result,) = run(evaluator, loaded)
    judged = result.metrics["judge_faithfulness"]
    assert judged.value is None and judged.measured == 0
    assert judged.reasons == {"judge_failed:llm_timeout": 3, "no_judgements": 1}
    assert result.metrics["citation_precision"].measured == 3
    assert not result.passed and result.targets[0].why == "no case could be measured"

    def judge_well(messages: list[BaseMessage]) -> AIMessage:
        if "grade answers" in str(messages[0].content):
            return tool_reply({"faithfulness": 5, "relevance": 4, "reason": ""}, name="JudgeVerdict")
        return citing_answerer(messages)

    evaluator, _ = make_evaluator(judge_well, cache=False)
    (result,) = run(evaluator, loaded)
    assert result.metrics["judge_faithfulness"].value == 1.0
    assert result.metrics["judge_relevance"].value == 0.75
    assert result.passed


def test_retrieval_suite_ranks_documents_and_reads_a_beir_folder(
    make_evaluator: MakeEvaluator, tmp_path: Path, corpus: Path, qa_dataset: Path
) -> None:
    loaded = load_suite_file(
        write_suite(
            tmp_path / "suites",
            name="retrieval-ci",
            kind="retrieval",
            dataset={"path": qa_dataset},
            collection="ci-docs",
            corpus=corpus,
            metrics=["ndcg@10", "recall@3", "mrr@10", "latency_p50"],
            targets=[{"metric": "recall@3", "op": ">=", "value": 1.0}],
            max_unmeasured=0.3,
        )
    )
    evaluator, _ = make_evaluator(citing_answerer)
    (result,) = run(evaluator, loaded)
    assert result.metrics["recall@3"].value == 1.0  # three documents: every relevant one is in the top 3
    assert result.metrics["ndcg@10"].measured == 3 and result.metrics["ndcg@10"].unmeasured == 1
    assert result.passed

    beir = tmp_path / "mini-beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text(
        "".join(
            f'{{"_id": "{name}", "title": "{name}", "text": "{text[2:]}"}}\n'.replace("\n\n", " ") for name, text in []
        )
        + '{"_id": "d1", "title": "Passwords", "text": "Passwords need 14 characters."}\n'
        + '{"_id": "d2", "title": "Travel", "text": "Hotels cost 180 euros per night."}\n'
    )
    (beir / "queries.jsonl").write_text('{"_id": "1", "text": "password length"}\n{"_id": "2", "text": "hotel"}\n')
    (beir / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n1\td1\t1\n2\td2\t1\n")
    beir_suite = load_suite_file(
        write_suite(
            tmp_path / "suites",
            name="retrieval-beir-ci",
            kind="retrieval",
            dataset={"beir_from_settings": True, "split": "train"},
            collection="beir-{corpus}",
            metrics=["mrr@10"],
        )
    )
    with pytest.raises(SuiteInvalid, match="--data"):
        run(evaluator, beir_suite)
    (result,) = run(evaluator, beir_suite, data=beir)
    assert result.params["collection"] == "beir-mini-beir"
    assert result.metrics["mrr@10"].value == 1.0 and result.metrics["mrr@10"].measured == 2


def test_predictor_suite_on_the_served_model(make_evaluator: MakeEvaluator, tmp_path: Path) -> None:
    loaded = load_suite_file(
        write_suite(
            tmp_path,
            name="predictor-ci",
            kind="predictor",
            metrics=["accuracy", "roc_auc"],
            targets=[
                {"metric": "accuracy", "op": ">=", "value": 0.85},
                {"metric": "roc_auc", "op": ">=", "value": 0.999, "gate_on": "lower_bound"},
            ],
        )
    )
    evaluator, _ = make_evaluator(citing_answerer)
    (result,) = run(evaluator, loaded)
    accuracy = result.metrics["accuracy"]
    assert accuracy.value is not None and accuracy.low is not None and accuracy.high is not None
    assert accuracy.low <= accuracy.value <= accuracy.high and accuracy.measured == 114
    assert [t.passed for t in result.targets] == [True, False]


def test_ask_with_rag_answer_v2_chooses_passages_first_as_the_service_does(
    make_evaluator: MakeEvaluator, tmp_path: Path, corpus: Path, qa_dataset: Path
) -> None:
    def choose_then_answer(messages: list[BaseMessage]) -> AIMessage:
        if "numbered passages" in str(messages[0].content):  # rag_select: a PassageChoice tool call
            return tool_reply({"passages": [1]}, name="PassageChoice")
        first = re.search(r"^\[1\] (.+)$", str(messages[-1].content), flags=re.MULTILINE)
        return AIMessage(content=first.group(1)[:80] if first else "nothing")  # no [n] marker written

    loaded = ask_suite(
        tmp_path,
        "ask-v2",
        2,
        corpus,
        qa_dataset,
        top_k=3,
        metrics=["citation_precision", "citation_recall", "found_rate", "ndcg@3"],
        targets=[{"metric": "citation_recall", "op": ">=", "value": 0.5}],
    )
    evaluator, model = make_evaluator(choose_then_answer)
    (result,) = run(evaluator, loaded)
    assert len(model.received) == 6  # two calls for each of the 3 cases with passages
    top_right = [c for c in result.cases if c.detail.get("ranking", [None])[0] in c.detail.get("relevant", {})]
    assert result.metrics["citation_recall"].value == pytest.approx(len(top_right) / 3)
    answered = [c for c in result.cases if c.detail.get("cited")]
    assert answered and all(c.output.endswith("[1]") for c in answered)  # the chosen passage is the citation

    evaluator, model = make_evaluator(choose_then_answer)
    (again,) = run(evaluator, loaded)
    # both model calls of each case are replayed through the Answerer: the same answers, nothing sent
    assert model.received == [] and (again.cache_hits, again.cache_misses) == (6, 0)
    assert [c.cached for c in again.cases] == [True, True, True, False]  # q4: no model call to replay
    assert [(c.output, c.input_tokens, c.detail) for c in again.cases] == [
        (c.output, c.input_tokens, c.detail) for c in result.cases
    ]
    assert again.metrics["citation_recall"].value == result.metrics["citation_recall"].value


def test_the_judge_sees_the_passages_the_answer_was_written_from(
    make_evaluator: MakeEvaluator, tmp_path: Path, corpus: Path, qa_dataset: Path
) -> None:
    judged: list[str] = []

    def choose_answer_judge(messages: list[BaseMessage]) -> AIMessage:
        if "grade answers" in str(messages[0].content):
            judged.append(all_text(messages))
            return tool_reply({"faithfulness": 5, "relevance": 5, "reason": ""}, name="JudgeVerdict")
        if "numbered passages" in str(messages[0].content):
            return tool_reply({"passages": [1]}, name="PassageChoice")
        return AIMessage(content="From the first passage.")

    loaded = ask_suite(
        tmp_path, "ask-judged-v2", 2, corpus, qa_dataset, top_k=3, metrics=["citation_precision", "judge_faithfulness"]
    )
    evaluator, _ = make_evaluator(choose_answer_judge)
    (result,) = run(evaluator, loaded)
    assert result.metrics["judge_faithfulness"].value == 1.0
    assert len(judged) == 3
    for text in judged:  # the chosen passage [1] only, though the service retrieved several
        assert "[1] " in text and "[2] " not in text


def predictor_suite(folder: Path) -> LoadedSuite:
    return load_suite_file(
        write_suite(folder, name="predictor-served", kind="predictor", metrics=["accuracy", "roc_auc"], targets=[])
    )


def test_predictor_suite_scores_the_predictor_it_is_given_on_its_recorded_split(
    settings: Settings, prompts: PromptRegistry, trained_model_dir: Path, tmp_path: Path
) -> None:
    served = Predictor.load(trained_model_dir)
    handed: list[Predictor] = []

    def the_served_one() -> Predictor:
        handed.append(served)
        return served

    evaluator = Evaluator(settings, prompts, predictor=the_served_one, cache=OutputCache(None))
    (result,) = run(evaluator, predictor_suite(tmp_path))
    assert handed == [served]
    config = load_model_config(settings.predictor.config_path)
    split = split_dataset(load_dataset(), config.test_size, config.random_state)
    expected = served.predict(split.test_x)
    assert [c.detail["prediction"] for c in result.cases] == expected.classes.tolist()
    assert [c.detail["confidence"] for c in result.cases] == expected.confidence.tolist()
    assert result.params["config_sha256"] == served.metadata.config_sha256
    assert result.params["model_sha256"] == served.metadata.sha256


def test_predictor_suite_refuses_a_config_the_model_was_not_trained_with(
    settings: Settings, prompts: PromptRegistry, tmp_path: Path
) -> None:
    changed = tmp_path / "model_config.yaml"
    changed.write_bytes(settings.predictor.config_path.read_bytes().replace(b"test_size: 0.2", b"test_size: 0.25"))
    assert changed.read_bytes() != settings.predictor.config_path.read_bytes()
    moved = settings.model_copy(update={"predictor": settings.predictor.model_copy(update={"config_path": changed})})
    evaluator = Evaluator(moved, prompts, cache=OutputCache(None))  # the model loaded as the API loads it
    with pytest.raises(ConfigError, match="trained with a model config of sha256") as raised:
        run(evaluator, predictor_suite(tmp_path))
    assert not isinstance(raised.value, SuiteInvalid)


def test_an_answer_the_service_cannot_give_is_measured_as_invalid(
    make_evaluator: MakeEvaluator, tmp_path: Path, corpus: Path, qa_dataset: Path
) -> None:
    def unusable_choice(messages: list[BaseMessage]) -> AIMessage:
        return tool_reply({"passages": "the first one"}, name="PassageChoice")  # never a list, repaired or not

    loaded = ask_suite(
        tmp_path,
        "ask-invalid",
        2,
        corpus,
        qa_dataset,
        metrics=["citation_precision", "found_rate", "answer_f1", "judge_faithfulness"],
    )
    evaluator, _ = make_evaluator(unusable_choice)
    (result,) = run(evaluator, loaded)
    assert result.metrics["found_rate"].value == 0.0 and result.metrics["found_rate"].measured == 3
    assert result.metrics["answer_f1"].value == 0.0
    assert result.metrics["judge_faithfulness"].reasons == {"not_answered": 3, "no_judgements": 1}
    assert [c.detail.get("error") for c in result.cases] == ["output_parse_error"] * 3 + [None]


def test_predictor_suite_refuses_a_model_trained_on_other_data(
    settings: Settings, prompts: PromptRegistry, trained_model_dir: Path, tmp_path: Path
) -> None:
    served = Predictor.load(trained_model_dir)
    other = Predictor(served._pipeline, served.metadata.model_copy(update={"data_digest": "0" * 64}))
    evaluator = Evaluator(settings, prompts, predictor=lambda: other, cache=OutputCache(None))
    with pytest.raises(ConfigError, match="data is not what the served model"):
        run(evaluator, predictor_suite(tmp_path))


def _no_model(_settings: Any) -> Any:
    raise AssertionError("an extractive suite must not build a chat client")


def extractive_squad_suite(folder: Path, squad_folder: Path, every: int, **fields: Any) -> LoadedSuite:
    """An extractive ask suite over every question of ``squad_folder`` (every n-th), collection squad-ci."""
    return load_suite_file(
        write_suite(
            folder / "suites",
            kind="ask",
            answer_mode="extractive",
            dataset={"squad": squad_folder, "half": "all", "every": every},
            collection="squad-ci",
            **fields,
        )
    )


def test_an_extractive_squad_suite_scores_the_answer_sentences_without_a_model(
    settings: Settings, prompts: PromptRegistry, rag: RagService, tmp_path: Path, squad_folder: Path
) -> None:
    loaded = extractive_squad_suite(
        tmp_path,
        squad_folder,
        every=1,
        name="ask-squad-ci",
        top_k=3,
        metrics=["exact_match", "squad_f1", "answer_contained", "gold_cited", "citation_precision", "found_rate"],
        targets=[{"metric": "gold_cited", "op": ">=", "value": 0.5}],
    )
    evaluator = Evaluator(settings, prompts, llm_factory=_no_model, rag_factory=lambda: rag, cache=OutputCache(None))
    (result,) = run(evaluator, loaded)
    assert result.model is None and result.prompt is None and result.label == "ask-squad-ci"
    assert [c.case_id for c in result.cases] == ["s1", "s2", "s3"]
    for case, (_, _, gold, answers) in zip(result.cases, SQUAD_QUESTIONS, strict=True):
        assert case.scores["gold_cited"] == float(gold in case.detail["cited"])
        contained = any(normalise_answer(a) in normalise_answer(case.output) for a in answers)
        assert case.scores["answer_contained"] == float(contained)
        assert case.scores["exact_match"] == 0.0  # a whole sentence is never the short gold answer
        assert 0.0 < case.scores["squad_f1"] < 1.0 or not contained
        assert case.input_tokens == 0  # no model call
    # every sentence names its paragraph's subject: the lexical match finds each one
    assert result.metrics["gold_cited"].value == 1.0 and result.metrics["answer_contained"].value == 1.0
    assert result.passed


def test_an_ask_suite_without_gold_answers_leaves_the_span_metrics_unmeasured(
    make_evaluator: MakeEvaluator, tmp_path: Path, corpus: Path, qa_dataset: Path
) -> None:
    loaded = ask_suite(
        tmp_path, "ask-spans", 1, corpus, qa_dataset, top_k=3, metrics=["exact_match", "citation_recall"]
    )
    evaluator, _ = make_evaluator(citing_answerer)
    (result,) = run(evaluator, loaded)
    assert result.metrics["exact_match"].value is None
    assert result.metrics["exact_match"].reasons == {"no_gold_answers": 3, "no_judgements": 1}


def test_every_nth_case_spreads_a_sample_over_the_dataset(
    settings: Settings, prompts: PromptRegistry, tmp_path: Path, squad_folder: Path
) -> None:
    loaded = extractive_squad_suite(tmp_path, squad_folder, every=2, name="ask-every", metrics=["exact_match"])
    dataset = Evaluator(settings, prompts).dataset(loaded.suite)
    assert [c["id"] for c in dataset.cases] == ["s1", "s3"] and dataset.name == "squad-all-every-2"


def test_with_an_executor_the_driver_names_the_model_without_building_it(
    settings: Settings, prompts: PromptRegistry, rag: RagService, tmp_path: Path, corpus: Path, qa_dataset: Path
) -> None:
    """The workers build their own chat clients (``eval run --engine ray``): the driver must not load a model."""
    from insight.evaluation.runner import CaseJob, CaseRecord
    from insight.llm.local_model import LOCAL_MODEL_NAME

    jobs: list[CaseJob] = []

    async def executor(job: CaseJob, step: Any) -> list[CaseRecord]:
        jobs.append(job)
        return [CaseRecord(case_id=case["id"], repeat=0) for case in job.cases]

    loaded = ask_suite(tmp_path, "ask-remote", 1, corpus, qa_dataset, metrics=["citation_recall"])
    evaluator = Evaluator(settings, prompts, llm_factory=_no_model, rag_factory=lambda: rag, executor=executor)
    (result,) = run(evaluator, loaded)
    assert len(jobs) == 1 and len(result.cases) == 4
    assert result.model == f"local/{LOCAL_MODEL_NAME}" == result.params["model"]
    remote = loaded.suite.model_copy(update={"model": ModelSpec(provider="openai", model="gpt-x")})
    assert evaluator.model_label(remote, None) == "openai/gpt-x"
    extractive = loaded.suite.model_copy(update={"answer_mode": "extractive", "prompt": None})
    assert evaluator.model_label(extractive, None) is None
