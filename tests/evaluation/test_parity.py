"""Parity: with the same fake model, each scorer records what the service returns for the same input.

The evaluator is the one ``POST /api/v1/evals`` builds (``api.routes.evals._evaluator``) over the app's own
services, so the scorers and the routes share the Analyzer, the Answerer, the search service and the
served predictor; only the timings of a response may differ between two calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient
from langchain_core.messages import AIMessage, BaseMessage

from insight.api.app import create_app
from insight.api.deps import Services
from insight.api.routes.evals import _evaluator
from insight.config import Settings
from insight.evaluation import Evaluator, RunResult, load_suite_file
from insight.evaluation.metrics import sklearn_table
from insight.evaluation.suites import LoadedSuite
from insight.llm.slot import LLMSlot
from insight.predictor.config import load_model_config
from insight.predictor.data import load_dataset, split_dataset
from insight.predictor.service import Predictor, PredictorSlot
from tests.analysis.fakes import tool_reply
from tests.api.conftest import build_with_fakes
from tests.conftest import REPO_ROOT
from tests.evaluation.conftest import CASES, fake_client, write_suite
from tests.evaluation.fakes import Responder, faithful_analyst

TIMINGS = {"latency_ms", "profile_ms", "engine_ms"}


def choose_then_cite(messages: list[BaseMessage]) -> AIMessage:
    """rag_select: chooses passage 1 (and an invalid 7); rag_answer: answers from the first passage shown."""
    if "numbered passages" in str(messages[0].content):
        return tool_reply({"passages": [1, 7]}, name="PassageChoice")
    shown = [line for line in str(messages[-1].content).splitlines() if line.startswith("[")]
    return AIMessage(content=(shown[0][:60] if shown else "nothing") + " [1]")


@dataclass
class App:
    services: Services
    client: TestClient
    evaluator: Evaluator


@pytest.fixture
def app_with(settings: Settings) -> Iterator[Any]:
    """The app on fakes (hash embeddings, ``responder`` as the chat model) and the evaluator its evals route
    would build over the same services."""
    opened: list[TestClient] = []

    def make(responder: Responder) -> App:
        llm, _ = fake_client(responder)
        services = build_with_fakes(settings, llm=LLMSlot(settings.llm, client=llm))
        client = TestClient(create_app(settings, build=lambda _settings: services))
        client.__enter__()
        opened.append(client)
        return App(services, client, _evaluator(services))

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def run(evaluator: Evaluator, loaded: LoadedSuite) -> RunResult:
    async def go() -> list[RunResult]:
        return await evaluator.run(loaded)

    (result,) = anyio.run(go)
    return result


def without_timings(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def test_analysis_scorer_records_the_analyze_response(app_with: Any, tmp_path: Path) -> None:
    app: App = app_with(faithful_analyst)
    loaded = load_suite_file(
        write_suite(
            tmp_path / "suites",
            name="analysis-parity",
            kind="analysis",
            prompt={"name": "narration"},
            dataset={"path": REPO_ROOT / "eval" / "datasets" / "analysis_sklearn.jsonl"},
            metrics=["grounded_rate", "model_narration"],
            limit=2,
        )
    )
    result = run(app.evaluator, loaded)
    cases = [orjson.loads(line) for line in loaded.suite.dataset.path.read_bytes().splitlines()[:2]]  # type: ignore[union-attr]
    assert [r.case_id for r in result.cases] == [c["id"] for c in cases]
    for case, record in zip(cases, result.cases, strict=True):
        frame = sklearn_table(case["table"])
        question, domain = case.get("question"), case.get("domain")
        served = anyio.run(lambda: app.services.analyzer.analyze(frame, question, domain))  # noqa: B023
        body: dict[str, Any] = {"data": frame.to_dict(orient="records"), "domain": domain}
        if question is not None:
            body["question"] = question
        routed = app.client.post("/api/v1/analyze", json=body)
        assert routed.status_code == 200, routed.text
        assert record.output == served.result.summary == routed.json()["result"]["summary"]
        assert (
            record.detail["insights"] == [i.id for i in served.insights] == [i["id"] for i in routed.json()["insights"]]
        )
        assert record.detail["narrator"] == served.meta.narrator == "model"
        assert (record.input_tokens, record.output_tokens) == (served.meta.input_tokens, served.meta.output_tokens)
        assert record.scores["grounded_rate"] == served.grounding.grounded_rate
        if question is not None:  # the route adds the question's computed answer from the shared service
            answer = anyio.run(lambda: app.services.table_questions.answer(frame, question))  # noqa: B023
            served = served.model_copy(update={"answer": answer})
        assert without_timings(served.model_dump(mode="json")) == without_timings(routed.json())


def test_ask_scorer_records_the_ask_response(app_with: Any, tmp_path: Path, corpus: Path, qa_dataset: Path) -> None:
    app: App = app_with(choose_then_cite)
    loaded = load_suite_file(
        write_suite(
            tmp_path / "suites",
            name="ask-parity",
            kind="ask",
            prompt={"name": "rag_answer"},  # the latest version, as the route answers with
            dataset={"path": qa_dataset},
            collection="parity-docs",
            corpus=corpus,
            top_k=3,
            metrics=["citation_precision", "found_rate", "input_tokens", "output_tokens"],
        )
    )
    first = run(app.evaluator, loaded)
    again = run(_evaluator(app.services), loaded)  # a re-run: the model outputs are replayed
    assert again.cache_hits > 0 and again.cache_misses == 0
    for record, replayed, case in zip(first.cases, again.cases, CASES, strict=True):
        # the suite scores rag_answer (the passages mode); the route answers extractively unless asked
        body = {"collection": "parity-docs", "question": case["query"], "top_k": 3, "answer_mode": "passages"}
        response = app.client.post("/api/v1/ask", json=body)
        assert response.status_code == 200, response.text
        served = response.json()
        for scored in (record, replayed):
            assert scored.output == served["answer"]
            assert (scored.input_tokens, scored.output_tokens) == (
                served["meta"]["input_tokens"],
                served["meta"]["output_tokens"],
            )
            if case["relevant"]:
                assert scored.detail["cited"] == list(dict.fromkeys(c["doc_id"] for c in served["citations"]))
                assert scored.detail["invalid_markers"] == served["invalid_citations"]
                assert scored.scores["found_rate"] == float(served["found"])
            else:
                assert scored.detail == {"found": served["found"]}
    assert any(r.detail.get("cited") for r in first.cases)  # the comparison covered answered cases
    assert any(r.detail.get("invalid_markers") == [7] for r in first.cases)


def test_predictor_scorer_records_what_predict_batch_returns(app_with: Any, tmp_path: Path, settings: Settings) -> None:
    app: App = app_with(faithful_analyst)
    loaded = load_suite_file(
        write_suite(tmp_path / "suites", name="predictor-parity", kind="predictor", metrics=["accuracy"])
    )
    result = run(app.evaluator, loaded)
    config = load_model_config(settings.predictor.config_path)
    rows = split_dataset(load_dataset(), config.test_size, config.random_state).test_x
    response = app.client.post("/api/v1/predict/batch", json={"instances": rows.tolist()})
    assert response.status_code == 200, response.text
    served = response.json()["predictions"]
    assert len(served) == len(result.cases) == len(rows)
    assert [r.detail["prediction"] for r in result.cases] == [p["prediction"] for p in served]
    assert [r.detail["confidence"] for r in result.cases] == [p["confidence"] for p in served]
    model = response.json()["model"]
    assert result.params["model"] == f"{model['name']} v{model['version']}"
    truth = np.asarray([r.detail["label"] for r in result.cases])
    predicted = np.asarray([p["prediction"] for p in served])
    assert result.metrics["accuracy"].value == pytest.approx(float((truth == predicted).mean()))


def test_the_evals_route_scores_the_predictor_it_serves_not_the_one_on_disk(app_with: Any, tmp_path: Path) -> None:
    app: App = app_with(faithful_analyst)
    on_disk = app.services.predictor.require()
    served = Predictor(on_disk._pipeline, on_disk.metadata.model_copy(update={"version": "served-only"}))
    app.services.predictor = PredictorSlot(predictor=served)
    loaded = load_suite_file(
        write_suite(tmp_path / "suites", name="predictor-served", kind="predictor", metrics=["accuracy"])
    )
    result = run(_evaluator(app.services), loaded)
    assert result.params["model"] == "insight-predictor vserved-only"
    assert app.client.get("/api/v1/model").json()["version"] == "served-only"
