"""The engine option of bulk jobs, and a Ray runtime for one job: a cluster joined, or a small local Ray."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal

from insight.config import RaySettings
from insight.errors import ConfigError

if TYPE_CHECKING:
    from types import ModuleType

log = logging.getLogger(__name__)

Engine = Literal["local", "ray"]
ENGINES: tuple[Engine, ...] = ("local", "ray")


def parse_engine(value: str) -> Engine:
    if value == "local":
        return "local"
    if value == "ray":
        return "ray"
    raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {value!r}")


@contextmanager
def ray_runtime(settings: RaySettings, *, progress_bars: bool = False, data: bool = True) -> Iterator[ModuleType]:
    """``ray`` initialised for one job; a local Ray started here is shut down on the way out.

    Joins ``settings.address`` when set; otherwise starts Ray on this machine with no dashboard, a small object
    store and no usage reporting (nothing may reach the network). A Ray already initialised in this process
    (a caller running several jobs) is used as it is and left running. ``data=False``: a job that does not use
    Ray Data (resident scorers) skips importing and configuring it.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - ray[data] is a pinned dependency
        raise ConfigError("the Ray engine needs `ray[data]` installed (see requirements.lock)") from exc
    started_here = False
    if not ray.is_initialized():
        try:
            if settings.address:
                ray.init(address=settings.address, log_to_driver=False, logging_level=logging.WARNING)
            else:
                ray.init(
                    address="local",  # a new Ray for this job, even where a cluster runs that it was not told to join
                    num_cpus=settings.num_cpus or os.cpu_count() or 1,
                    include_dashboard=False,
                    object_store_memory=settings.object_store_mb * 1024 * 1024,
                    log_to_driver=False,
                    logging_level=logging.WARNING,
                )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = settings.address or "a local Ray"
            hint = ""
            if settings.address and os.environ.get("RAY_AUTH_MODE") != "token":
                hint = (
                    " (a cluster started with `ray start` has token authentication on: set RAY_AUTH_MODE=token "
                    "here, with the cluster's token in ~/.ray/auth_token or RAY_AUTH_TOKEN)"
                )
            raise ConfigError(f"cannot start or join Ray ({where}): {exc}{hint}") from exc
        started_here = True
    if data:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = progress_bars
        context.print_on_execution_start = False
    try:
        yield ray
    finally:
        if started_here:
            ray.shutdown()
