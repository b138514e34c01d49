"""The process stack (deploy/local-stack), started once for the end-to-end tests and stopped after them.

Run by ``make stack-test`` only: pyproject's ``addopts`` ignores ``tests/stack`` in the default run. The stack
gets its own state directory and free ports, so it never meets a developer's ``var/stack`` or another
test's servers; every process it starts is stopped at the end, even when a test fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from insight.deploy.stack import reachable_by_others

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "local-stack"
START_TIMEOUT_S = 1200


def local_stack(state_dir: Path, *args: str, timeout: float = START_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("INSIGHT_")}
    env["PYTHON"] = sys.executable
    return subprocess.run(
        [str(SCRIPT), "--state-dir", str(state_dir), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class Stack:
    state_dir: Path
    key: str
    started_s: float

    def run(self, *args: str, timeout: float = START_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        done = local_stack(self.state_dir, *args, timeout=timeout)
        assert done.returncode == 0, f"local-stack {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done

    def status(self) -> dict[str, Any]:
        done = local_stack(self.state_dir, "status", "--json", timeout=60)
        report: dict[str, Any] = json.loads(done.stdout)
        return report

    def url(self, service: str) -> str:
        return str(self.status()["services"][service]["url"])

    def env(self, service: str) -> dict[str, str]:
        return dict(self.status()["services"][service]["environment"])

    def pids(self) -> dict[str, int]:
        processes = json.loads((self.state_dir / "stack.json").read_text())["processes"]
        return {name: entry["pid"] for name, entry in processes.items()}

    def client(self, replica: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url(replica), headers={"Authorization": f"Bearer {self.key}"}, timeout=httpx.Timeout(300.0)
        )


def _create_key(state_dir: Path, keys_path: str) -> str:
    env = {key: value for key, value in os.environ.items() if not key.startswith("INSIGHT_")}
    env["INSIGHT_AUTH__KEYS_PATH"] = keys_path
    done = subprocess.run(
        [str(Path(sys.executable).parent / "insight"), "keys", "create", "--name", "stack-test", "--scope", "admin"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    # Not pytest's 0700 temp dir: as root, Postgres runs as `postgres`, who must reach it (a checkout under
    # /root is out of its reach too).
    parent = ROOT / "var" if reachable_by_others(ROOT) else Path("/var/tmp")
    state_dir = parent / f"insight-stack-test-{os.getpid()}"
    shutil.rmtree(state_dir, ignore_errors=True)
    began = time.monotonic()
    try:
        done = local_stack(state_dir, "start")
        assert done.returncode == 0, f"the stack did not start:\n{done.stdout}\n{done.stderr}"
        print(f"\nstack started in {time.monotonic() - began:.1f} s:\n{done.stdout}", file=sys.stderr)
        status = json.loads(local_stack(state_dir, "status", "--json", timeout=60).stdout)
        key = _create_key(state_dir, status["services"]["api-1"]["environment"]["INSIGHT_AUTH__KEYS_PATH"])
        yield Stack(state_dir, key, time.monotonic() - began)
    finally:
        stopped = local_stack(state_dir, "stop", timeout=300)
        print(f"\nstack stopped ({stopped.returncode}):\n{stopped.stdout}{stopped.stderr}", file=sys.stderr)
        if stopped.returncode == 0:
            shutil.rmtree(state_dir, ignore_errors=True)
