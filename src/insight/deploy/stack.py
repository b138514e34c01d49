"""The deployment topology run as processes on loopback ports: ``deploy/local-stack start|stop|status|kill``.

Every command, environment and health check comes from :mod:`insight.deploy.topology` (the compose file
is checked against the same definitions). State lives under one directory (default ``var/stack``):
``stack.json`` (ports, process ids), ``logs/``, and each service's data. Ports are picked free on the first
start and kept, so a restarted server comes back where its clients look for it.

``start`` is idempotent: a service whose process is alive and healthy is left alone, anything else is
(re)started and waited on. ``stop`` ends every process the stack started (its whole process group) and
stops Postgres. Postgres refuses to run as root: as root it runs as the ``postgres`` user (``runuser``).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from insight.deploy.topology import (
    MLFLOW_DB_NAME,
    MLFLOW_DB_PASSWORD,
    MLFLOW_DB_USER,
    CommandCheck,
    HttpCheck,
    Placement,
    Service,
    ServiceName,
    api_service,
    loopback,
    services,
)

STATE_FILE = "stack.json"
DEFAULT_REPLICAS = 2
# Seconds to wait for each service to turn healthy (first starts: MLflow migrates its Postgres schema,
# the API replicas load their models; both slow on a busy 2-core machine).
START_TIMEOUT_S: dict[str, float] = {
    "postgres": 60.0,
    "mlflow": 180.0,
    "chroma": 60.0,
    "llm": 180.0,
    "api": 240.0,
    "llm-model": 600.0,
    "train": 900.0,
}
STOP_GRACE_S = 20.0
SERVERS: tuple[ServiceName, ...] = ("postgres", "mlflow", "chroma", "llm", "api")


class StackError(RuntimeError):
    """A service did not start, stop or answer; the message says which and where its log is."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks (``/proc/PID/stat`` field 22): a pid with another is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # a zombie has exited
        return None
    return int(fields[19])


def _finished(pid: int) -> bool:
    """Whether every thread of ``pid`` is gone. A killed leader turns zombie at once while its other threads
    may still be exiting (holding the listening socket): ``alive`` is then already false."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return fields.get("State", "").strip().startswith("Z") and int(fields.get("Threads", "1").strip() or 1) <= 1


@dataclass
class Tracked:
    pid: int
    ticks: int

    def alive(self) -> bool:
        return _start_ticks(self.pid) == self.ticks


@dataclass
class State:
    dir: Path
    ports: dict[str, int]
    api_ports: list[int]
    models_dir: Path
    processes: dict[str, Tracked]

    @property
    def file(self) -> Path:
        return self.dir / STATE_FILE

    @classmethod
    def load(cls, state_dir: Path, models_dir: Path, replicas: int) -> State:
        state_dir = state_dir.resolve()
        try:
            raw: dict[str, Any] = json.loads((state_dir / STATE_FILE).read_text())
        except FileNotFoundError:
            raw = {}
        ports: dict[str, int] = raw.get("ports", {})
        for name in SERVERS:
            if name != "api":
                ports.setdefault(name, free_port())
        api_ports: list[int] = raw.get("api_ports", [])
        while len(api_ports) < replicas:
            api_ports.append(free_port())
        processes = {name: Tracked(**entry) for name, entry in raw.get("processes", {}).items()}
        models = Path(raw.get("models_dir", str(models_dir.resolve())))
        return cls(state_dir, ports, api_ports[:replicas], models, processes)

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        body = {
            "ports": self.ports,
            "api_ports": self.api_ports,
            "models_dir": str(self.models_dir),
            "processes": {name: {"pid": t.pid, "ticks": t.ticks} for name, t in self.processes.items()},
        }
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps(body, indent=2))
        tmp.replace(self.file)

    @property
    def placement(self) -> Placement:
        ports: dict[ServiceName, int] = {
            "postgres": self.ports["postgres"],
            "mlflow": self.ports["mlflow"],
            "chroma": self.ports["chroma"],
            "llm": self.ports["llm"],
            "api": self.api_ports[0],
        }
        return loopback(ports, self.dir, self.models_dir)

    def log(self, name: str) -> Path:
        return self.dir / "logs" / f"{name}.log"


def replica_names(state: State) -> list[str]:
    return [f"api-{index}" for index in range(1, len(state.api_ports) + 1)]


def process_services(state: State) -> dict[str, Service]:
    """The services as this stack runs them: the topology's, with one API service per replica port."""
    topology = services(state.placement)
    out: dict[str, Service] = {name: service for name, service in topology.items() if name != "api"}
    for name, port in zip(replica_names(state), state.api_ports, strict=True):
        out[name] = api_service(state.placement, port)
    return out


def _executable(name: str) -> str:
    """Commands from this environment: ``python`` is this interpreter, the others its scripts."""
    if name == "python":
        return sys.executable
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise StackError(f"`{name}` is not installed in this environment ({sys.executable})")
    return found


def _environment(service: Service) -> dict[str, str]:
    # The stack's settings are the topology's: Insight settings of the calling shell do not leak in.
    env = {key: value for key, value in os.environ.items() if not key.startswith("INSIGHT_")}
    env.update({"MLFLOW_DISABLE_TELEMETRY": "true", "ANONYMIZED_TELEMETRY": "False", "PYTHONUNBUFFERED": "1"})
    env.update(service.environment)
    return env


def _log_tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def healthy(service: Service, *, pg_bin: Path | None = None) -> bool:
    check = service.health
    if isinstance(check, HttpCheck):
        try:
            return httpx.get(check.url, timeout=3.0).is_success
        except httpx.HTTPError:
            return False
    if isinstance(check, CommandCheck):
        argv = list(check.argv)
        if pg_bin is not None:
            argv[0] = str(pg_bin / argv[0])
        return subprocess.run(argv, capture_output=True, check=False).returncode == 0
    return False


def _wait_healthy(
    name: str, service: Service, state: State, tracked: Tracked | None, *, pg_bin: Path | None = None
) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S[service.name]
    while not healthy(service, pg_bin=pg_bin):
        if tracked is not None and not tracked.alive():
            raise StackError(
                f"{name} exited while starting; its log ({state.log(name)}):\n{_log_tail(state.log(name))}"
            )
        if time.monotonic() > deadline:
            raise StackError(
                f"{name} was not healthy after {START_TIMEOUT_S[service.name]:.0f} s; its log "
                f"({state.log(name)}):\n{_log_tail(state.log(name))}"
            )
        time.sleep(0.25)


def _argv_and_log(name: str, service: Service, state: State, verb: str) -> tuple[list[str], BinaryIO]:
    """The service's command with its executable resolved, and its log opened for appending, headed by a
    line saying when and what was run."""
    assert service.command is not None
    state.log(name).parent.mkdir(parents=True, exist_ok=True)
    log = state.log(name).open("ab")
    log.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S')} {verb}: {' '.join(service.command)}\n".encode())
    log.flush()
    return [_executable(service.command[0]), *service.command[1:]], log


def _spawn(name: str, service: Service, state: State, cwd: Path) -> Tracked:
    argv, log = _argv_and_log(name, service, state, "start")
    with log:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=_environment(service),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop and kill reach its children too
        )
    ticks = _start_ticks(process.pid)
    if ticks is None:
        raise StackError(f"{name} exited at once; its log ({state.log(name)}):\n{_log_tail(state.log(name))}")
    return Tracked(process.pid, ticks)


def _run_once(name: str, service: Service, state: State, cwd: Path) -> None:
    argv, log = _argv_and_log(name, service, state, "run")
    with log:
        try:
            done = subprocess.run(
                argv,
                cwd=cwd,
                env=_environment(service),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=START_TIMEOUT_S[service.name],
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise StackError(f"{name} did not finish in {START_TIMEOUT_S[service.name]:.0f} s") from None
    if done.returncode != 0:
        raise StackError(
            f"{name} failed ({done.returncode}); its log ({state.log(name)}):\n{_log_tail(state.log(name))}"
        )


def _signal_group(tracked: Tracked, sig: signal.Signals) -> None:
    if tracked.alive():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(tracked.pid, sig)


def _end(tracked: Tracked, grace_s: float) -> None:
    """SIGTERM to the process group, SIGKILL once ``grace_s`` has passed; returns when the leader is gone."""
    _signal_group(tracked, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while tracked.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    _signal_group(tracked, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(tracked.pid, os.WNOHANG)  # reap it when this process was its parent


# --- Postgres -----------------------------------------------------------------------------------------------
def postgres_bin() -> Path:
    """The directory of Postgres' server programs: on PATH, or Debian's /usr/lib/postgresql/<major>/bin."""
    on_path = shutil.which("pg_ctl")
    if on_path is not None:
        return Path(on_path).resolve().parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise StackError("PostgreSQL is not installed: run `bash .ci/install-postgres` (Debian's postgresql)")
    return Path(found[-1]).parent


def reachable_by_others(path: Path) -> bool:
    """Whether every existing directory on the way to ``path`` lets other users through (the ``postgres`` user)."""
    path = path.resolve()
    for directory in [path, *path.parents]:
        if directory.exists() and not directory.stat().st_mode & stat.S_IXOTH:
            return False
    return True


class Postgres:
    """A cluster under ``<state>/postgres``, started with ``pg_ctl`` (as the ``postgres`` user when root)."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.bin = postgres_bin()
        self.root = state.dir / "postgres"
        self.data = self.root / "data"
        self.sockets = self.root / "run"
        self.as_root = os.geteuid() == 0
        if self.as_root and not reachable_by_others(state.dir):
            raise StackError(
                f"Postgres runs as the `postgres` user, who cannot reach {state.dir}: give --state-dir a directory "
                "other users can traverse (e.g. /var/tmp/insight-stack)"
            )

    def _as_owner(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if self.as_root else argv

    def _run(self, argv: list[str], *, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self._as_owner(argv), capture_output=True, text=True, timeout=timeout, check=False, cwd=self.root
        )

    def _prepare(self) -> None:
        self.sockets.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.sockets, "postgres", "postgres")

    def running(self) -> bool:
        return (
            self.data.is_dir() and self._run([str(self.bin / "pg_ctl"), "status", "-D", str(self.data)]).returncode == 0
        )

    def init(self) -> None:
        if (self.data / "PG_VERSION").is_file():
            return
        self._prepare()
        password_file = self.root / "pwfile"
        password_file.write_text(MLFLOW_DB_PASSWORD + "\n")
        if self.as_root:
            shutil.chown(password_file, "postgres", "postgres")
        try:
            done = self._run(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    MLFLOW_DB_USER,
                    f"--pwfile={password_file}",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                ]
            )
        finally:
            password_file.unlink(missing_ok=True)
        if done.returncode != 0:
            raise StackError(f"initdb failed:\n{done.stdout}\n{done.stderr}")

    def start(self) -> None:
        self.init()
        self._prepare()
        port = self.state.ports["postgres"]
        options = f"-p {port} -c listen_addresses=127.0.0.1 -k {self.sockets}"
        done = self._run(
            [str(self.bin / "pg_ctl"), "start", "-D", str(self.data), "-l", str(self.root / "postgres.log"), "-w",
             "-t", str(int(START_TIMEOUT_S["postgres"])), "-o", options]
        )  # fmt: skip
        if done.returncode != 0:
            raise StackError(
                f"postgres did not start:\n{done.stdout}{done.stderr}\n{_log_tail(self.root / 'postgres.log')}"
            )
        self._create_database()

    def _create_database(self) -> None:
        psql = [str(self.bin / "psql"), "-h", str(self.sockets), "-p", str(self.state.ports["postgres"]), "-U",
                MLFLOW_DB_USER, "-d", "postgres", "-tAc"]  # fmt: skip
        exists = self._run([*psql, f"SELECT 1 FROM pg_database WHERE datname = '{MLFLOW_DB_NAME}'"])
        if exists.stdout.strip() != "1":
            created = self._run([*psql, f"CREATE DATABASE {MLFLOW_DB_NAME}"])
            if created.returncode != 0:
                raise StackError(f"cannot create the database {MLFLOW_DB_NAME}: {created.stderr}")

    def stop(self) -> None:
        if self.running():
            self._run([str(self.bin / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w"])


# --- commands -----------------------------------------------------------------------------------------------
def start(state: State, cwd: Path, only: set[str] | None = None) -> None:
    for name, service in process_services(state).items():
        if only is not None and name not in only and service.name not in only:
            continue
        began = time.monotonic()
        if service.name == "postgres":
            postgres = Postgres(state)
            if postgres.running() and healthy(service, pg_bin=postgres.bin):
                print(f"{name}: running")
                continue
            postgres.start()
            _wait_healthy(name, service, state, None, pg_bin=postgres.bin)
        elif service.one_shot:
            _run_once(name, service, state, cwd)
        else:
            tracked = state.processes.get(name)
            if tracked is not None and tracked.alive() and healthy(service):
                print(f"{name}: running")
                continue
            if tracked is not None:
                _end(tracked, STOP_GRACE_S)  # alive but not healthy: start it afresh
            tracked = _spawn(name, service, state, cwd)
            state.processes[name] = tracked
            state.save()
            _wait_healthy(name, service, state, tracked)
        verb = "done" if service.one_shot else "started"
        print(f"{name}: {verb} in {time.monotonic() - began:.1f} s", flush=True)
    state.save()


def stop(state: State) -> None:
    for name in reversed(list(state.processes)):
        _end(state.processes.pop(name), STOP_GRACE_S)
        state.save()
        print(f"{name}: stopped")
    if (state.dir / "postgres" / "data").is_dir():
        Postgres(state).stop()
        print("postgres: stopped")
    state.save()


def kill(state: State, name: str) -> None:
    """SIGKILL a service's process group, as when its machine dies; ``start`` brings it back."""
    tracked = state.processes.get(name)
    if tracked is None or not tracked.alive():
        raise StackError(f"{name} is not running")
    _signal_group(tracked, signal.SIGKILL)
    deadline = time.monotonic() + 10.0
    while (tracked.alive() or not _finished(tracked.pid)) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(tracked.pid, os.WNOHANG)
        time.sleep(0.05)


def status(state: State) -> dict[str, Any]:
    """Each service's state, URL and environment, as ``status --json`` prints it."""
    report: dict[str, Any] = {"state_dir": str(state.dir), "services": {}}
    for name, service in process_services(state).items():
        if service.one_shot:
            continue
        if service.name == "postgres":
            try:
                postgres = Postgres(state)
                running = postgres.running()
                is_healthy = running and healthy(service, pg_bin=postgres.bin)
            except StackError:
                running = is_healthy = False
        else:
            tracked = state.processes.get(name)
            running = tracked is not None and tracked.alive()
            is_healthy = running and healthy(service)
        entry: dict[str, Any] = {"running": running, "healthy": is_healthy, "environment": service.environment}
        if isinstance(service.health, HttpCheck):
            entry["url"] = f"http://127.0.0.1:{service.health.port}"
        report["services"][name] = entry
    report["postgres_uri"] = (
        f"postgresql://{MLFLOW_DB_USER}:{MLFLOW_DB_PASSWORD}@127.0.0.1:{state.ports['postgres']}/{MLFLOW_DB_NAME}"
    )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="local-stack", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--state-dir", type=Path, default=Path(os.environ.get("INSIGHT_STACK_DIR", "var/stack")))
    parser.add_argument("--models-dir", type=Path, default=Path("var/models/llm"), help="the chat model's cache")
    parser.add_argument("--replicas", type=int, default=DEFAULT_REPLICAS)
    commands = parser.add_subparsers(dest="command", required=True)
    start_cmd = commands.add_parser("start", help="start what is not running and healthy (idempotent)")
    start_cmd.add_argument("--only", help="comma-separated services (e.g. chroma,mlflow); default: all")
    commands.add_parser("stop", help="stop every process the stack started, and Postgres")
    status_cmd = commands.add_parser("status", help="exit 0 when every service is healthy")
    status_cmd.add_argument("--json", action="store_true")
    kill_cmd = commands.add_parser("kill", help="SIGKILL one service (a crash, for tests); start restarts it")
    kill_cmd.add_argument("service")
    args = parser.parse_args(argv)

    state = State.load(args.state_dir, args.models_dir, args.replicas)
    try:
        if args.command == "start":
            only = set(args.only.split(",")) if args.only else None
            start(state, Path.cwd(), only)
        elif args.command == "stop":
            stop(state)
        elif args.command == "kill":
            kill(state, args.service)
        else:
            report = status(state)
            if args.json:
                print(json.dumps(report, indent=2))
            else:
                for name, entry in report["services"].items():
                    word = "healthy" if entry["healthy"] else "running" if entry["running"] else "stopped"
                    print(f"{name:10} {word:8} {entry.get('url', '')}")
            return 0 if all(entry["healthy"] for entry in report["services"].values()) else 3
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
