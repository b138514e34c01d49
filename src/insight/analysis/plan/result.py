"""The answer to a table question, as the API and CLI return it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from insight.analysis.plan import language as lang

Planner = Literal["rules", "model", "rules+model", "user"]
"""``user``: a plan posted with the request (edited in the workbench or written by hand), run as given."""


class NamedValue(BaseModel):
    name: str
    value: float | int | bool | str | None = Field(description="the computed value, unrounded")
    text: str = Field(description="the value as reported (rounded as the plan asks)")


class TableAnswer(BaseModel):
    """A question about the table, answered by executing a typed plan."""

    question: str
    supported: bool
    reason: str | None = None
    refused: bool = Field(default=False, description="no plan: the planner found the question outside the language")
    values: list[NamedValue] = Field(default_factory=list)
    sentence: str | None = Field(default=None, description="one sentence; every figure written by the service")
    plan: lang.TablePlan | None = None
    steps: list[str] = Field(default_factory=list, description="the plan as readable steps")
    execution_ms: float | None = None
    planner: Planner | None = None
    model: str | None = None
