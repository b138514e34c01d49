"""Evaluation runs started over the API, through a bounded queue.

At most ``max_running`` runs execute at once (tasks on the app's event loop whose model calls, search
and scoring run in worker threads); up to ``max_queued`` more wait their turn, first in first out; one
API key may have at most ``max_active_per_key`` runs queued or running. Beyond those limits ``start``
raises ``EvalQueueFull`` (HTTP 429 with ``Retry-After``) instead of piling up work that would starve
every other route. Status and results stay in memory: every unfinished run, plus the most recent
``max_jobs`` finished ones.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
import uuid
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import anyio.to_thread

from insight.config import EvaluationSettings, Settings
from insight.errors import EvalQueueFull, EvalRunNotFound, InsightError
from insight.evaluation.runner import Progress, RunResult
from insight.evaluation.suites import LoadedSuite
from insight.evaluation.tracking import log_results, result_summary
from insight.prompts import PromptRegistry

log = logging.getLogger(__name__)

Status = Literal["queued", "running", "passed", "failed", "error"]
UNFINISHED: frozenset[Status] = frozenset({"queued", "running"})
DEFAULT_RETRY_AFTER_S = 10.0  # before any run has finished, there is no duration to go by
_DURATIONS_KEPT = 20
SHUTDOWN_MESSAGE = "cancelled: the server shut down"


class SuiteRunner(Protocol):
    """What a job needs of ``Evaluator``: run a suite, and the settings and prompts to log it with."""

    settings: Settings
    prompts: PromptRegistry

    async def run(
        self,
        loaded: LoadedSuite,
        *,
        versions: list[int] | None = None,
        limit: int | None = None,
        progress: Progress | None = None,
    ) -> list[RunResult]: ...


@dataclass
class EvalJob:
    id: str
    suite: str
    owner: str = "anonymous"  # the API key that started it
    status: Status = "queued"
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_at: datetime | None = None
    finished_at: datetime | None = None
    done: int = 0
    total: int | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


@dataclass
class _Queued:
    job: EvalJob
    work: Callable[[], Coroutine[Any, Any, None]]


class EvalJobs:
    """The API's evaluation runs: a FIFO queue worked by at most ``max_running`` tasks at once."""

    def __init__(self, settings: EvaluationSettings | None = None) -> None:
        settings = settings if settings is not None else EvaluationSettings()
        self.max_jobs = settings.max_jobs
        self.max_running = settings.max_running
        self.max_queued = settings.max_queued
        self.max_active_per_key = settings.max_active_per_key
        self._jobs: OrderedDict[str, EvalJob] = OrderedDict()
        self._queue: deque[_Queued] = deque()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._active_by_owner: Counter[str] = Counter()
        self._durations: deque[float] = deque(maxlen=_DURATIONS_KEPT)
        self._closed = False

    # -- counts -----------------------------------------------------------------------------------
    @property
    def running(self) -> int:
        return len(self._tasks)

    @property
    def queued(self) -> int:
        return len(self._queue)

    def active(self, owner: str) -> int:
        """Runs ``owner`` has queued or running."""
        return self._active_by_owner[owner]

    # -- starting ---------------------------------------------------------------------------------
    def start(
        self,
        evaluator: SuiteRunner,
        loaded: LoadedSuite,
        *,
        versions: list[int] | None = None,
        limit: int | None = None,
        track: bool = True,
        owner: str = "anonymous",
    ) -> EvalJob:
        """Queue a run (call on the event loop); returns at once with the job's id, or raises ``EvalQueueFull``."""
        self.admit(owner)
        job = EvalJob(id=uuid.uuid4().hex, suite=loaded.suite.name, owner=owner)
        self._jobs[job.id] = job
        self._active_by_owner[owner] += 1
        self._queue.append(_Queued(job, lambda: self._run(job, evaluator, loaded, versions, limit, track)))
        self._dispatch()
        self._forget_old()
        return job

    def admit(self, owner: str) -> None:
        """Raise ``EvalQueueFull`` when ``owner`` may not queue a run now (a cheap check before loading a suite)."""
        if self._closed:
            raise EvalQueueFull("the server is shutting down; no new evaluation runs", self.retry_after_s())
        if self._active_by_owner[owner] >= self.max_active_per_key:
            raise EvalQueueFull(
                f"this API key already has {self._active_by_owner[owner]} evaluation runs queued or running "
                f"(the limit is {self.max_active_per_key}); wait for one to finish",
                self.retry_after_s(),
            )
        if self.running >= self.max_running and self.queued >= self.max_queued:
            raise EvalQueueFull(
                f"{self.running} evaluation runs are running and {self.queued} waiting (the limit is "
                f"{self.max_queued} waiting); try again later",
                self.retry_after_s(),
            )

    def retry_after_s(self) -> float:
        """When a slot is likely to free up: the mean duration of recent runs (a guess before any finished)."""
        if not self._durations:
            return DEFAULT_RETRY_AFTER_S
        return float(min(3600.0, max(1.0, math.ceil(sum(self._durations) / len(self._durations)))))

    def _dispatch(self) -> None:
        """Start queued runs while there is a free slot."""
        loop = asyncio.get_running_loop()
        while self._queue and self.running < self.max_running and not self._closed:
            item = self._queue.popleft()
            job = item.job
            task = loop.create_task(item.work(), name=f"eval-{job.id}")
            self._tasks[job.id] = task
            task.add_done_callback(functools.partial(self._finished, job))

    def _finished(self, job: EvalJob, _task: asyncio.Task[None]) -> None:
        self._tasks.pop(job.id, None)
        if job.status in UNFINISHED:  # cancelled before its first step
            job.status, job.error, job.finished_at = "error", SHUTDOWN_MESSAGE, datetime.now(UTC)
        self._release(job)
        if job.started_at is not None and job.finished_at is not None:
            self._durations.append((job.finished_at - job.started_at).total_seconds())
        if not self._closed:
            self._dispatch()
            self._forget_old()

    def _release(self, job: EvalJob) -> None:
        self._active_by_owner[job.owner] -= 1
        if self._active_by_owner[job.owner] <= 0:
            del self._active_by_owner[job.owner]

    def _forget_old(self) -> None:
        """Keep every unfinished run and the newest ``max_jobs`` finished ones."""
        finished = [job_id for job_id, job in self._jobs.items() if job.status not in UNFINISHED]
        for job_id in finished[: max(0, len(finished) - self.max_jobs)]:
            del self._jobs[job_id]

    # -- reading ----------------------------------------------------------------------------------
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
        """The run once it has finished (or now, if it has)."""
        job = self.get(job_id)
        while job.status in UNFINISHED:
            task = self._tasks.get(job_id)
            if task is not None:
                await asyncio.wait({task})
            else:
                await asyncio.sleep(0.01)  # still queued
        return job

    # -- stopping ---------------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Queued runs are dropped and running ones cancelled, each marked as an error; none is orphaned."""
        self._closed = True
        while self._queue:
            job = self._queue.popleft().job
            job.status, job.error, job.finished_at = "error", SHUTDOWN_MESSAGE, datetime.now(UTC)
            self._release(job)
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    # -- one run ----------------------------------------------------------------------------------
    async def _run(
        self,
        job: EvalJob,
        evaluator: SuiteRunner,
        loaded: LoadedSuite,
        versions: list[int] | None,
        limit: int | None,
        track: bool,
    ) -> None:
        job.status, job.started_at = "running", datetime.now(UTC)
        started = time.perf_counter()

        def progress(done: int, total: int) -> None:
            job.done, job.total = done, total

        try:
            results = await evaluator.run(loaded, versions=versions, limit=limit, progress=progress)
            if track:
                await anyio.to_thread.run_sync(
                    lambda: log_results(results, evaluator.settings, evaluator.prompts, alias=loaded.suite.alias)
                )
            job.results = [result_summary(result) for result in results]
            job.status = "passed" if all(result.passed for result in results) else "failed"
        except InsightError as exc:
            job.status, job.error = "error", f"{exc.code}: {exc.message}"
        except asyncio.CancelledError:
            job.status, job.error = "error", SHUTDOWN_MESSAGE
            raise
        except Exception as exc:
            log.exception("evaluation run %s of %s failed", job.id, job.suite)
            job.status, job.error = "error", f"internal error: {type(exc).__name__}"
        finally:
            job.finished_at = datetime.now(UTC)
            seconds = time.perf_counter() - started
            log.info("evaluation run %s of %s: %s in %.1f s", job.id, job.suite, job.status, seconds)
