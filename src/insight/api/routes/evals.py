"""Evaluation runs over HTTP: start one in the background, then poll its status and results."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from insight.api.deps import AUTH_RESPONSES, EvalCaller, ServicesDep
from insight.api.schemas.evals import EvalRunCreated, EvalRunRequest, EvalRunStatus
from insight.config import LLMSettings
from insight.errors import SuiteNotFound
from insight.evaluation.runner import Evaluator
from insight.evaluation.suites import find_suite
from insight.llm.client import LLMClient

router = APIRouter(prefix="/api/v1", tags=["evals"])

_START_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    404: {"description": "no such suite, or a prompt version it names does not exist"},
    500: {"description": "the suite file is invalid"},
}


def _evaluator(services: ServicesDep) -> Evaluator:
    """Evaluation with the app's own model and search service (a suite naming another model gets its own)."""

    def llm(settings: LLMSettings) -> LLMClient:
        if settings == services.settings.llm:
            return services.llm.require()
        from insight.llm import build_llm_client

        return build_llm_client(settings)

    return Evaluator(services.settings, services.prompts, llm_factory=llm, rag_factory=services.rag.require)


@router.post(
    "/evals",
    status_code=202,
    response_model=EvalRunCreated,
    responses=_START_ERRORS,
    summary="Start an evaluation run",
)
async def start_eval(body: EvalRunRequest, services: ServicesDep, _caller: EvalCaller) -> EvalRunCreated:
    """Runs the suite in the background (every prompt version it names, or ``prompt_versions``);
    poll ``GET /api/v1/evals/{id}``. Datasets come from the suite file or the server's settings, never
    from a path in the request."""
    if "/" in body.suite or body.suite.endswith((".yaml", ".yml")):
        raise SuiteNotFound(f"no suite {body.suite!r}: give a suite name, not a path")
    loaded = find_suite(body.suite, services.settings.evaluation.suites_dir)
    evaluator = _evaluator(services)
    evaluator.versions(loaded.suite, body.prompt_versions)  # an unknown version: 404 now, not a failed run later
    job = services.evals.start(evaluator, loaded, versions=body.prompt_versions, limit=body.limit, track=body.track)
    return EvalRunCreated(id=job.id, suite=job.suite, status=job.status)


@router.get(
    "/evals/{run_id}",
    response_model=EvalRunStatus,
    responses={**AUTH_RESPONSES, 404: {"description": "no such run (only recent runs are kept)"}},
    summary="An evaluation run's status and results",
)
async def get_eval(run_id: str, services: ServicesDep, _caller: EvalCaller) -> EvalRunStatus:
    return EvalRunStatus.model_validate(asdict(services.evals.get(run_id)))
