"""Fixtures shared by the contract suites: a Chroma server for the session (skipped when ``chroma`` is absent)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from insight.config import VectorStoreSettings
from insight.rag.store import build_chroma_client

SERVER_START_TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def chroma_command() -> str | None:
    """The ``chroma`` CLI that ships with chromadb: beside this interpreter (the venv), else on PATH."""
    beside = Path(sys.executable).parent / "chroma"
    return str(beside) if beside.exists() else shutil.which("chroma")


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VectorStoreSettings]:
    """``chroma run`` on a free loopback port with its data in a temp dir; stopped at the end of the session."""
    command = chroma_command()
    if command is None:
        pytest.skip("server Chroma: the `chroma` CLI (installed with the chromadb package) is not on this machine")
    port = _free_port()
    data = tmp_path_factory.mktemp("chroma-contract-server")
    log_path = data / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [command, "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(data / "db")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            settings = VectorStoreSettings(host="127.0.0.1", port=port)
            deadline = time.monotonic() + SERVER_START_TIMEOUT_S
            while True:
                try:
                    build_chroma_client(settings).heartbeat()
                    break
                except Exception:
                    if process.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(
                            f"chroma server did not answer within {SERVER_START_TIMEOUT_S:.0f} s: "
                            f"{log_path.read_text(errors='replace')[-2000:]}"
                        )
                    time.sleep(0.2)
            yield settings
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
