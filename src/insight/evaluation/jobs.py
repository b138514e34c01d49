"""Evaluation runs started over the API: each runs as a task on the app's event loop (model calls and
search in worker threads), its status and results kept in memory (the most recent ``max_jobs``)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import anyio.to_thread

from insight.errors import EvalRunNotFound, InsightError
from insight.evaluation.runner import Evaluator, RunResult
from insight.evaluation.suites import LoadedSuite
from insight.evaluation.tracking import log_results, result_summary

log = logging.getLogger(__name__)

Status = Literal["queued", "running", "passed", "failed", "error"]


@dataclass
class EvalJob:
    id: str
    suite: str
    status: Status = "queued"
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    done: int = 0
    total: int | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


class EvalJobs:
    def __init__(self, max_jobs: int = 8) -> None:
        self.max_jobs = max_jobs
        self._jobs: OrderedDict[str, EvalJob] = OrderedDict()
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(
        self,
        evaluator: Evaluator,
        loaded: LoadedSuite,
        *,
        versions: list[int] | None = None,
        limit: int | None = None,
        track: bool = True,
    ) -> EvalJob:
        """Queue a run on the running event loop; returns at once with the job's id."""
        job = EvalJob(id=uuid.uuid4().hex, suite=loaded.suite.name)
        self._jobs[job.id] = job
        while len(self._jobs) > self.max_jobs:
            oldest = next(iter(self._jobs))
            if oldest in self._tasks:
                break  # never forget a run still going
            self._jobs.pop(oldest)
        task = asyncio.get_running_loop().create_task(self._run(job, evaluator, loaded, versions, limit, track))
        self._tasks[job.id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(job.id, None))
        return job

    def get(self, job_id: str) -> EvalJob:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise EvalRunNotFound(
                f"no evaluation run {job_id!r} (finished runs are kept: the last {self.max_jobs})"
            ) from None

    def recent(self) -> list[EvalJob]:
        """The runs kept, newest first."""
        return list(reversed(self._jobs.values()))

    async def wait(self, job_id: str) -> EvalJob:
        task = self._tasks.get(job_id)
        if task is not None:
            await asyncio.wait({task})
        return self.get(job_id)

    async def aclose(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    async def _run(
        self,
        job: EvalJob,
        evaluator: Evaluator,
        loaded: LoadedSuite,
        versions: list[int] | None,
        limit: int | None,
        track: bool,
    ) -> None:
        job.status = "running"

        def progress(done: int, total: int) -> None:
            job.done, job.total = done, total

        try:
            results: list[RunResult] = await evaluator.run(loaded, versions=versions, limit=limit, progress=progress)
            if track:
                await anyio.to_thread.run_sync(
                    lambda: log_results(results, evaluator.settings, evaluator.prompts, alias=loaded.suite.alias)
                )
            job.results = [result_summary(result) for result in results]
            job.status = "passed" if all(result.passed for result in results) else "failed"
        except InsightError as exc:
            job.status, job.error = "error", f"{exc.code}: {exc.message}"
        except Exception as exc:
            log.exception("evaluation run %s of %s failed", job.id, job.suite)
            job.status, job.error = "error", f"internal error: {type(exc).__name__}"
        finally:
            job.finished_at = datetime.now(UTC)
