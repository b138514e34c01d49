"""End to end against the deployment topology run as processes (``make stack-test``).

Two API replicas share a Chroma server, an MLflow server on Postgres and the llama.cpp OpenAI-compatible
server. The tests run in file order and build on each other (documents ingested first are looked for after
Chroma restarts; the evaluation run logged first is looked for after MLflow restarts).
"""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg2
import pytest

from insight.config import SearchSettings
from insight.evaluation.tracking import metric_key
from insight.llm.local_model import LOCAL_MODEL_NAME

from .conftest import Stack

COLLECTION = "stack-docs"
FIRST = [
    {
        "id": "retention",
        "title": "Retention policy",
        "text": "Raw event logs are kept for thirteen months and then deleted. Aggregated reports are kept for "
        "seven years in the archive.",
    },
    {
        "id": "sla",
        "title": "Support SLA",
        "text": "Priority one incidents get a first response within fifteen minutes, around the clock.",
    },
]
SECOND = [
    {
        "id": "lighthouse",
        "title": "Lighthouse keeping",
        "text": "The lighthouse lamp is cleaned every Tuesday by the harbour keeper, who logs it in the ledger.",
    }
]
facts: dict[str, Any] = {}


def search_ids(client: httpx.Client, query: str) -> list[str]:
    response = client.post("/api/v1/search", json={"collection": COLLECTION, "query": query, "top_k": 5})
    assert response.status_code == 200, response.text
    return [hit["doc_id"] for hit in response.json()["hits"]]


def ingest(client: httpx.Client, documents: list[dict[str, str]]) -> dict[str, Any]:
    response = client.post(f"/api/v1/collections/{COLLECTION}/documents", json={"documents": documents})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def llm_calls_ok(client: httpx.Client) -> float:
    metrics = client.get("/metrics").text
    pattern = r'^insight_llm_calls_total\{[^}]*outcome="ok"[^}]*provider="openai_compatible"[^}]*\} (\S+)$'
    found = re.findall(pattern, metrics, re.MULTILINE)
    if not found:  # label order is Prometheus' own: try the other one
        pattern = r'^insight_llm_calls_total\{[^}]*provider="openai_compatible"[^}]*outcome="ok"[^}]*\} (\S+)$'
        found = re.findall(pattern, metrics, re.MULTILINE)
    return sum(float(value) for value in found)


def ask_request_fields(client: httpx.Client) -> set[str]:
    schema = client.get("/openapi.json").json()
    return set(schema["components"]["schemas"]["AskRequest"]["properties"])


def postgres_rows(stack: Stack, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    with psycopg2.connect(stack.status()["postgres_uri"], connect_timeout=10) as connection:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())


def wait_for(check: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except httpx.HTTPError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.5)
    raise AssertionError(f"{what} not within {timeout_s} s (last: {last!r})")


def run_eval(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    created = client.post("/api/v1/evals", json=body)
    assert created.status_code == 202, created.text
    run_id = created.json()["id"]

    def finished() -> dict[str, Any] | None:
        status: dict[str, Any] = client.get(f"/api/v1/evals/{run_id}").json()
        return status if status["status"] in ("passed", "failed", "error") else None

    status = wait_for(finished, 600, f"evaluation run {run_id}")
    assert status["status"] != "error", status  # "failed" is a finished run that missed a target: still logged
    result: dict[str, Any] = status["results"][0]
    return result


# --- the tests, in order ------------------------------------------------------------------------------------
def test_every_service_is_healthy_and_a_second_start_changes_nothing(stack: Stack) -> None:
    report = stack.status()
    assert {name for name, entry in report["services"].items() if entry["healthy"]} == {
        "postgres", "mlflow", "chroma", "llm", "api-1", "api-2",
    }  # fmt: skip
    before = stack.pids()
    again = stack.run("start")
    assert stack.pids() == before
    for name in ("postgres", "mlflow", "chroma", "llm", "api-1", "api-2"):
        assert f"{name}: running" in again.stdout
    for replica in ("api-1", "api-2"):
        with stack.client(replica) as client:
            ready = client.get("/ready").json()
        assert ready["ready"], ready
        assert ready["parts"]["vectorstore"]["detail"].startswith("chroma server 127.0.0.1:")


def test_ingested_through_one_replica_and_found_through_the_other_within_the_snapshot_age(stack: Stack) -> None:
    snapshot_age = SearchSettings().snapshot_max_age_s  # the replicas run with the default
    with stack.client("api-1") as a, stack.client("api-2") as b:
        assert a.post("/api/v1/collections", json={"name": COLLECTION}).status_code == 201
        assert set(ingest(a, FIRST)["added"]) == {"retention", "sla"}
        assert search_ids(b, "how long are raw event logs kept")[0] == "retention"  # b now holds a snapshot
        assert "lighthouse" not in search_ids(b, "lighthouse lamp cleaned")

        assert ingest(a, SECOND)["added"] == ["lighthouse"]
        written = time.monotonic()
        time.sleep(snapshot_age)
        assert search_ids(b, "lighthouse lamp cleaned")[0] == "lighthouse"
        facts["b_sees_write_after_s"] = round(time.monotonic() - written, 2)
        collection = b.get(f"/api/v1/collections/{COLLECTION}").json()
    assert collection["documents"] == 3
    facts["collection"] = collection


def test_an_evaluation_run_is_logged_to_the_mlflow_server_and_stored_in_postgres(stack: Stack) -> None:
    with stack.client("api-2") as client:
        result = run_eval(client, {"suite": "retrieval-sample"})
    run_id = result["mlflow_run_id"]
    assert run_id, result
    rows = postgres_rows(
        stack,
        "SELECT r.status, e.name FROM runs r JOIN experiments e ON r.experiment_id = e.experiment_id "
        "WHERE r.run_uuid = %s",
        (run_id,),
    )
    assert rows == [("FINISHED", "insight-eval")]
    metrics = dict(postgres_rows(stack, "SELECT key, value FROM latest_metrics WHERE run_uuid = %s", (run_id,)))
    measured = {m["metric"]: m["value"] for m in result["metrics"] if m["value"] is not None}
    assert {"ndcg@10", "recall@5"} <= set(measured)
    for name, value in measured.items():
        assert metrics[metric_key(name)] == pytest.approx(value, abs=1e-9), name
    facts["eval_run_id"] = run_id
    facts["eval_metrics"] = metrics


def test_analyze_and_ask_go_through_the_llama_cpp_server(stack: Stack) -> None:
    months = [f"2025-{m:02d}-01" for m in range(1, 13)] + [f"2026-{m:02d}-01" for m in range(1, 13)]
    csv = "month,revenue\n" + "\n".join(f"{month},{100 + 7 * i + (i % 3)}" for i, month in enumerate(months))
    with stack.client("api-1") as a, stack.client("api-2") as b:
        calls_before = llm_calls_ok(a)
        analysis = a.post("/api/v1/analyze", json={"csv": csv, "question": "How is revenue developing?"})
        assert analysis.status_code == 200, analysis.text
        meta = analysis.json()["meta"]
        assert (meta["provider"], meta["model"]) == ("openai_compatible", LOCAL_MODEL_NAME)
        assert llm_calls_ok(a) > calls_before, "the replica made no successful call to the model server"

        calls_before = llm_calls_ok(b)
        question: dict[str, Any] = {"collection": COLLECTION, "question": "How long are raw event logs kept?"}
        if "answer_mode" in ask_request_fields(b):  # the default mode may answer without the model
            question["answer_mode"] = "generative"
        answer = b.post("/api/v1/ask", json=question)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["found"] and body["citations"][0]["doc_id"] == "retention"
        assert body["meta"].get("provider") == "openai_compatible"
        assert "the model call failed" not in body["meta"].get("fallback_reason", "")
        assert llm_calls_ok(b) > calls_before, "the replica made no successful call to the model server"
    llm_log = (stack.state_dir / "logs" / "llm.log").read_text(errors="replace")
    assert 'POST /v1/chat/completions HTTP/1.1" 200' in llm_log


def test_chroma_killed_and_restarted_loses_nothing(stack: Stack) -> None:
    before = facts["collection"]
    stack.run("kill", "chroma")
    with stack.client("api-1") as a:
        down = a.get(f"/api/v1/collections/{COLLECTION}")
        assert down.status_code == 503, down.text  # a clear "unavailable", not a stack trace
    stack.run("start")
    with stack.client("api-1") as a, stack.client("api-2") as b:
        after = wait_for(
            lambda: (r := a.get(f"/api/v1/collections/{COLLECTION}")).status_code == 200 and r.json(),
            60,
            "the collection back after Chroma's restart",
        )
        assert (after["documents"], after["chunks"], after["version"]) == (
            before["documents"], before["chunks"], before["version"],
        )  # fmt: skip
        assert search_ids(b, "first response priority one incident")[0] == "sla"
        assert ingest(a, FIRST)["unchanged"] == ["retention", "sla"]  # the content hashes survived too


def test_mlflow_killed_and_restarted_loses_nothing(stack: Stack) -> None:
    run_id = facts["eval_run_id"]
    stack.run("kill", "mlflow")
    stack.run("start")
    mlflow_url = stack.url("mlflow")
    run = httpx.get(f"{mlflow_url}/api/2.0/mlflow/runs/get", params={"run_id": run_id}, timeout=30).json()["run"]
    assert run["info"]["status"] == "FINISHED"
    served = {metric["key"]: metric["value"] for metric in run["data"]["metrics"]}
    assert served == pytest.approx(facts["eval_metrics"])
    artifacts = httpx.get(f"{mlflow_url}/api/2.0/mlflow/artifacts/list", params={"run_id": run_id}, timeout=30)
    assert artifacts.status_code == 200 and artifacts.json().get("files"), artifacts.text

    with stack.client("api-1") as a:  # the replicas write to the restarted server as before
        again = run_eval(a, {"suite": "retrieval-sample", "limit": 3})
    runs = postgres_rows(
        stack,
        "SELECT r.run_uuid FROM runs r JOIN experiments e ON r.experiment_id = e.experiment_id "
        "WHERE e.name = 'insight-eval' AND r.status = 'FINISHED'",
        (),
    )
    assert {run_id, again["mlflow_run_id"]} <= {row[0] for row in runs}


def test_stop_ends_every_process_and_frees_every_port(stack: Stack) -> None:
    pids = stack.pids()
    report = stack.status()
    ports = [int(entry["url"].rsplit(":", 1)[1]) for entry in report["services"].values() if "url" in entry]
    ports.append(int(report["postgres_uri"].rsplit(":", 1)[1].split("/")[0]))
    stack.run("stop", timeout=300)
    for name, pid in pids.items():
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        assert state == "Z", f"{name} (pid {pid}) still runs"
    for port in ports:
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers"
    assert local_stopped(stack)


def local_stopped(stack: Stack) -> bool:
    report = stack.status()
    return not any(entry["running"] for entry in report["services"].values())
