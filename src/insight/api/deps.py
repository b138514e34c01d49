"""Services built in the lifespan, handed to routes through ``Annotated`` dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from insight.config import Settings
from insight.llm.slot import LLMSlot
from insight.predictor.service import Predictor, PredictorSlot
from insight.prompts import PromptRegistry
from insight.rag.factory import RagSlot
from insight.rag.service import RagService


@dataclass
class Services:
    settings: Settings
    predictor: PredictorSlot
    rag: RagSlot
    llm: LLMSlot
    prompts: PromptRegistry


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


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
