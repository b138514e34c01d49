"""A real `chroma run` server that a test can kill (SIGKILL) and start again on the same port and data."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from insight.config import VectorStoreSettings
from insight.rag.store import build_chroma_client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ChromaServer:
    def __init__(self, data: Path) -> None:
        executable = Path(sys.executable).parent / "chroma"
        command = str(executable) if executable.exists() else shutil.which("chroma")
        if command is None:
            raise RuntimeError("the `chroma` command (from the chromadb package) is not installed")
        self.command = command
        self.data = data
        self.port = free_port()
        self.settings = VectorStoreSettings(host="127.0.0.1", port=self.port)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> ChromaServer:
        log = (self.data / "server.log").open("ab")
        self.process = subprocess.Popen(
            [self.command, "run", "--host", "127.0.0.1", "--port", str(self.port), "--path", str(self.data / "db")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                build_chroma_client(self.settings).heartbeat()
                return self
            except Exception:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.kill()
                    tail = (self.data / "server.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"chroma server did not start: {tail}") from None
                time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown, as when the machine or container dies."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None
