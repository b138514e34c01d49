"""Fixtures shared by the contract suites: a Chroma server for the session (skipped when ``chroma`` is absent)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from insight.config import VectorStoreSettings
from tests.faults.chroma import ChromaServer

SERVER_START_TIMEOUT_S = 30.0


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VectorStoreSettings]:
    """``chroma run`` on a free loopback port with its data in a temp dir; stopped at the end of the session."""
    try:
        server = ChromaServer(tmp_path_factory.mktemp("chroma-contract-server"))
    except RuntimeError as exc:
        pytest.skip(f"server Chroma: {exc}")
    yield server.start(timeout_s=SERVER_START_TIMEOUT_S).settings
    server.kill()
