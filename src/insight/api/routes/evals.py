"""Evaluation runs over HTTP: start one in the background, then poll its status and results."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import anyio.to_thread
from fastapi import APIRouter

from insight.api.deps import AUTH_RESPONSES, EvalCaller, ServicesDep
from insight.api.schemas.evals import (
    EvalRunCreated,
    EvalRunList,
    EvalRunRequest,
    EvalRunStatus,
    SuiteList,
    SuiteOut,
)
from insight.config import LLMSettings
from insight.errors import SuiteNotFound
from insight.evaluation.runner import Evaluator
from insight.evaluation.suites import find_suite, list_suites
from insight.llm.client import LLMClient

router = APIRouter(prefix="/api/v1", tags=["evals"])

_START_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    404: {"description": "no such suite, or a prompt version it names does not exist"},
    429: {
        "description": "this API key's rate limit is spent, too many runs are queued or running (overall or for "
        "this key: code eval_queue_full); Retry-After says when to try again"
    },
    500: {"description": "the suite file is invalid"},
}


def _evaluator(services: ServicesDep) -> Evaluator:
    """Evaluation with the app's own services: its chat model (a suite naming another model gets its own), its
    search service, and the served predictor (predictor suites score the model ``/predict`` serves)."""

    def llm(settings: LLMSettings) -> LLMClient:
        if settings == services.settings.llm:
            return services.llm.require()
        from insight.llm import build_llm_client

        return build_llm_client(settings)

    return Evaluator(
        services.settings,
        services.prompts,
        llm_factory=llm,
        rag_factory=services.rag.require,
        predictor=services.predictor.require,
    )


@router.post(
    "/evals",
    status_code=202,
    response_model=EvalRunCreated,
    responses=_START_ERRORS,
    summary="Start an evaluation run",
)
async def start_eval(body: EvalRunRequest, services: ServicesDep, caller: EvalCaller) -> EvalRunCreated:
    """Queues the suite's run (every prompt version it names, or ``prompt_versions``); poll
    ``GET /api/v1/evals/{id}``. A few runs execute at once, a bounded number wait (429 beyond, overall and
    per API key). Datasets come from the suite file or the server's settings, never from a path in the request."""
    if "/" in body.suite or body.suite.endswith((".yaml", ".yml")):
        raise SuiteNotFound(f"no suite {body.suite!r}: give a suite name, not a path")
    services.evals.admit(caller.key_id)  # a full queue refuses before any file is read
    loaded = await anyio.to_thread.run_sync(find_suite, body.suite, services.settings.evaluation.suites_dir)
    evaluator = _evaluator(services)
    # an unknown version: 404 now, not a failed run later
    await anyio.to_thread.run_sync(evaluator.versions, loaded.suite, body.prompt_versions)
    job = services.evals.start(
        evaluator, loaded, versions=body.prompt_versions, limit=body.limit, track=body.track, owner=caller.key_id
    )
    return EvalRunCreated(id=job.id, suite=job.suite, status=job.status)


@router.get(
    "/evals",
    response_model=EvalRunList,
    responses=AUTH_RESPONSES,
    summary="Recent evaluation runs, newest first",
)
async def list_evals(services: ServicesDep, _caller: EvalCaller) -> EvalRunList:
    return EvalRunList(runs=[EvalRunStatus.model_validate(asdict(job)) for job in services.evals.recent()])


@router.get(
    "/evals/suites",
    response_model=SuiteList,
    responses={**AUTH_RESPONSES, 500: {"description": "a suite file is invalid"}},
    summary="The suites this server can run",
)
async def list_eval_suites(services: ServicesDep, _caller: EvalCaller) -> SuiteList:
    loaded = await anyio.to_thread.run_sync(list_suites, services.settings.evaluation.suites_dir)
    return SuiteList(
        suites=[
            SuiteOut(
                name=item.suite.name,
                kind=item.suite.kind,
                description=item.suite.description,
                prompt=item.suite.prompt.name if item.suite.prompt else None,
                versions=(item.suite.prompt.versions or None) if item.suite.prompt else None,
                metrics=item.suite.metrics,
                targets=[f"{t.metric} {t.describe()}" for t in item.suite.targets],
            )
            for item in loaded
        ]
    )


@router.get(
    "/evals/{run_id}",
    response_model=EvalRunStatus,
    responses={**AUTH_RESPONSES, 404: {"description": "no such run (only recent runs are kept)"}},
    summary="An evaluation run's status and results",
)
async def get_eval(run_id: str, services: ServicesDep, _caller: EvalCaller) -> EvalRunStatus:
    return EvalRunStatus.model_validate(asdict(services.evals.get(run_id)))
