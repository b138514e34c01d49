"""Services built in the lifespan, handed to routes through ``Annotated`` dependencies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, NamedTuple

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from insight.analysis.cache import ProfileCache
from insight.analysis.chain import Analyzer, build_analyzer
from insight.analysis.plan.answer import TableQuestions, build_table_questions
from insight.auth import Authenticator, Principal
from insight.config import Settings
from insight.evaluation.jobs import EvalJobs
from insight.llm.slot import LLMSlot
from insight.predictor.service import Predictor, PredictorSlot
from insight.prompts import PromptRegistry
from insight.rag.answer import Answerer, build_answerer
from insight.rag.factory import RagSlot
from insight.rag.service import RagService


@dataclass
class Services:
    settings: Settings
    predictor: PredictorSlot
    rag: RagSlot
    llm: LLMSlot
    prompts: PromptRegistry
    auth: Authenticator = field(init=False)
    profiles: ProfileCache = field(init=False)
    evals: EvalJobs = field(init=False)
    analyzer: Analyzer = field(init=False)
    answerer: Answerer = field(init=False)
    table_questions: TableQuestions = field(init=False)

    def __post_init__(self) -> None:
        self.auth = Authenticator(self.settings.auth)
        self.profiles = ProfileCache(self.settings.analysis.profile_cache_entries)
        self.analyzer = build_analyzer(self.settings.analysis, self.prompts, self.llm)
        self.table_questions = build_table_questions(self.settings, prompts=self.prompts, llm=self.llm)
        self.answerer = build_answerer(  # slots: resolved on use
            self.settings.search, self.rag, self.llm, self.prompts, answer=self.settings.answer
        )
        self.evals = EvalJobs(self.settings.evaluation)


def services_of(request: Request) -> Services:
    """The app's services (what ``ServicesDep`` gives), for code that takes them without the dependency solver."""
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    return services_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_settings_dep(services: ServicesDep) -> Settings:
    return services.settings


async def get_predictor(services: ServicesDep) -> Predictor:
    return services.predictor.require()


async def get_rag(services: ServicesDep) -> RagService:
    return services.rag.require()


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
PredictorDep = Annotated[Predictor, Depends(get_predictor)]
RagDep = Annotated[RagService, Depends(get_rag)]


# Both only document the two ways to send a key in the OpenAPI schema; ``Authenticator`` reads the headers.
_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the API key")


async def get_principal(
    request: Request,
    services: ServicesDep,
    _bearer_key: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _header_key: Annotated[str | None, Depends(_api_key_header)],
) -> Principal:
    """The caller's verified key (401 without one), counted against its rate limit (429)."""
    return await services.auth.authenticate(request)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def _collection_reader(name: str, principal: PrincipalDep) -> Principal:
    principal.require_collection("read", name)
    return principal


async def _collection_writer(name: str, principal: PrincipalDep) -> Principal:
    principal.require_collection("write", name)
    return principal


async def _analyze_caller(principal: PrincipalDep) -> Principal:
    principal.require("analyze")
    return principal


async def _predict_caller(principal: PrincipalDep) -> Principal:
    principal.require("predict")
    return principal


class Served(NamedTuple):
    predictor: Predictor
    services: Services


async def served_predictor(request: Request) -> Served:
    """``PredictCaller`` and ``PredictorDep`` in one dependency without sub-dependencies, for the predict routes
    (the hot path): the caller's key checked for the ``predict`` scope (401/403/429), then the loaded predictor
    (503 without one) and the services. Solving the chain (``PredictCaller`` → ``PrincipalDep`` →
    ``ServicesDep`` and the two key headers) costs about a fifth of the CPU time of a one-row request; this
    one dependency costs what a plain call in the route does (measured in-process on raw ASGI calls)."""
    services = services_of(request)
    await _predict_caller(await services.auth.authenticate(request))
    return Served(services.predictor.require(), services)


async def _eval_caller(principal: PrincipalDep) -> Principal:
    principal.require("eval")
    return principal


# Routes with the collection in the path ``{name}``; routes with it in the body call
# ``principal.require_collection`` once the body is parsed.
CollectionReader = Annotated[Principal, Depends(_collection_reader)]
CollectionWriter = Annotated[Principal, Depends(_collection_writer)]
AnalyzeCaller = Annotated[Principal, Depends(_analyze_caller)]
PredictCaller = Annotated[Principal, Depends(_predict_caller)]
ServedPredictor = Annotated[Served, Depends(served_predictor)]
EvalCaller = Annotated[Principal, Depends(_eval_caller)]

AUTH_RESPONSES: dict[int | str, dict[str, str]] = {
    401: {"description": "no API key, or an invalid or revoked one"},
    403: {"description": "the API key lacks the scope or the collection access this route needs"},
    429: {"description": "this API key's rate limit is spent; Retry-After says when to try again"},
}
