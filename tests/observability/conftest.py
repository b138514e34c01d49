from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from insight.api.app import create_app
from tests.api.conftest import build_with_fakes
from tests.conftest import make_settings


@pytest.fixture
def api(trained_model_dir: Path, tmp_path: Path) -> Iterator[TestClient]:
    """The real app (auth off, hash embedder) for observing requests end to end."""
    settings = make_settings(tmp_path, model_dir=trained_model_dir)
    with TestClient(create_app(settings, build=build_with_fakes)) as client:
        yield client
