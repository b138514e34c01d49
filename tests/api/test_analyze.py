"""POST /api/v1/analyze with a scripted tool-calling model: JSON records, CSV text, file upload, bad input,
narrate=false, streaming, and the template narrator when the model is off or fails."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from insight.api.app import create_app
from insight.api.deps import Services
from insight.config import AnalysisSettings, LLMSettings, Settings
from insight.llm.client import LLMClient
from insight.llm.slot import LLMSlot
from tests.analysis.fakes import ToolCallingFake, tool_reply
from tests.api.conftest import build_with_fakes
from tests.conftest import make_settings

ROWS = [
    {"units": u, "region": ["EMEA", "APAC", "AMER"][i % 3], "revenue": round(u * 12.5 + (-1) ** i * (i % 7), 1)}
    for i, u in enumerate([12, 45, 33, 27, 19, 41, 38, 22, 15, 30, 44, 26, 35, 18, 40, 29, 24, 37, 16, 43])
]
CSV = "units,region,revenue\n" + "".join(f"{r['units']},{r['region']},{r['revenue']}\n" for r in ROWS)
REPLY = {
    "lead": [1],
    "summary": "Revenue tracks units (r = {1.pearson_r}); the model also claims 999 units.",
    "key_points": [{"insight": 1, "wording": "Revenue rises with units (r = {1.pearson_r}, n = {1.n})."}],
    "recommendations": ["Check the pricing per unit."],
}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    def build(settings: Settings) -> Services:
        model = ToolCallingFake(messages=itertools.cycle([tool_reply(REPLY, name="NarrationPlan")]))
        services = build_with_fakes(
            settings, llm=LLMSlot(settings.llm, client=LLMClient(model, LLMSettings(provider="local")))
        )
        return services

    settings = make_settings(tmp_path, analysis=AnalysisSettings(max_rows=50, max_bytes=4096))
    with TestClient(create_app(settings, build=build)) as client:
        yield client


def check_grounded(body: dict[str, Any]) -> None:
    """The model's summary wrote a figure of its own (999): the computed statements replaced it."""
    top = body["insights"][0]
    assert top["id"] == "correlation:units~revenue"
    r = next(v["text"] for v in top["values"] if v["key"] == "pearson_r")
    assert "999" not in body["result"]["summary"] and top["statement"] in body["result"]["summary"]
    assert body["result"]["key_points"][0] == f"Revenue rises with units (r = {r}, n = 20)."
    assert body["grounding"]["unsupported"] == [] and body["grounding"]["grounded_rate"] == 1.0
    meta = body["meta"]
    assert meta["narrator"] == "model" and meta["prompt_name"] == "narration" and meta["rows"] == 20
    assert any(note.startswith("model sentences replaced") for note in meta["notes"])
    assert {f["insight_id"] for f in body["figures"]} >= {top["id"]}
    assert any(f["kind"] == "insight" for f in body["facts"])


def test_records(api: TestClient) -> None:
    response = api.post("/api/v1/analyze", json={"data": ROWS, "question": "How is revenue developing?"})
    assert response.status_code == 200, response.text
    check_grounded(response.json())


def test_csv_text(api: TestClient) -> None:
    response = api.post("/api/v1/analyze", json={"csv": CSV, "domain": "sales"})
    assert response.status_code == 200, response.text
    check_grounded(response.json())


def test_file_upload(api: TestClient) -> None:
    response = api.post(
        "/api/v1/analyze", files={"file": ("sales.csv", CSV.encode(), "text/csv")}, data={"question": "q"}
    )
    assert response.status_code == 200, response.text
    check_grounded(response.json())


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"data": []}, 422, "data"),
        ({"data": [1, 2, 3]}, 422, "data"),
        ({"data": ROWS, "csv": CSV}, 422, "exactly one of"),
        ({}, 422, "exactly one of"),
        ({"data": [{"x": i} for i in range(60)]}, 413, "60"),
        ({"data": ROWS, "question": "q" * 2001}, 422, "question"),
    ],
)
def test_bad_input(api: TestClient, body: dict[str, Any], status: int, fragment: str) -> None:
    response = api.post("/api/v1/analyze", json=body)
    assert response.status_code == status, response.text
    assert fragment in response.text and response.json()["message"]


def test_over_the_row_limit_may_be_sampled(api: TestClient) -> None:
    rows = [{"x": i, "y": i * 2} for i in range(60)]
    response = api.post("/api/v1/analyze", json={"data": rows, "allow_sampling": True})
    assert response.status_code == 200, response.text
    assert any("sampl" in note for note in response.json()["meta"]["notes"])


def test_unsupported_upload_is_415(api: TestClient) -> None:
    response = api.post("/api/v1/analyze", files={"file": ("sales.docx", b"PK..", "application/octet-stream")})
    assert response.status_code == 415
    broken = api.post("/api/v1/analyze", files={"file": ("sales.xlsx", b"PK..", "application/octet-stream")})
    assert broken.status_code == 422 and broken.json()["message"]


def test_the_same_table_again_reuses_its_profile(api: TestClient) -> None:
    cache = api.app.state.services.profiles  # type: ignore[attr-defined]
    first = api.post("/api/v1/analyze", json={"csv": CSV, "question": "one"})
    second = api.post("/api/v1/analyze", json={"csv": CSV, "question": "one", "domain": "sales"})
    changed = api.post("/api/v1/analyze", json={"csv": CSV.replace("\n12,", "\n13,")})
    assert [r.status_code for r in (first, second, changed)] == [200, 200, 200]
    assert (cache.hits, cache.misses) == (1, 2)
    assert first.json()["facts"] == second.json()["facts"] != changed.json()["facts"]
    check_grounded(second.json())


@pytest.mark.parametrize("inline_max_bytes", [0, 64 * 1024], ids=["in-worker-thread", "on-event-loop"])
def test_a_repeat_hits_the_cache_whether_looked_up_in_a_thread_or_on_the_loop(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, inline_max_bytes: int
) -> None:
    from insight.api.routes import analyze as route

    monkeypatch.setattr(route, "_INLINE_KEY_MAX_BYTES", inline_max_bytes)
    cache = api.app.state.services.profiles  # type: ignore[attr-defined]
    bodies = [api.post("/api/v1/analyze", json={"csv": CSV}).json() for _ in range(3)]
    assert (cache.hits, cache.misses) == (2, 1)
    assert bodies[0]["facts"] == bodies[2]["facts"]
    check_grounded(bodies[2])


def test_narrate_false_answers_from_the_engine_with_the_template(api: TestClient) -> None:
    response = api.post("/api/v1/analyze", json={"data": ROWS, "narrate": False})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["meta"]["narrator"] == "template" and body["meta"]["narrator_reason"] == "narrate=false"
    assert body["meta"]["prompt_name"] is None and body["meta"]["latency_ms"] == 0.0
    assert body["result"]["key_points"][0] == body["insights"][0]["statement"]
    assert body["grounding"]["grounded_rate"] == 1.0


def test_stream_sends_the_insights_first_then_the_narration(api: TestClient) -> None:
    with api.stream("POST", "/api/v1/analyze", json={"data": ROWS, "stream": True}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = "".join(response.iter_text())
    events = [block.split("\n", 1) for block in text.strip().split("\n\n")]
    names = [head.removeprefix("event: ") for head, _ in events]
    assert names == ["insights", "narration", "done"]
    first = json.loads(events[0][1].removeprefix("data: "))
    assert first["insights"][0]["id"] == "correlation:units~revenue" and first["meta"]["candidates_tested"] >= 1
    narration = json.loads(events[1][1].removeprefix("data: "))
    assert narration["result"]["key_points"] and narration["figures"]
    done = json.loads(events[2][1].removeprefix("data: "))
    assert done["meta"]["narrator"] == "model" and done["grounding"]["grounded_rate"] == 1.0


def test_multipart_flags(api: TestClient) -> None:
    response = api.post(
        "/api/v1/analyze", files={"file": ("sales.csv", CSV.encode(), "text/csv")}, data={"narrate": "false"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["meta"]["narrator_reason"] == "narrate=false"


def test_without_a_model_the_result_is_complete(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, llm=LLMSettings(provider="none"))
    with TestClient(create_app(settings, build=build_with_fakes)) as client:
        response = client.post("/api/v1/analyze", json={"data": ROWS})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["meta"]["narrator"] == "template"
    assert body["meta"]["narrator_reason"] == "no language model configured"
    assert body["insights"] and body["result"]["summary"].startswith("The table has 20 rows and 3 columns")


def test_a_failing_model_falls_back_to_the_template(tmp_path: Path) -> None:
    def build(settings: Settings) -> Services:
        model = ToolCallingFake(messages=itertools.cycle([tool_reply({"lead": "x"}, name="NarrationPlan")]))
        return build_with_fakes(
            settings, llm=LLMSlot(settings.llm, client=LLMClient(model, LLMSettings(provider="local")))
        )

    with TestClient(create_app(make_settings(tmp_path), build=build)) as client:
        response = client.post("/api/v1/analyze", json={"data": ROWS})
    assert response.status_code == 200, response.text
    meta = response.json()["meta"]
    assert meta["narrator"] == "template" and meta["narrator_reason"].startswith(
        "the model failed (output_parse_error)"
    )
