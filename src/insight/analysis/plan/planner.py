"""Planners: the model fills a ``TablePlan`` through schema-constrained output (grammar on the local model,
tool calling or structured output remotely), with one repair round carrying the validation errors; the
rule planner builds plan skeletons by construction from the question's ``@name[...]`` answer format and
the columns it mentions, for the cases it recognises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
from langchain_core.messages import BaseMessage, HumanMessage
from pydantic import BaseModel, Field, create_model

from insight.analysis.plan import language as lang
from insight.analysis.plan.rules import RulePlanner, Skeleton, answer_names, question_rounding
from insight.analysis.plan.validation import Kind, check_plan
from insight.errors import PlanRejected
from insight.llm.protocols import ChatClient
from insight.prompts import Prompt

PROMPT = "table_plan"
MAX_SAMPLE_CHARS = 24
MAX_COLUMNS_SHOWN = 60


def describe_columns(frame: pd.DataFrame, kinds: dict[str, Kind], samples: int) -> str:
    """One line per column: its name, type and a few distinct example values (clipped), never whole rows."""
    lines = []
    for name in list(kinds)[:MAX_COLUMNS_SHOWN]:
        values = frame[name].dropna().drop_duplicates().head(samples).tolist() if samples else []
        shown = ", ".join(str(v)[:MAX_SAMPLE_CHARS] for v in values)
        lines.append(f"- {name}: {kinds[name]}" + (f" (e.g. {shown})" if shown else ""))
    return "\n".join(lines)


@dataclass
class Drafted:
    plan: lang.TablePlan
    repaired: bool


__all__ = ["RulePlanner", "Skeleton", "answer_names"]


class ModelPlanner:
    """The model writes the plan; the table check runs on it, and a failing plan goes back once."""

    def __init__(self, client: ChatClient, prompt: Prompt) -> None:
        self.client = client
        self.prompt = prompt
        self.params = prompt.model_params.model_dump(exclude_none=True)

    def messages(self, question: str, columns: str) -> list[BaseMessage]:
        return self.prompt.format_messages(question=question, columns=columns)

    async def plan(self, question: str, columns: str, kinds: dict[str, Kind]) -> Drafted:
        messages = self.messages(question, columns)
        draft = await self.client.astructured(messages, lang.TablePlan, self.params)
        try:
            return Drafted(check_plan(draft, kinds), repaired=False)
        except PlanRejected as exc:
            if not draft.supported:
                return Drafted(draft, repaired=False)
            note = HumanMessage(
                content=(
                    "Your plan cannot run on this table: "
                    + "; ".join(exc.problems)
                    + ". Write the corrected TablePlan, using only the listed columns."
                )
            )
            repaired = await self.client.astructured(
                [*messages, HumanMessage(content=draft.model_dump_json(exclude_none=True)), note],
                lang.TablePlan,
                self.params,
            )
            return Drafted(repaired, repaired=True)


# ---- compact choices for small models ----------------------------------------------------------------

ChoiceOp = Literal[
    "mean",
    "median",
    "std",
    "var",
    "min",
    "max",
    "sum",
    "count",
    "nunique",
    "skew",
    "kurtosis",
    "missing_count",
    "row_count",
    "correlation",
    "outlier_count_iqr",
    "outlier_count_zscore",
    "shapiro_p_value",
]
_AGGREGATES = {"mean", "median", "std", "var", "min", "max", "sum", "count", "nunique", "skew", "kurtosis"}


def choice_schema(columns: list[str]) -> type[BaseModel]:
    """A small schema whose column fields are enums of the table's columns: the grammar admits only them.

    The full ``TablePlan`` schema is ~7,500 tokens, more than the local model's context; this one fits,
    and a column outside the table cannot be written at all.
    """
    column_type: Any = Literal[tuple(columns[:MAX_COLUMNS_SHOWN])]
    measure = create_model(
        "Measure",
        name=(str, Field(max_length=60, description="the @name the question asks for")),
        op=(ChoiceOp, ...),
        column=(column_type, ...),
        other_column=(column_type | None, Field(default=None, description="second column of a correlation")),
    )
    return create_model(
        "PlanChoices",
        supported=(bool, True),
        reason=(str | None, Field(default=None, max_length=200)),
        measures=(list[measure], Field(default_factory=list, max_length=6)),
    )


def compile_choices(choices: BaseModel, question: str) -> lang.TablePlan:
    """The chosen measures as a plan; rounding comes from the question's text, not the model."""
    data = choices.model_dump()
    if not data["supported"]:
        return lang.TablePlan(supported=False, reason=data.get("reason") or "the model found no plan")
    digits = question_rounding(question)
    steps: list[dict[str, Any]] = []
    for index, item in enumerate(data["measures"]):
        raw_name = re.sub(r"[^A-Za-z0-9_]", "_", item["name"] or "") or f"value_{index}"
        name = raw_name if re.match(r"[A-Za-z_]", raw_name) else f"v_{raw_name}"
        steps.append(choice_step(name, item, digits))
    return lang.TablePlan.model_validate({"steps": steps})


def choice_step(name: str, item: dict[str, Any], digits: int | None) -> dict[str, Any]:
    """One chosen operation on its column(s) as a plan step named ``name``."""
    op, column = item["op"], item["column"]
    if op in _AGGREGATES or op == "missing_count":
        return {"op": "aggregate", "name": name, "column": column, "fn": op, "round": digits}
    if op == "row_count":
        return {"op": "row_count", "name": name}
    if op == "correlation":
        other = item.get("other_column") or column
        return {"op": "correlation", "name": name, "x": column, "y": other, "round": digits}
    if op.startswith("outlier_count"):
        method = "iqr" if op.endswith("iqr") else "zscore"
        return {"op": "outlier_count", "name": name, "column": column, "method": method}
    return {"op": "normality_test", "name": name, "column": column, "round": digits}


class ChoicePlanner:
    """The model picks, per requested value, one operation and its columns from enums; the service compiles."""

    def __init__(self, client: ChatClient, prompt: Prompt) -> None:
        self.client = client
        self.prompt = prompt
        self.params = prompt.model_params.model_dump(exclude_none=True)

    async def plan(self, question: str, columns: str, kinds: dict[str, Kind]) -> Drafted:
        schema = choice_schema(list(kinds))
        messages = self.prompt.format_messages(question=question, columns=columns)
        choices = await self.client.astructured(messages, schema, self.params)
        return Drafted(compile_choices(choices, question), repaired=False)


def named_choice_schema(names: list[str], columns: list[str]) -> type[BaseModel]:
    """One required property per requested name (so none can be skipped or misspelt), each an operation
    and column(s) from enums: the model fills only the holes of a rule skeleton."""
    column_type: Any = Literal[tuple(columns[:MAX_COLUMNS_SHOWN])]
    choice = create_model(
        "Choice",
        op=(ChoiceOp, ...),
        column=(column_type, ...),
        other_column=(column_type | None, Field(default=None, description="second column of a correlation")),
    )
    fields: dict[str, Any] = {f"value_{i}": (choice, Field(alias=name)) for i, name in enumerate(names)}
    return create_model("PlanChoices", **fields)


class SkeletonPlanner:
    """Rules first; the model chooses an operation and columns only for the names the rules left open,
    among the columns the question mentions (all columns when it mentions none)."""

    def __init__(self, client: ChatClient, prompt: Prompt) -> None:
        self.client = client
        self.prompt = prompt
        self.params = prompt.model_params.model_dump(exclude_none=True)

    async def fill(self, skeleton: Skeleton, question: str, columns: str, kinds: dict[str, Kind]) -> lang.TablePlan:
        missing = skeleton.missing
        candidates = [c for c in skeleton.mentioned if kinds[c] in ("number", "bool")] or list(kinds)
        schema = named_choice_schema(missing, candidates)
        messages = self.prompt.format_messages(question=question, columns=columns)
        chosen = (await self.client.astructured(messages, schema, self.params)).model_dump(by_alias=True)
        filled = {name: choice_step(name, chosen[name], skeleton.digits) for name in missing}
        plan = skeleton.complete(filled)
        if plan is None:
            raise PlanRejected(["the chosen operations do not form a plan"])
        return plan
