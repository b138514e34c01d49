"""The process stack's supervisor on its cheapest service (a real ``chroma run``): start, idempotence, crash, stop.

The whole stack runs end to end in ``tests/stack`` (``make stack-test``); these checks run in every test run.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from insight.config import VectorStoreSettings
from insight.deploy import stack as supervisor
from insight.deploy.topology import CommandCheck, HttpCheck, Service
from insight.rag.store import build_chroma_client

# The servers are meant to outlive the `start` command: their Popen objects are dropped while they run.
pytestmark = pytest.mark.filterwarnings("ignore:subprocess .* is still running:ResourceWarning")


def processes(state_dir: Path) -> dict[str, dict[str, int]]:
    state: dict[str, dict[str, dict[str, int]]] = json.loads((state_dir / supervisor.STATE_FILE).read_text())
    return state["processes"]


def port_answers(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    supervisor.main(["--state-dir", str(tmp_path), "stop"])  # whatever a failed test left running


def test_chroma_starts_once_survives_a_crash_with_its_data_and_stops(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--state-dir", str(state_dir)]
    assert supervisor.main([*args, "start", "--only", "chroma"]) == 0
    first = processes(state_dir)["chroma"]
    port = json.loads((state_dir / supervisor.STATE_FILE).read_text())["ports"]["chroma"]
    client = build_chroma_client(VectorStoreSettings(host="127.0.0.1", port=port))
    client.get_or_create_collection("kept").add(ids=["a"], embeddings=[[0.1, 0.2, 0.3]])

    assert supervisor.main([*args, "start", "--only", "chroma"]) == 0  # idempotent: nothing restarted
    assert processes(state_dir)["chroma"] == first
    assert "chroma: running" in capsys.readouterr().out

    assert supervisor.main([*args, "kill", "chroma"]) == 0
    assert not supervisor.Tracked(**first).alive()
    assert not port_answers(port)
    assert supervisor.main([*args, "status"]) == 3  # not every service is healthy
    assert supervisor.main([*args, "kill", "chroma"]) == 1  # nothing left to kill: a clear error
    assert "chroma is not running" in capsys.readouterr().err

    assert supervisor.main([*args, "start", "--only", "chroma"]) == 0
    second = processes(state_dir)["chroma"]
    assert second != first
    assert client.get_collection("kept").get(ids=["a"])["ids"] == ["a"]  # same port, same data
    assert "chroma: started" in capsys.readouterr().out

    assert supervisor.main([*args, "status", "--json"]) == 3
    report = json.loads(capsys.readouterr().out)
    assert report["services"]["chroma"] == {
        "running": True,
        "healthy": True,
        "environment": {"ANONYMIZED_TELEMETRY": "False"},
        "url": f"http://127.0.0.1:{port}",
    }
    assert not report["services"]["mlflow"]["running"]

    assert supervisor.main([*args, "stop"]) == 0
    assert not supervisor.Tracked(**second).alive()
    assert not port_answers(port)
    assert processes(state_dir) == {}


def test_ports_are_kept_across_loads_and_replicas_get_their_own(tmp_path: Path) -> None:
    state = supervisor.State.load(tmp_path, tmp_path / "models", replicas=2)
    state.save()
    again = supervisor.State.load(tmp_path, tmp_path / "other-models", replicas=2)
    assert (again.ports, again.api_ports, again.models_dir) == (state.ports, state.api_ports, state.models_dir)
    assert len(set(state.api_ports) | set(state.ports.values())) == len(state.api_ports) + len(state.ports)
    named = supervisor.process_services(again)
    assert [name for name in named if name.startswith("api")] == ["api-1", "api-2"]
    ports = {named[name].environment["INSIGHT_API__PORT"] for name in ("api-1", "api-2")}
    assert ports == {str(port) for port in state.api_ports}


def test_a_reused_pid_is_not_taken_for_the_process_started(tmp_path: Path) -> None:
    me = supervisor._start_ticks(os.getpid())
    assert me is not None
    assert supervisor.Tracked(os.getpid(), me).alive()
    assert not supervisor.Tracked(os.getpid(), me + 1).alive()  # same pid, another start time
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert supervisor._start_ticks(int(done.stdout)) is None


def test_health_checks_answer_false_when_nothing_listens() -> None:
    port = supervisor.free_port()
    http = Service(name="chroma", command=("chroma",), environment={}, health=HttpCheck(port, "/"))
    assert not supervisor.healthy(http)
    ok = Service(name="postgres", command=None, environment={}, health=CommandCheck(("true",)))
    failing = Service(name="postgres", command=None, environment={}, health=CommandCheck(("false",)))
    assert supervisor.healthy(ok) and not supervisor.healthy(failing)


def test_a_missing_postgres_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervisor.shutil, "which", lambda name: None)
    monkeypatch.setattr(supervisor.glob, "glob", lambda pattern: [])
    with pytest.raises(supervisor.StackError, match="install-postgres"):
        supervisor.postgres_bin()


def test_a_service_that_dies_while_starting_reports_its_log(tmp_path: Path) -> None:
    state = supervisor.State.load(tmp_path, tmp_path, replicas=1)
    dying = Service(
        name="chroma",
        command=("python", "-c", "import sys; print('no such config'); sys.exit(3)"),
        environment={},
        health=HttpCheck(supervisor.free_port(), "/"),
    )
    with pytest.raises(supervisor.StackError, match="no such config"):
        tracked = supervisor._spawn("chroma", dying, state, tmp_path)
        supervisor._wait_healthy("chroma", dying, state, tracked)


def test_a_directory_closed_to_other_users_is_found(tmp_path: Path) -> None:
    opened = tmp_path / "open" / "state"
    opened.mkdir(parents=True)
    tmp_path.chmod(0o755)
    (tmp_path / "open").chmod(0o755)
    assert supervisor.reachable_by_others(opened) == supervisor.reachable_by_others(tmp_path.parent)
    (tmp_path / "open").chmod(0o750)
    assert not supervisor.reachable_by_others(opened)
    assert not supervisor.reachable_by_others(opened / "not-yet")
