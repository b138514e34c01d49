"""The analysis service: read the table → compute, test and rank insights (the engine) → narrate.

Right by construction: every figure in the response comes from the engine. The model (when there is one
and ``narrate`` is on) only chooses which insights to lead with and words them, writing figures as
references that the service fills in (``narrator.apply_plan``); the result is still checked by
``grounding`` against the insights' values. When the provider is ``none``, fails, times out or returns
something unusable, the template narrator writes the result from the top insights and ``meta`` says why.
Rows never reach the model: it sees only the insights' statements and value keys.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import pandas as pd
from langchain_core.callbacks import UsageMetadataCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.tracers.context import register_configure_hook

from insight.analysis import narrator
from insight.analysis.grounding import ALPHA, ground
from insight.analysis.insights import InsightReport
from insight.analysis.insights.engine import EngineSettings, InsightEngine
from insight.analysis.models import AnalysisMeta, AnalysisResponse, Fact, GroundingReport
from insight.analysis.parsing import ParsedData, coerce_frame
from insight.analysis.profile import fmt
from insight.config import AnalysisSettings
from insight.errors import FieldProblem, InsightError, InvalidInput, PromptInvalid
from insight.llm.protocols import ChatClient
from insight.llm.slot import LLMSlot
from insight.prompts import Prompt, PromptRegistry

DEFAULT_PROMPT = "narration"
MAX_QUESTION_CHARS = 2000
MAX_DOMAIN_CHARS = 200

# One context variable, registered once: while set, every chat model run in this context reports its
# token usage to the handler (``get_usage_metadata_callback`` would register a new hook per call).
_usage: ContextVar[UsageMetadataCallbackHandler | None] = ContextVar("insight_analysis_usage", default=None)
register_configure_hook(_usage, inheritable=True)


class _InlineUsage(UsageMetadataCallbackHandler):
    """Counted where the event happens: LangChain runs a sync handler's events in an executor thread each
    (a thread hop per model call) unless it is marked inline; counting tokens is cheap and thread-safe."""

    run_inline = True


@contextmanager
def _track_usage() -> Iterator[UsageMetadataCallbackHandler]:
    handler = _InlineUsage()
    token = _usage.set(handler)
    try:
        yield handler
    finally:
        _usage.reset(token)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 1)


@dataclass
class Computed:
    """The CPU part of an analysis (cacheable by content): the typed table and its ranked insights."""

    parsed: ParsedData
    report: InsightReport
    compute_ms: float


@dataclass
class _Told:
    narration: narrator.Narration
    messages: list[BaseMessage]
    usage: UsageMetadataCallbackHandler | None
    latency_ms: float
    client: ChatClient | None


class Analyzer:
    """Built once (lifespan, CLI, evaluation) and shared: the engine, the narration prompt, the model slot."""

    def __init__(
        self,
        engine: InsightEngine,
        prompts: PromptRegistry,
        llm: LLMSlot,
        *,
        prompt_name: str = DEFAULT_PROMPT,
        prompt_version: int | None = None,
        alpha: float = ALPHA,
    ) -> None:
        self.engine = engine
        self.llm = llm
        self.prompt: Prompt = prompts.get(prompt_name, prompt_version)  # PromptNotFound early, not per request
        if "insights" not in self.prompt.input_variables:
            raise PromptInvalid(f"prompt {self.prompt.name} v{self.prompt.version} has no {{insights}} variable")
        self.alpha = alpha
        self.model_params = self.prompt.model_params.model_dump(exclude_none=True)

    def compute(self, data: pd.DataFrame | ParsedData, question: str | None = None) -> Computed:
        """The CPU part (sync, no I/O): type a bare frame, compute and rank the insights."""
        started = time.perf_counter()
        parsed = as_parsed(data)
        report = self.engine.run(parsed.frame, question=_checked_text("question", question, MAX_QUESTION_CHARS))
        return Computed(parsed, report, _ms(started))

    def messages(
        self, report: InsightReport, question: str | None = None, domain: str | None = None
    ) -> list[BaseMessage]:
        """The narration prompt's messages: the top insights' statements and value keys, never rows."""
        values: dict[str, str | None] = {"insights": narrator.render_insights(narrator.narratable(report, question))}
        for name, value, limit in (("question", question, MAX_QUESTION_CHARS), ("domain", domain, MAX_DOMAIN_CHARS)):
            cleaned = _checked_text(name, value, limit)
            if name in self.prompt.input_variables:
                values[name] = cleaned
        return self.prompt.format_messages(**values)

    async def analyze(
        self,
        data: pd.DataFrame | ParsedData,
        question: str | None = None,
        domain: str | None = None,
        *,
        narrate: bool = True,
    ) -> AnalysisResponse:
        """Compute in a worker thread, then narrate (cancellable while waiting for the model)."""
        _checked_text("domain", domain, MAX_DOMAIN_CHARS)
        computed = await anyio.to_thread.run_sync(self.compute, data, question)
        return await self.narrate(computed, question, domain, narrate=narrate)

    async def narrate(
        self, computed: Computed, question: str | None = None, domain: str | None = None, *, narrate: bool = True
    ) -> AnalysisResponse:
        """The response for computed insights: the model's narration when asked for and usable, else the template."""
        reason = None
        if not narrate:
            reason = "narrate=false"
        elif not self.llm.configured:
            reason = "no language model configured"
        elif not narrator.narratable(computed.report, question):
            reason = "no insight to narrate"
        if reason is not None:
            told = _Told(narrator.template(computed.report, question, reason=reason), [], None, 0.0, None)
        else:
            told = await self._ask_model(computed.report, question, domain)
        return self._respond(computed, told)

    def analyze_sync(
        self,
        data: pd.DataFrame | ParsedData,
        question: str | None = None,
        domain: str | None = None,
        *,
        narrate: bool = True,
    ) -> AnalysisResponse:
        """``analyze`` for sync callers (the CLI); never call it from a running event loop."""
        return anyio.run(self._analyze_in_loop, data, question, domain, narrate)

    async def _analyze_in_loop(
        self, data: pd.DataFrame | ParsedData, question: str | None, domain: str | None, narrate: bool
    ) -> AnalysisResponse:
        return await self.analyze(data, question, domain, narrate=narrate)

    async def _ask_model(self, report: InsightReport, question: str | None, domain: str | None) -> _Told:
        messages = self.messages(report, question, domain)
        started = time.perf_counter()
        client: ChatClient | None = None
        with _track_usage() as usage:
            try:
                client = self.llm.client or await anyio.to_thread.run_sync(self.llm.require)
                assert client is not None
                plan = await client.astructured(messages, narrator.NarrationPlan, self.model_params)
                narration = narrator.apply_plan(plan, report, question)
            except InsightError as exc:  # the model failed: the computed result still stands
                reason = f"the model failed ({exc.code}): {exc.message}"
                narration = narrator.template(report, question, reason=reason)
            except ValueError as exc:
                narration = narrator.template(report, question, reason=f"the model's narration was unusable: {exc}")
        return _Told(narration, messages, usage, _ms(started), client)

    def _respond(self, computed: Computed, told: _Told) -> AnalysisResponse:
        report, parsed, narration = computed.report, computed.parsed, told.narration
        facts = insight_facts(report)
        labels = [v.text for i in [*report.insights, *report.descriptive] for v in i.values if v.value is None]
        names = [*(str(c) for c in parsed.frame.columns), *labels]
        grounding = ground(narration.result, facts, names=names, alpha=self.alpha)
        input_tokens = output_tokens = 0
        estimated = False
        if told.usage is not None and told.client is not None:
            input_tokens = sum(u.get("input_tokens", 0) for u in told.usage.usage_metadata.values())
            output_tokens = sum(u.get("output_tokens", 0) for u in told.usage.usage_metadata.values())
            estimated = not told.usage.usage_metadata
            if estimated:
                input_tokens = sum(told.client.count_tokens(m.text) for m in told.messages)
                output_tokens = told.client.count_tokens(narration.result.model_dump_json())
        called = told.client is not None
        metadata = self.prompt.metadata
        notes = [*parsed.notes, *report.notes, *_grounding_notes(grounding)]
        if narration.replaced:
            notes.append("model sentences replaced by the computed statements: " + "; ".join(narration.replaced))
        return AnalysisResponse(
            result=narration.result,
            insights=report.insights,
            descriptive=report.descriptive,
            figures=narration.figures,
            quality=report.quality,
            facts=facts,
            grounding=grounding,
            meta=AnalysisMeta(
                narrator="model" if narration.narrator == "model" else "template",
                narrator_reason=narration.reason,
                recommendations_source="model" if narration.narrator == "model" else "template",
                prompt_name=str(metadata["prompt_name"]) if called else None,
                prompt_version=int(metadata["prompt_version"]) if called else None,
                prompt_sha256=str(metadata["prompt_sha256"]) if called else None,
                **_repair_metadata(told.client),
                provider=self.llm.settings.provider,
                model=told.client.model_name if told.client is not None else None,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                tokens_estimated=estimated,
                latency_ms=told.latency_ms,
                profile_ms=computed.compute_ms,
                engine_ms=report.engine_ms,
                rows=len(parsed.frame),
                columns=len(parsed.frame.columns),
                insights_significant=report.significant,
                candidates_tested=report.candidates_tested,
                fdr_q=report.fdr_q,
                facts_shown=len(report.insights),
                facts_dropped=max(0, report.significant - len(report.insights)),
                notes=notes,
            ),
        )


def build_analyzer(settings: AnalysisSettings, prompts: PromptRegistry, llm: LLMSlot) -> Analyzer:
    """The one Analyzer the API, the CLI and evaluation share (built once from settings)."""
    engine = InsightEngine(
        EngineSettings(
            top_k=settings.top_k,
            fdr_q=settings.fdr_q,
            time_budget_s=settings.insight_budget_s,
            min_subspace_rows=settings.min_subspace_rows,
        )
    )
    return Analyzer(engine, prompts, llm, prompt_version=settings.prompt_version)


def _repair_metadata(client: ChatClient | None) -> dict[str, Any]:
    if client is None:
        return {}
    repair = client.repair_metadata
    return {
        "repair_prompt_name": str(repair["repair_prompt_name"]),
        "repair_prompt_version": int(repair["repair_prompt_version"]),
        "repair_prompt_sha256": str(repair["repair_prompt_sha256"]),
    }


def insight_facts(report: InsightReport) -> list[Fact]:
    """The insights as grounding facts: the statement and every numeric value."""
    return [
        Fact(
            id=insight.id,
            kind="insight",
            text=insight.statement,
            values={v.key: float(v.value) for v in insight.values if v.value is not None},
        )
        for insight in [*report.insights, *report.descriptive]
    ]


def as_parsed(data: pd.DataFrame | ParsedData) -> ParsedData:
    """``data`` as ``ParsedData``; a bare frame gets the same column typing as parsed input."""
    if isinstance(data, ParsedData):
        return data
    if data.empty or len(data.columns) == 0:
        raise InvalidInput([FieldProblem(("data",), "no rows: the data is empty", "too_short")])
    frame = data.copy()
    frame.columns = pd.Index([str(name) for name in frame.columns])
    typed, notes = coerce_frame(frame)
    return ParsedData(typed, "frame", len(typed), len(typed.columns), notes)


def _checked_text(name: str, value: str | None, limit: int) -> str | None:
    if value is None or not value.strip():
        return None
    if len(value) > limit:
        raise InvalidInput([FieldProblem(("body", name), f"at most {limit} characters, got {len(value)}", "too_long")])
    return value.strip()


def _grounding_notes(report: GroundingReport) -> list[str]:
    if not report.unsupported:
        return []
    shown = ", ".join(item.text for item in report.unsupported[:5])
    more = f" and {len(report.unsupported) - 5} more" if len(report.unsupported) > 5 else ""
    return [
        f"{len(report.unsupported)} figure(s) in the result are not insight values ({shown}{more}); confidence "
        f"lowered from {fmt(report.model_confidence)} to {fmt(report.adjusted_confidence)}"
    ]
