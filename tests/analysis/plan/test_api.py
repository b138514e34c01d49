"""/api/v1/analyze with a question: the answer computed by a typed plan beside the insights."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from insight.api.app import create_app
from insight.api.deps import Services
from insight.config import LLMSettings, Settings
from insight.llm.client import LLMClient
from insight.llm.slot import LLMSlot
from tests.analysis.fakes import ToolCallingFake, tool_reply
from tests.api.conftest import build_with_fakes
from tests.conftest import make_settings

ROWS = [{"units": u, "revenue": round(u * 12.5 + (-1) ** i * (i % 7), 1)} for i, u in enumerate(range(10, 30))]
CHOICE = {"measures": [{"name": "total_units", "op": "sum", "column": "units"}]}
NARRATION = {"lead": [], "summary": "Revenue follows units.", "key_points": [], "recommendations": []}


class ByPrompt(ToolCallingFake):
    """Answers the table-plan prompt with CHOICE and anything else with a narration plan."""

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.received.append(list(messages))
        planning = any("<question>" in str(m.content) for m in messages)
        reply = tool_reply(CHOICE, name="PlanChoices") if planning else tool_reply(NARRATION, name="NarrationPlan")
        return ChatResult(generations=[ChatGeneration(message=reply)])


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    def build(settings: Settings) -> Services:
        model = ByPrompt(messages=iter([]))
        return build_with_fakes(
            settings, llm=LLMSlot(settings.llm, client=LLMClient(model, LLMSettings(provider="local")))
        )

    settings = make_settings(tmp_path)
    hybrid = settings.model_copy(update={"table_plan": settings.table_plan.model_copy(update={"planner": "hybrid"})})
    with TestClient(create_app(hybrid, build=build)) as client:
        yield client


def test_by_default_a_question_the_rules_cannot_plan_is_refused_without_a_model_call(tmp_path: Path) -> None:
    model = ByPrompt(messages=iter([]))

    def build(settings: Settings) -> Services:
        return build_with_fakes(
            settings, llm=LLMSlot(settings.llm, client=LLMClient(model, LLMSettings(provider="local")))
        )

    with TestClient(create_app(make_settings(tmp_path), build=build)) as client:
        body = client.post("/api/v1/analyze", json={"data": ROWS, "question": "How many units in total?"}).json()
    assert body["answer"]["supported"] is False and body["answer"]["refused"] is True
    assert not [m for m in model.received if any("<question>" in str(x.content) for x in m)]


def test_a_question_gets_a_computed_answer_with_its_plan(api: TestClient) -> None:
    body = api.post("/api/v1/analyze", json={"data": ROWS, "question": "How many units in total?"}).json()
    answer = body["answer"]
    assert answer["supported"] and answer["planner"] == "model"
    assert answer["values"] == [{"name": "total_units", "value": 390, "text": "390"}]
    assert answer["sentence"] == "Computed from the table: total units is 390."
    assert answer["plan"]["steps"][0]["op"] == "aggregate"
    assert answer["steps"] == ["total_units = aggregate(column='units', fn='sum')"]
    assert answer["execution_ms"] >= 0 and "insights" in body and body["descriptive"]  # the analysis as usual


def test_narrate_false_plans_by_rules_only(api: TestClient) -> None:
    question = "@mean_revenue[value] rounded to one decimal place"
    body = api.post("/api/v1/analyze", json={"data": ROWS, "question": question, "narrate": False}).json()
    expected = sum(r["revenue"] for r in ROWS) / len(ROWS)
    assert body["answer"]["planner"] == "rules" and body["answer"]["values"][0]["text"] == f"{expected:.1f}"
    unknown = api.post("/api/v1/analyze", json={"data": ROWS, "question": "Why?", "narrate": False}).json()
    assert unknown["answer"]["supported"] is False and unknown["answer"]["reason"]


def test_without_a_question_there_is_no_answer(api: TestClient) -> None:
    assert api.post("/api/v1/analyze", json={"data": ROWS}).json()["answer"] is None


def test_stream_sends_the_answer_before_the_narration(api: TestClient) -> None:
    with api.stream("POST", "/api/v1/analyze", json={"data": ROWS, "question": "Total units?", "stream": True}) as r:
        text = "".join(r.iter_text())
    events = [line.removeprefix("event: ") for line in text.splitlines() if line.startswith("event: ")]
    assert events == ["insights", "answer", "narration", "done"]
    answer_data = text.split("event: answer\ndata: ")[1].split("\n")[0]
    assert json.loads(answer_data)["values"][0]["text"] == "390"


def _posted_plan(column: str = "units", fn: str = "max") -> dict[str, Any]:
    return {"steps": [{"name": f"{fn}_{column}", "op": "aggregate", "column": column, "fn": fn, "round": 1}]}


def test_a_posted_plan_is_run_as_given_without_a_question_or_a_model_call(api: TestClient) -> None:
    body = api.post("/api/v1/analyze", json={"data": ROWS, "plan": _posted_plan(), "narrate": False}).json()
    answer = body["answer"]
    assert answer["supported"] and answer["planner"] == "user" and answer["model"] is None
    assert [(v["name"], v["value"]) for v in answer["values"]] == [("max_units", 29)]
    assert answer["sentence"] == "Computed from the table: max units is 29.0."
    assert answer["steps"] == ["max_units = aggregate(column='units', fn='max', round=1)"]


def test_a_posted_plan_on_a_column_the_table_lacks_is_not_run_and_says_why(api: TestClient) -> None:
    answer = api.post("/api/v1/analyze", json={"data": ROWS, "plan": _posted_plan("price")}).json()["answer"]
    assert answer["supported"] is False and answer["planner"] == "user" and not answer["values"]
    assert "price" in answer["reason"]


def test_a_posted_plan_outside_the_language_is_a_422_naming_the_field(api: TestClient) -> None:
    plan = {"steps": [{"name": "x", "op": "python", "code": "__import__('os').system('id')"}]}
    response = api.post("/api/v1/analyze", json={"data": ROWS, "plan": plan})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:3] == ["body", "plan", "steps"]
    bad_json = api.post("/api/v1/analyze", files={"file": ("t.csv", b"units\n1\n2\n3\n")}, data={"plan": "{steps"})
    assert bad_json.status_code == 422 and "not valid JSON" in bad_json.json()["detail"][0]["msg"]


def test_a_plan_posted_with_an_uploaded_file_is_run(api: TestClient) -> None:
    csv = "units,revenue\n" + "".join(f"{r['units']},{r['revenue']}\n" for r in ROWS)
    response = api.post(
        "/api/v1/analyze",
        files={"file": ("t.csv", csv.encode())},
        data={"plan": json.dumps(_posted_plan(fn="sum")), "narrate": "false"},
    )
    answer = response.json()["answer"]
    assert answer["supported"] and answer["values"][0]["value"] == sum(r["units"] for r in ROWS)
