"""Evaluation runs go through a bounded queue: limits on running and waiting runs (overall and per API key),
429 with ``Retry-After`` beyond them, and the rest of the API answers while runs are busy."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from insight.api.app import create_app
from insight.api.deps import Services
from insight.auth import KeyStore
from insight.config import EvaluationSettings, Settings
from insight.errors import EvalQueueFull, SuiteInvalid
from insight.evaluation.jobs import DEFAULT_RETRY_AFTER_S, SHUTDOWN_MESSAGE, EvalJobs
from insight.evaluation.runner import Progress, RunResult
from insight.evaluation.suites import LoadedSuite, Suite
from insight.prompts import PromptRegistry
from insight.rag.factory import RagSlot
from insight.rag.search import SearchHit
from insight.rag.service import RagService
from tests.api.conftest import build_with_fakes
from tests.conftest import REPO_ROOT, auth_settings, make_settings
from tests.evaluation.conftest import write_suite

# -- the queue on its own, with a fake runner -------------------------------------------------------------


class GatedRunner:
    """A ``SuiteRunner`` whose runs wait until the test opens their suite's gate."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.prompts = PromptRegistry(REPO_ROOT / "prompts")
        self.gates: dict[str, asyncio.Event] = {}
        self.started: list[str] = []

    def gate(self, suite: str) -> asyncio.Event:
        return self.gates.setdefault(suite, asyncio.Event())

    async def run(
        self,
        loaded: LoadedSuite,
        *,
        versions: list[int] | None = None,
        limit: int | None = None,
        progress: Progress | None = None,
    ) -> list[RunResult]:
        self.started.append(loaded.suite.name)
        await self.gate(loaded.suite.name).wait()
        if loaded.suite.name.startswith("broken"):
            raise SuiteInvalid("the dataset is gone")
        return []


def _loaded(name: str) -> LoadedSuite:
    suite = Suite(name=name, kind="predictor", metrics=["accuracy"])
    return LoadedSuite(suite=suite, path=Path(f"{name}.yaml"), sha256="0" * 64)


def _jobs(**limits: int) -> EvalJobs:
    return EvalJobs(EvaluationSettings(**limits))  # type: ignore[arg-type]


@pytest.fixture
def runner(tmp_path: Path) -> GatedRunner:
    return GatedRunner(make_settings(tmp_path))


@pytest.mark.anyio
async def test_runs_beyond_the_running_limit_wait_in_order_and_a_full_queue_refuses(runner: GatedRunner) -> None:
    jobs = _jobs(max_running=2, max_queued=2, max_active_per_key=10)
    started = [jobs.start(runner, _loaded(f"s{i}"), owner=f"key{i}", track=False) for i in range(4)]
    await asyncio.sleep(0)
    assert (jobs.running, jobs.queued) == (2, 2)
    assert [job.status for job in started] == ["running", "running", "queued", "queued"]
    assert runner.started == ["s0", "s1"]

    with pytest.raises(EvalQueueFull) as refused:
        jobs.start(runner, _loaded("s4"), owner="key4", track=False)
    assert refused.value.code == "eval_queue_full" and refused.value.retry_after_s == DEFAULT_RETRY_AFTER_S
    assert "2 waiting" in refused.value.message

    runner.gate("s1").set()  # a slot frees: the oldest waiting run takes it
    assert (await jobs.wait(started[1].id)).status == "passed"
    await asyncio.sleep(0)
    assert runner.started == ["s0", "s1", "s2"] and (jobs.running, jobs.queued) == (2, 1)
    assert jobs.start(runner, _loaded("s4"), owner="key4", track=False).status == "queued"
    assert jobs.retry_after_s() >= 1.0  # now from the finished run's duration

    for name in ("s0", "s2", "s3", "s4"):
        runner.gate(name).set()
    for job in jobs.recent():
        assert (await jobs.wait(job.id)).status == "passed"
    assert (jobs.running, jobs.queued) == (0, 0)


@pytest.mark.anyio
async def test_one_key_cannot_take_every_slot(runner: GatedRunner) -> None:
    jobs = _jobs(max_running=1, max_queued=10, max_active_per_key=2)
    first = jobs.start(runner, _loaded("a1"), owner="greedy", track=False)
    jobs.start(runner, _loaded("a2"), owner="greedy", track=False)
    with pytest.raises(EvalQueueFull, match="this API key already has 2"):
        jobs.start(runner, _loaded("a3"), owner="greedy", track=False)
    other = jobs.start(runner, _loaded("b1"), owner="other", track=False)  # another key still gets in
    assert (jobs.active("greedy"), jobs.active("other"), jobs.queued) == (2, 1, 2)

    runner.gate("a1").set()
    await jobs.wait(first.id)
    assert jobs.active("greedy") == 1
    assert jobs.start(runner, _loaded("a3"), owner="greedy", track=False).status == "queued"
    for name in ("a2", "a3", "b1"):
        runner.gate(name).set()
    assert (await jobs.wait(other.id)).status == "passed"


@pytest.mark.anyio
async def test_failed_runs_free_their_slot_and_finished_runs_are_kept_up_to_max_jobs(runner: GatedRunner) -> None:
    jobs = _jobs(max_running=1, max_queued=10, max_active_per_key=10, max_jobs=2)
    broken = jobs.start(runner, _loaded("broken"), track=False)
    fine = [jobs.start(runner, _loaded(f"ok{i}"), track=False) for i in range(3)]
    runner.gate("broken").set()
    done = await jobs.wait(broken.id)
    assert done.status == "error" and done.error == "suite_invalid: the dataset is gone"
    for i, job in enumerate(fine):
        runner.gate(f"ok{i}").set()
        await jobs.wait(job.id)
    assert [job.id for job in jobs.recent()] == [fine[2].id, fine[1].id]  # the newest two finished
    assert jobs.active("anonymous") == 0


@pytest.mark.anyio
async def test_shutdown_cancels_running_runs_and_drops_waiting_ones(runner: GatedRunner) -> None:
    jobs = _jobs(max_running=1, max_queued=5, max_active_per_key=5)
    running = jobs.start(runner, _loaded("long"), track=False)
    waiting = jobs.start(runner, _loaded("next"), track=False)
    await asyncio.sleep(0)
    assert running.status == "running"
    await jobs.aclose()
    assert (running.status, running.error) == ("error", SHUTDOWN_MESSAGE)
    assert (waiting.status, waiting.error) == ("error", SHUTDOWN_MESSAGE)
    assert running.finished_at is not None and waiting.finished_at is not None
    assert (jobs.running, jobs.queued, jobs.active("anonymous")) == (0, 0, 0)
    assert runner.started == ["long"]  # the waiting run never started
    with pytest.raises(EvalQueueFull, match="shutting down"):
        jobs.start(runner, _loaded("late"), track=False)


@pytest.mark.anyio
async def test_a_run_cancelled_before_its_first_step_is_marked_too(runner: GatedRunner) -> None:
    jobs = _jobs(max_running=1)
    job = jobs.start(runner, _loaded("never"), track=False)
    await jobs.aclose()  # its task was created but never ran
    assert (job.status, job.error) == ("error", SHUTDOWN_MESSAGE) and runner.started == []


# -- the API under a flood ---------------------------------------------------------------------------------


class BlockedSearch:
    """The app's search service, except that ``search`` holds its worker thread until the test lets it go
    (a run busy mid-suite)."""

    def __init__(self, inner: RagService) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.release = threading.Event()

    def search(self, *_args: Any, **_kwargs: Any) -> list[SearchHit]:
        self.entered.set()
        if not self.release.wait(timeout=60):
            raise AssertionError("the test never released the search")
        return []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def flood(tmp_path: Path, trained_model_dir: Path) -> Iterator[tuple[TestClient, dict[str, str], BlockedSearch]]:
    """The app with limits 2 running / 3 waiting / 3 per key, a suite whose search blocks, and two eval keys."""
    dataset = tmp_path / "cases.jsonl"
    dataset.write_bytes(orjson.dumps({"id": "q1", "query": "anything", "relevant": {"a.md": 1}}) + b"\n")
    write_suite(
        tmp_path / "suites",
        name="slow",
        kind="retrieval",
        dataset={"path": dataset},
        collection="flood",
        metrics=["latency_p50"],
        targets=[{"metric": "latency_p50", "op": "<=", "value": 1e9}],
    )
    settings = make_settings(
        tmp_path,
        model_dir=trained_model_dir,
        auth=auth_settings(tmp_path),
        evaluation=EvaluationSettings(
            suites_dir=tmp_path / "suites",
            cache_dir=tmp_path / "cache",
            bootstrap_samples=100,
            max_running=2,
            max_queued=3,
            max_active_per_key=3,
        ),
    )
    store = KeyStore(settings.auth.keys_path)
    keys = {name: store.create(f"tests: {name}", ["eval"]).key for name in ("alice", "bob", "carol")}
    search: list[BlockedSearch] = []

    def build(settings: Settings) -> Services:
        services = build_with_fakes(settings)
        search.append(BlockedSearch(services.rag.require()))
        services.rag = RagSlot(settings, service=search[0])  # type: ignore[arg-type]
        return services

    with TestClient(create_app(settings, build=build)) as client:
        try:
            yield client, keys, search[0]
        finally:
            search[0].release.set()  # never leave a worker thread blocked at shutdown


def _post(client: TestClient, key: str) -> tuple[int, dict[str, Any], str | None]:
    response = client.post("/api/v1/evals", json={"suite": "slow", "track": False}, headers=_auth(key))
    return response.status_code, response.json(), response.headers.get("Retry-After")


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_a_flood_of_runs_is_bounded_and_the_api_answers_meanwhile(
    flood: tuple[TestClient, dict[str, str], BlockedSearch],
) -> None:
    client, keys, search = flood
    alice = [_post(client, keys["alice"]) for _ in range(8)]
    assert [status for status, _, _ in alice] == [202] * 3 + [429] * 5  # three per key
    refused = alice[3]
    assert refused[1]["code"] == "eval_queue_full" and "this API key already has 3" in refused[1]["message"]
    assert refused[2] is not None and int(refused[2]) >= 1

    bob = [_post(client, keys["bob"]) for _ in range(8)]
    assert [status for status, _, _ in bob] == [202] * 2 + [429] * 6  # 2 running + 3 waiting in all
    assert "3 waiting" in bob[2][1]["message"] and bob[2][2] is not None
    carol = _post(client, keys["carol"])  # a key with nothing queued is refused too: the queue is full
    assert carol[0] == 429 and carol[1]["code"] == "eval_queue_full"

    assert search.entered.wait(timeout=60)  # a run is inside its suite, holding a worker thread
    assert client.get("/health").status_code == 200
    listed = client.get("/api/v1/evals", headers=_auth(keys["carol"]))
    assert listed.status_code == 200
    statuses = [run["status"] for run in listed.json()["runs"]]
    assert sorted(statuses) == ["queued"] * 3 + ["running"] * 2
    assert client.get("/api/v1/evals/suites", headers=_auth(keys["carol"])).status_code == 200
    first = alice[0][1]["id"]
    assert client.get(f"/api/v1/evals/{first}", headers=_auth(keys["alice"])).json()["status"] == "running"

    search.release.set()
    accepted = [body["id"] for status, body, _ in alice + bob if status == 202]
    for run_id in accepted:
        assert _status(client, run_id, keys["alice"]) == "passed"
    assert _post(client, keys["carol"])[0] == 202  # room again


def _status(client: TestClient, run_id: str, key: str) -> str:
    for _ in range(2000):
        status: str = client.get(f"/api/v1/evals/{run_id}", headers=_auth(key)).json()["status"]
        if status not in ("queued", "running"):
            return status
        threading.Event().wait(0.02)
    raise AssertionError(f"run {run_id} did not finish")
