"""Request and response bodies of ``/api/v1/evals``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_RESULT_EXAMPLE: dict[str, Any] = {
    "suite": "retrieval-sample",
    "kind": "retrieval",
    "label": "retrieval-sample",
    "prompt": None,
    "model": None,
    "dataset": "sample_retrieval",
    "dataset_sha256": "5b0c…",
    "suite_sha256": "f494…",
    "passed": True,
    "metrics": [
        {
            "metric": "ndcg@10",
            "value": 0.84,
            "ci_low": 0.77,
            "ci_high": 0.9,
            "measured": 33,
            "unmeasured": 0,
            "unmeasured_reasons": {},
        }
    ],
    "targets": [
        {
            "metric": "ndcg@10",
            "op": ">=",
            "value": 0.75,
            "gate_on": "point",
            "compared": 0.84,
            "passed": True,
            "why": "",
        }
    ],
    "cases": 33,
    "cache_hits": 0,
    "cache_misses": 0,
    "seconds": 2.1,
    "mlflow_run_id": "8f3e…",
    "promoted": None,
}


class EvalRunRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"suite": "retrieval-sample"},
                {"suite": "analysis-sklearn", "prompt_versions": [2], "limit": 3, "track": True},
            ]
        },
    )
    suite: str = Field(min_length=1, max_length=100, description="a suite name in the server's suites folder")
    prompt_versions: list[int] | None = Field(default=None, max_length=20, description="default: the suite's")
    limit: int | None = Field(default=None, ge=1, le=100_000, description="only the first N cases")
    track: bool = Field(default=True, description="log the runs to MLflow (and move the suite's alias on a pass)")


class EvalRunCreated(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"id": "3f2c9a0e5b7d4c1e9a8b6d5c4e3f2a1b", "suite": "retrieval-sample", "status": "queued"}]
        }
    )
    id: str
    suite: str
    status: str


class MetricOut(BaseModel):
    metric: str
    value: float | None = Field(description="None when no case could be measured")
    ci_low: float | None
    ci_high: float | None
    measured: int
    unmeasured: int = Field(description="cases that could not be scored (timeout, rate limit, judge failure)")
    unmeasured_reasons: dict[str, int]


class TargetOut(BaseModel):
    metric: str
    op: Literal[">=", "<="]
    value: float
    gate_on: Literal["point", "lower_bound"]
    compared: float | None = Field(description="the value the target was compared with")
    passed: bool
    why: str


class EvalResultOut(BaseModel):
    suite: str
    kind: str
    label: str
    prompt: dict[str, str | int] | None
    model: str | None
    dataset: str
    dataset_sha256: str
    suite_sha256: str
    passed: bool
    metrics: list[MetricOut]
    targets: list[TargetOut]
    cases: int
    cache_hits: int
    cache_misses: int
    seconds: float
    mlflow_run_id: str | None
    promoted: str | None


class EvalRunStatus(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "3f2c9a0e5b7d4c1e9a8b6d5c4e3f2a1b",
                    "suite": "retrieval-sample",
                    "status": "passed",
                    "created_at": "2026-11-27T03:40:00Z",
                    "finished_at": "2026-11-27T03:40:03Z",
                    "done": 33,
                    "total": 33,
                    "error": None,
                    "results": [_RESULT_EXAMPLE],
                }
            ]
        }
    )
    id: str
    suite: str
    status: Literal["queued", "running", "passed", "failed", "error"] = Field(
        description="passed/failed: finished, every target met or not; error: the run could not complete"
    )
    created_at: datetime
    finished_at: datetime | None
    done: int
    total: int | None
    error: str | None
    results: list[EvalResultOut] = Field(description="one per prompt version, when finished")


class EvalRunList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"runs": [EvalRunStatus.model_json_schema()["examples"][0]]}]}
    )
    runs: list[EvalRunStatus] = Field(description="the runs this replica keeps, newest first")


class SuiteOut(BaseModel):
    name: str
    kind: str
    description: str
    prompt: str | None = Field(description="the prompt name the suite evaluates")
    versions: list[int] | None = Field(description="the prompt versions it runs by default (none: the latest)")
    metrics: list[str]
    targets: list[str] = Field(description="each target as 'metric op value'")


class SuiteList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "suites": [
                        {
                            "name": "retrieval-sample",
                            "kind": "retrieval",
                            "description": "hybrid search on the sample corpus",
                            "prompt": None,
                            "versions": None,
                            "metrics": ["ndcg@10", "recall@10", "mrr"],
                            "targets": ["ndcg@10 >= 0.75"],
                        }
                    ]
                }
            ]
        }
    )
    suites: list[SuiteOut]
