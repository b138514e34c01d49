"""``insight eval run SUITE --engine ray``: a suite's cases fanned out to Ray actors.

Each actor builds its own ``Evaluator`` from the job's settings (the same builders the API and the local run
use: chat client, RAG service, analyzer) and the same on-disk output cache, so a case gets the same cache key
and the same scores wherever it runs. The driver keeps everything else — the dataset, the corpus check, the
summaries, the bootstrap, MLflow — and puts the records back in the order the local run gives them. Suites
that search a collection need a Chroma server: the embedded store is one process's file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from insight.config import Settings
from insight.errors import ConfigError
from insight.evaluation.cache import OutputCache
from insight.evaluation.runner import CaseJob, CaseRecord, Evaluator
from insight.prompts import PromptRegistry

from .engine import ray_runtime

EMBEDDED_STORE_REFUSED = (
    "this suite searches a collection, and on Ray its cases run in worker processes: point "
    "INSIGHT_VECTORSTORE__HOST (and __PORT) at a Chroma server, or run it with --engine local"
)

Item = tuple[int, dict[str, Any], int]
"""(position in the job's records, case, repeat)."""


class CaseWorker:
    """One actor: an Evaluator of its own, scoring the items it is sent with the scorer of their job."""

    def __init__(self, settings: Settings, cache_root: str | None) -> None:
        prompts = PromptRegistry(settings.prompts_dir)
        self.evaluator = Evaluator(settings, prompts, cache=OutputCache(Path(cache_root) if cache_root else None))
        self._scorers: dict[tuple[str, str | None, int | None], Any] = {}

    def score(self, job: CaseJob, items: list[Item]) -> list[tuple[int, CaseRecord]]:
        key = (job.suite.name, job.prompt.name if job.prompt else None, job.prompt.version if job.prompt else None)
        if key not in self._scorers:
            self._scorers[key] = self.evaluator.scorer_for(job)
        score = self._scorers[key]

        async def run() -> list[tuple[int, CaseRecord]]:
            return [(index, await score(case, repeat)) for index, case, repeat in items]

        return anyio.run(run)


@dataclass
class RayCaseExecutor:
    """The ``CaseExecutor`` of ``--engine ray``: ``settings.ray.actors`` workers, one item in flight each."""

    settings: Settings
    cache_root: Path | None

    async def __call__(self, job: CaseJob, step: Callable[[], None]) -> list[CaseRecord]:
        if job.suite.kind in ("retrieval", "ask") and self.settings.vectorstore.host is None:
            raise ConfigError(EMBEDDED_STORE_REFUSED)
        return await anyio.to_thread.run_sync(self._run, job, step)

    def _run(self, job: CaseJob, step: Callable[[], None]) -> list[CaseRecord]:
        items: list[Item] = [
            (i * job.repeats + r, case, r) for i, case in enumerate(job.cases) for r in range(job.repeats)
        ]
        records: list[CaseRecord | None] = [None] * len(items)
        with ray_runtime(self.settings.ray) as ray:
            from ray.util import ActorPool

            worker = ray.remote(num_cpus=self.settings.ray.cpus_per_actor)(CaseWorker)
            root = str(self.cache_root) if self.cache_root is not None else None
            actors = [worker.remote(self.settings, root) for _ in range(min(self.settings.ray.actors, len(items)) or 1)]
            pool = ActorPool(actors)
            for scored in pool.map_unordered(lambda actor, item: actor.score.remote(job, [item]), items):
                for index, record in scored:
                    records[index] = record
                    step()
        return [record for record in records if record is not None]
