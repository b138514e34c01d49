"""Chroma both ways: embedded (PersistentClient in a temp dir) and a real `chroma run` server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from chromadb.api import ClientAPI

from insight.config import SearchSettings, VectorStoreSettings
from insight.rag.service import RagService
from insight.rag.store import ChromaStore, build_chroma_client
from insight.tokens import get_encoding
from tests.rag.fakes import HashEmbeddings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VectorStoreSettings]:
    """A real Chroma server on loopback for the whole session, stopped at the end."""
    executable = Path(sys.executable).parent / "chroma"
    command = str(executable) if executable.exists() else shutil.which("chroma")
    if command is None:
        pytest.fail("the `chroma` command (from the chromadb package) is not installed")
    port = _free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    log = (data / "server.log").open("wb")
    process = subprocess.Popen(
        [command, "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(data / "db")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    settings = VectorStoreSettings(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 30
    while True:
        try:
            build_chroma_client(settings).heartbeat()
            break
        except Exception:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"chroma server did not start: {(data / 'server.log').read_text()[-2000:]}")
            time.sleep(0.2)
    yield settings
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(params=["embedded", "server"])
def chroma_client(request: pytest.FixtureRequest, tmp_path: Path) -> ClientAPI:
    if request.param == "embedded":
        return build_chroma_client(VectorStoreSettings(path=tmp_path / "vectorstore"))
    server: VectorStoreSettings = request.getfixturevalue("chroma_server")
    return build_chroma_client(server)


@pytest.fixture
def embedder() -> HashEmbeddings:
    return HashEmbeddings()


@pytest.fixture
def search_settings() -> SearchSettings:
    return SearchSettings(chunk_tokens=48, chunk_overlap=8, candidates=50)


@pytest.fixture
def rag(chroma_client: ClientAPI, embedder: HashEmbeddings, search_settings: SearchSettings) -> RagService:
    store = ChromaStore(chroma_client, embedding_model=embedder.model_id)
    return RagService(store, embedder, get_encoding(), search_settings)


@pytest.fixture
def collection_name() -> str:
    """Unique per test, so tests sharing the session's Chroma server never see each other."""
    return f"t-{uuid.uuid4().hex[:12]}"
