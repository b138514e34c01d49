"""``POST /api/v1/evals`` starts a run in the background; ``GET /api/v1/evals/{id}`` gives status and results."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from insight.api.app import create_app
from insight.auth import KeyStore
from insight.config import EvaluationSettings
from tests.api.conftest import build_with_fakes
from tests.conftest import auth_settings, make_settings
from tests.evaluation.conftest import write_suite


@pytest.fixture
def client(tmp_path: Path, trained_model_dir: Path) -> Iterator[TestClient]:
    suites = tmp_path / "suites"
    for name, target in (("predictor-ok", 0.85), ("predictor-strict", 0.9999)):
        write_suite(
            suites, name=name, kind="predictor", metrics=["accuracy"], targets=[{"metric": "accuracy", "value": target}]
        )
    settings = make_settings(
        tmp_path,
        model_dir=trained_model_dir,
        auth=auth_settings(tmp_path),
        evaluation=EvaluationSettings(suites_dir=suites, cache_dir=tmp_path / "cache", bootstrap_samples=200),
    )
    key = KeyStore(settings.auth.keys_path).create("tests: eval", ["eval"]).key
    with TestClient(create_app(settings, build=build_with_fakes), headers={"Authorization": f"Bearer {key}"}) as test:
        yield test


def _finished(client: TestClient, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/api/v1/evals/{run_id}").json()
        if body["status"] not in ("queued", "running"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish")


def test_a_run_starts_in_the_background_and_reports_its_results(client: TestClient) -> None:
    started = client.post("/api/v1/evals", json={"suite": "predictor-ok"})
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    body = _finished(client, run_id)
    assert body["status"] == "passed" and body["error"] is None
    (result,) = body["results"]
    assert result["passed"] is True and result["mlflow_run_id"]
    accuracy = result["metrics"][0]
    assert accuracy["metric"] == "accuracy" and accuracy["ci_low"] <= accuracy["value"] <= accuracy["ci_high"]
    assert result["targets"][0] == {
        "metric": "accuracy",
        "op": ">=",
        "value": 0.85,
        "gate_on": "point",
        "compared": accuracy["value"],
        "passed": True,
        "why": "",
    }
    assert body["done"] == body["total"] == 114  # the test split's rows

    strict = _finished(
        client, client.post("/api/v1/evals", json={"suite": "predictor-strict", "track": False}).json()["id"]
    )
    assert strict["status"] == "failed" and strict["results"][0]["targets"][0]["passed"] is False


def test_unknown_suites_runs_and_fields_are_refused(client: TestClient) -> None:
    assert client.post("/api/v1/evals", json={"suite": "nope"}).status_code == 404
    assert client.post("/api/v1/evals", json={"suite": "../predictor-ok"}).status_code == 404
    assert client.post("/api/v1/evals", json={"suite": "predictor-ok", "data": "/etc"}).status_code == 422
    assert client.get("/api/v1/evals/0123").status_code == 404


def test_the_eval_scope_is_required(client: TestClient, tmp_path: Path) -> None:
    settings_key = KeyStore(tmp_path / "auth" / "keys.db").create("tests: analyst", ["analyze"]).key
    refused = client.post(
        "/api/v1/evals", json={"suite": "predictor-ok"}, headers={"Authorization": f"Bearer {settings_key}"}
    )
    assert refused.status_code == 403


def test_suites_and_recent_runs_are_listed(client: TestClient) -> None:
    suites = client.get("/api/v1/evals/suites")
    assert suites.status_code == 200, suites.text
    by_name = {s["name"]: s for s in suites.json()["suites"]}
    assert set(by_name) == {"predictor-ok", "predictor-strict"}
    assert by_name["predictor-ok"]["kind"] == "predictor" and by_name["predictor-ok"]["targets"] == ["accuracy >= 0.85"]

    assert client.get("/api/v1/evals").json() == {"runs": []}
    first = client.post("/api/v1/evals", json={"suite": "predictor-ok", "track": False}).json()["id"]
    _finished(client, first)
    second = client.post("/api/v1/evals", json={"suite": "predictor-strict", "track": False}).json()["id"]
    _finished(client, second)
    runs = client.get("/api/v1/evals").json()["runs"]
    assert [run["id"] for run in runs] == [second, first]  # newest first
    assert [run["status"] for run in runs] == ["failed", "passed"]
    assert client.get("/api/v1/evals", headers={"Authorization": "Bearer nope"}).status_code == 401
