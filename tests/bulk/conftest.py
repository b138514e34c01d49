"""One small local Ray for the whole session (it takes seconds to start on two cores), shut down at the end."""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import ModuleType

import pytest

from insight.config import VectorStoreSettings
from tests.faults.chroma import ChromaServer

RAY_CPUS = 2


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[ModuleType]:
    """Ray started once with no dashboard; the engine joins it (``ray_runtime`` reuses an initialised Ray)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    ray.init(num_cpus=RAY_CPUS, include_dashboard=False, object_store_memory=128 * 1024 * 1024, log_to_driver=False)
    context = ray.data.DataContext.get_current()
    context.execution_no_progress_timeout_s = 120.0  # a stuck job fails the test instead of hanging CI
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def chroma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VectorStoreSettings]:
    """A Chroma server for one test module (Ray's workers cannot share the embedded store's file)."""
    try:
        server = ChromaServer(tmp_path_factory.mktemp("chroma-ray")).start()
    except RuntimeError as exc:
        pytest.skip(f"server Chroma: {exc}")
    yield server.settings
    server.kill()
