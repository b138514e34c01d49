"""POST /api/v1/analyze with a scripted tool-calling model: JSON records, CSV text, file upload, bad input."""

from __future__ import annotations

import itertools
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
    {"month": "2026-01-01", "region": "EMEA", "revenue": 100.0},
    {"month": "2026-02-01", "region": "EMEA", "revenue": 110.0},
    {"month": "2026-03-01", "region": "APAC", "revenue": 125.0},
]
CSV = "month,region,revenue\n2026-01-01,EMEA,100\n2026-02-01,EMEA,110\n2026-03-01,APAC,125\n"
REPLY = {
    "summary": "Revenue grew from 100 to 125 over three months.",
    "key_points": ["Revenue rose every month.", "APAC appears only in March, invented 999 units."],
    "confidence": 0.9,
    "recommendations": None,
}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    def build(settings: Settings) -> Services:
        services = build_with_fakes(settings)
        model = ToolCallingFake(messages=itertools.cycle([tool_reply(REPLY)]))
        services.llm = LLMSlot(settings.llm, client=LLMClient(model, LLMSettings(provider="local")))
        return services

    settings = make_settings(tmp_path, analysis=AnalysisSettings(max_rows=50, max_bytes=4096))
    with TestClient(create_app(settings, build=build)) as client:
        yield client


def check_grounded(body: dict[str, Any]) -> None:
    assert body["result"]["summary"] == REPLY["summary"]
    supported = {n["text"] for n in body["grounding"]["supported"]}
    unsupported = {n["text"] for n in body["grounding"]["unsupported"]}
    assert {"100", "125"} <= supported and "999" in unsupported
    assert body["result"]["confidence"] < 0.9  # lowered for the unsupported figure
    assert body["meta"]["prompt_name"] == "analysis" and body["meta"]["rows"] == 3
    assert any(f["kind"] for f in body["facts"])


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
    response = api.post("/api/v1/analyze", files={"file": ("sales.xlsx", b"PK..", "application/octet-stream")})
    assert response.status_code == 415


def test_the_same_table_again_reuses_its_profile(api: TestClient) -> None:
    cache = api.app.state.services.profiles  # type: ignore[attr-defined]
    first = api.post("/api/v1/analyze", json={"csv": CSV, "question": "one"})
    second = api.post("/api/v1/analyze", json={"csv": CSV, "question": "another"})
    changed = api.post("/api/v1/analyze", json={"csv": CSV.replace("125", "126")})
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
