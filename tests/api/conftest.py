from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from insight.api.app import create_app
from tests.conftest import make_settings


@pytest.fixture
def client(trained_model_dir: Path, tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, model_dir=trained_model_dir)
    with TestClient(create_app(settings)) as test_client:
        yield test_client
