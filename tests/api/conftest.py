from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from insight.api.app import create_app
from insight.api.deps import Services
from insight.auth import KeyStore
from insight.config import Settings
from insight.llm.slot import LLMSlot
from insight.predictor.service import PredictorSlot
from insight.prompts import PromptRegistry
from insight.rag.factory import RagSlot
from insight.rag.service import RagService
from insight.rag.store import ChromaStore, build_chroma_client
from insight.tokens import get_encoding
from tests.conftest import auth_settings, make_settings
from tests.rag.fakes import HashEmbeddings


def build_with_fakes(settings: Settings, llm: LLMSlot | None = None) -> Services:
    """The real services, except a hash embedder in place of the ONNX model (fast start-up); ``llm``: a slot
    holding a fake model (services are built once, so the model is given here, not swapped in later)."""
    client = build_chroma_client(settings.vectorstore)
    rag = RagService(ChromaStore(client, HashEmbeddings.model_id), HashEmbeddings(), get_encoding(), settings.search)
    return Services(
        settings=settings,
        predictor=PredictorSlot.from_dir(settings.predictor.model_dir),
        rag=RagSlot(settings, service=rag),
        llm=llm or LLMSlot(settings.llm),
        prompts=PromptRegistry(settings.prompts_dir),
    )


@pytest.fixture
def client(trained_model_dir: Path, tmp_path: Path) -> Iterator[TestClient]:
    """The app with auth on, called with an admin key (tests/api/test_tenants.py covers scoped keys)."""
    settings = make_settings(tmp_path, model_dir=trained_model_dir, auth=auth_settings(tmp_path))
    admin_key = KeyStore(settings.auth.keys_path).create("tests: admin", ["admin"]).key
    app = create_app(settings, build=build_with_fakes)
    with TestClient(app, headers={"Authorization": f"Bearer {admin_key}"}) as test_client:
        yield test_client
