"""Liveness and readiness."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

PartState = Literal["ok", "error", "not configured"]


class Health(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok", "version": "0.1.0"}]})
    status: Literal["ok"]
    version: str


class PartStatus(BaseModel):
    status: PartState
    detail: str | None = None


class Readiness(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ready": True,
                    "parts": {
                        "predictor": {"status": "ok", "detail": "insight-predictor v1"},
                        "vectorstore": {"status": "not configured", "detail": None},
                        "llm": {"status": "not configured", "detail": None},
                        "tracking": {"status": "ok", "detail": "sqlite:///var/mlflow/mlflow.db"},
                    },
                }
            ]
        }
    )
    ready: bool
    parts: dict[str, PartStatus]
