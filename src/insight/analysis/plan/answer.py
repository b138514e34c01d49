"""The answer to a table question: computed named values, a one-sentence answer whose figures the service
wrote, the plan that produced them (re-runnable), its readable steps, and the execution time; or
``supported=false`` with the reason.

Planning order (``mode``): ``hybrid`` builds a rule skeleton from the question's ``@name[...]`` answers and
asks the model only to fill the names the rules did not understand (an operation and columns from enums),
or for the whole choice when the question names no answers; ``model`` asks the model only; ``rules`` never
calls a model.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import anyio.to_thread
import pandas as pd
from pydantic import BaseModel

from insight.analysis.plan import language as lang
from insight.analysis.plan.executor import Execution, execute
from insight.analysis.plan.planner import (
    PROMPT,
    ChoicePlanner,
    ModelPlanner,
    RulePlanner,
    SkeletonPlanner,
    describe_columns,
)
from insight.analysis.plan.result import NamedValue, Planner, TableAnswer
from insight.analysis.plan.validation import check_plan, table_kinds
from insight.config import Settings, TablePlanSettings
from insight.errors import InsightError, PlanExecutionError, PlanRejected
from insight.llm.slot import LLMSlot
from insight.prompts import PromptRegistry

PlannerMode = Literal["hybrid", "model", "rules"]
MAX_QUESTION_CHARS = 4000


def _field_text(step: BaseModel) -> str:
    parts = []
    fields = step.model_dump(exclude_none=True, exclude_defaults=True)
    if "round" in fields:  # the base class's field, written last
        fields["round"] = fields.pop("round")
    for key, value in fields.items():
        if key in ("op", "name"):
            continue
        parts.append(f"{key}={value!r}" if isinstance(value, str) else f"{key}={value}")
    return ", ".join(parts)


def describe_step(step: Any) -> str:
    """One readable line per step, e.g. ``mean_fare = aggregate(column='Fare', fn='mean', round=2)``."""
    if lang.is_measure(step):
        return f"{step.name} = {step.op}({_field_text(step)})"
    target = getattr(step, "name", None)
    prefix = f"{target} := " if target else ""
    return f"{prefix}{step.op}({_field_text(step)})"


def sentence_for(values: list[NamedValue]) -> str:
    shown = "; ".join(f"{v.name.replace('_', ' ')} is {v.text}" for v in values)
    return f"Computed from the table: {shown}."


class TableQuestions:
    """Built once (lifespan, CLI, benchmark): plans, checks and executes questions about one table."""

    def __init__(
        self,
        settings: TablePlanSettings,
        prompts: PromptRegistry,
        llm: LLMSlot | None,
        mode: PlannerMode = "hybrid",
        prompt_version: int | None = None,
    ) -> None:
        self.settings = settings
        self.prompt = prompts.get(PROMPT, prompt_version)
        self.llm = llm if llm is not None and llm.configured else None
        self.mode: PlannerMode = mode if self.llm is not None else "rules"
        self.rules = RulePlanner()

    @property
    def model_name(self) -> str | None:
        if self.llm is None or self.mode == "rules":
            return None
        return self.llm.client.model_name if self.llm.client is not None else self.llm.settings.model

    def _run(self, plan: lang.TablePlan, frame: pd.DataFrame) -> Execution:
        return execute(plan, frame, self.settings)

    async def _model_plan(self, question: str, frame: pd.DataFrame, kinds: dict[str, Any]) -> lang.TablePlan:
        assert self.llm is not None
        client = await anyio.to_thread.run_sync(self.llm.require)
        columns = describe_columns(frame, kinds, self.settings.sample_values)
        skeleton = self.rules.skeleton(question, kinds, frame) if self.prompt.version > 1 else None
        if skeleton is not None and self.mode == "hybrid":
            return await SkeletonPlanner(client, self.prompt).fill(skeleton, question, columns, kinds)
        # v1 asks for the whole TablePlan (remote models); v2+ for compact choices the local model's context fits
        planner = ModelPlanner if self.prompt.version == 1 else ChoicePlanner
        drafted = await planner(client, self.prompt).plan(question, columns, kinds)
        return drafted.plan

    async def answer(self, frame: pd.DataFrame, question: str, *, use_model: bool = True) -> TableAnswer:
        """The answer; ``use_model=False`` plans by rules only (``narrate=false``: no model call)."""
        question = question.strip()[:MAX_QUESTION_CHARS]
        kinds = table_kinds(frame)
        planner: Planner = "rules"
        mode: PlannerMode = self.mode if use_model else "rules"
        plan = self.rules.plan(question, kinds, frame) if mode in ("hybrid", "rules") else None
        base = {"question": question}
        try:
            if plan is None and mode in ("hybrid", "model"):
                planned = self.rules.skeleton(question, kinds, frame)
                planner = "rules+model" if mode == "hybrid" and planned else "model"
                plan = await self._model_plan(question, frame, kinds)
            if plan is None:
                return TableAnswer(
                    **base, supported=False, refused=True, reason=self._not_understood(question, kinds, frame)
                )
        except PlanRejected as exc:
            return self._failed(base, exc, plan, planner)
        except InsightError as exc:
            return TableAnswer(**base, supported=False, reason=f"{type(exc).__name__}: {exc.message}", planner=planner)
        return await self._execute(base, plan, planner, frame, kinds)

    async def run(self, frame: pd.DataFrame, plan: lang.TablePlan, question: str = "") -> TableAnswer:
        """A plan given by the caller (edited in the workbench, written by hand): checked and run as given."""
        base = {"question": question.strip()[:MAX_QUESTION_CHARS]}
        return await self._execute(base, plan, "user", frame, table_kinds(frame))

    async def _execute(
        self, base: dict[str, Any], plan: lang.TablePlan, planner: Planner, frame: pd.DataFrame, kinds: dict[str, Any]
    ) -> TableAnswer:
        try:
            checked = check_plan(plan, kinds)
            started = time.perf_counter()
            result = await anyio.to_thread.run_sync(self._run, checked, frame)
            total_ms = round((time.perf_counter() - started) * 1000.0, 2)
        except PlanRejected as exc:
            if planner == "rules" and plan.supported:
                return self._withdrawn(base, exc.message, plan)
            return self._failed(base, exc, plan, planner)
        except (PlanExecutionError, InsightError) as exc:
            if planner == "rules":
                return self._withdrawn(base, exc.message, plan)
            return TableAnswer(
                **base,
                supported=False,
                reason=f"{type(exc).__name__}: {exc.message}",
                plan=plan,
                planner=planner,
                model=self._model_for(planner),
            )
        texts = result.formatted()
        values = [NamedValue(name=k, value=v, text=texts[k]) for k, v in result.values.items()]
        return TableAnswer(
            **base,
            supported=True,
            values=values,
            sentence=sentence_for(values),
            plan=checked,
            steps=[describe_step(step) for step in checked.steps],
            execution_ms=min(result.execution_ms, total_ms),
            planner=planner,
            model=self._model_for(planner),
        )

    def _not_understood(self, question: str, kinds: dict[str, Any], frame: pd.DataFrame) -> str:
        """Why no plan: which requested names the rules did not understand (no model was asked)."""
        skeleton = self.rules.skeleton(question, kinds, frame)
        if skeleton is None:
            return "no planner understood the question: it names no @name[...] answers, and no language model was asked"
        if not skeleton.missing:
            return "the rules' plan for the question breaks the plan language's limits (e.g. more than 24 steps)"
        names = ", ".join(f"@{name}" for name in skeleton.missing)
        return f"no planner understood {names}: no plan operation was recognised for it, and no model was asked"

    @staticmethod
    def _withdrawn(base: dict[str, Any], problem: str, plan: lang.TablePlan) -> TableAnswer:
        """A rule plan that does not fit or run on this table is not an answer: refused, with why."""
        return TableAnswer(
            **base,
            supported=False,
            refused=True,
            reason=f"the rule planner's plan does not run on this table ({problem}); no answer rather than a guess",
            plan=plan,
            planner="rules",
        )

    def _model_for(self, planner: Planner) -> str | None:
        """The model that planned, when one did."""
        return self.model_name if planner in ("model", "rules+model") else None

    def _failed(
        self, base: dict[str, Any], exc: PlanRejected, plan: lang.TablePlan | None, planner: Planner
    ) -> TableAnswer:
        refused = plan is not None and not plan.supported
        return TableAnswer(
            **base,
            supported=False,
            refused=refused,
            reason=exc.message if refused else f"the plan does not fit the table: {exc.message}",
            plan=plan,
            planner=planner,
            model=self._model_for(planner),
        )


def build_table_questions(
    settings: Settings,
    *,
    prompts: PromptRegistry | None = None,
    llm: LLMSlot | None = None,
    use_model: bool = True,
    mode: PlannerMode | None = None,
) -> TableQuestions:
    """The service from settings (``mode`` defaults to ``table_plan.planner``); ``prompts`` and ``llm`` share
    the caller's registry and model slot."""
    registry = prompts if prompts is not None else PromptRegistry(settings.prompts_dir)
    chosen: PlannerMode = mode if mode is not None else settings.table_plan.planner
    use_model = use_model and chosen != "rules"
    slot = llm if llm is not None else (LLMSlot(settings.llm, prompts=registry) if use_model else None)
    return TableQuestions(settings.table_plan, registry, slot if use_model else None, mode=chosen)
