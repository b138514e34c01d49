"""Chroma both ways: embedded (PersistentClient in a temp dir) and a real `chroma run` server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from chromadb.api import ClientAPI

from insight.config import SearchSettings, VectorStoreSettings
from insight.rag.service import RagService
from insight.rag.store import ChromaStore, build_chroma_client
from insight.tokens import get_encoding
from tests.faults.chroma import ChromaServer
from tests.rag.fakes import HashEmbeddings


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VectorStoreSettings]:
    """A real Chroma server on loopback for the whole session, stopped at the end."""
    server = ChromaServer(tmp_path_factory.mktemp("chroma-server")).start()
    yield server.settings
    server.kill()


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
