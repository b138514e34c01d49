"""The analysis chain: profile (pandas, in a worker thread) → facts → versioned prompt → structured output
(``AnalysisResult``) → confidence clamped → figures checked against the facts → ``AnalysisResponse``.

The model only explains: every number it is given was computed in ``profile``, and every number it writes
is checked in ``grounding``. Text inside the data cannot change the response's shape (structured output
fixes the schema) and reaches the model only quoted inside ``<facts>``, which the system prompt declares
to be data. ``OutputParseError`` (no valid ``AnalysisResult`` after the one repair attempt inside
``LLMClient``) and the other LLM errors propagate unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import anyio.to_thread
import pandas as pd
from langchain_core.callbacks import UsageMetadataCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.tracers.context import register_configure_hook

from insight.analysis.grounding import ALPHA, ground
from insight.analysis.models import AnalysisMeta, AnalysisResponse, AnalysisResult, GroundingReport
from insight.analysis.parsing import ParsedData, coerce_frame
from insight.analysis.profile import DataProfile, fmt, profile
from insight.errors import FieldProblem, InvalidInput, PromptInvalid
from insight.llm import LLMClient
from insight.prompts import Prompt, PromptRegistry

DEFAULT_PROMPT = "analysis"
DEFAULT_MAX_FACT_TOKENS = 1200
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


class _Timer:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000.0, 1)


class Analyzer:
    """Structured analysis of a table with a chat model that explains facts computed in pandas."""

    def __init__(
        self,
        llm: LLMClient,
        prompts: PromptRegistry,
        *,
        prompt_name: str = DEFAULT_PROMPT,
        prompt_version: int | None = None,
        max_fact_tokens: int = DEFAULT_MAX_FACT_TOKENS,
        alpha: float = ALPHA,
    ) -> None:
        self.llm = llm
        self.prompt: Prompt = prompts.get(prompt_name, prompt_version)  # PromptNotFound early, not per request
        if "facts" not in self.prompt.input_variables:
            raise PromptInvalid(f"prompt {self.prompt.name} v{self.prompt.version} has no {{facts}} variable")
        self.max_fact_tokens = max_fact_tokens
        self.alpha = alpha
        self.model_params = self.prompt.model_params.model_dump(exclude_none=True)

    def profile(self, data: pd.DataFrame | ParsedData) -> tuple[ParsedData, DataProfile]:
        """The CPU part (sync, no I/O): type a bare frame, compute the facts within the token budget."""
        parsed = as_parsed(data)
        facts = profile(parsed.frame, count_tokens=self.llm.count_tokens, max_fact_tokens=self.max_fact_tokens)
        return parsed, facts

    def messages(self, facts: DataProfile, question: str | None = None, domain: str | None = None) -> list[BaseMessage]:
        """The prompt's messages for these facts (``question``/``domain`` None → the prompt's defaults)."""
        values: dict[str, str | None] = {"facts": facts.render()}
        for name, value, limit in (("question", question, MAX_QUESTION_CHARS), ("domain", domain, MAX_DOMAIN_CHARS)):
            cleaned = _checked_text(name, value, limit)
            if name in self.prompt.input_variables:
                values[name] = cleaned
        return self.prompt.format_messages(**values)

    async def analyze(
        self, data: pd.DataFrame | ParsedData, question: str | None = None, domain: str | None = None
    ) -> AnalysisResponse:
        """Profile in a worker thread, then one structured call to the model (cancellable while waiting)."""
        _checked_text("question", question, MAX_QUESTION_CHARS)
        _checked_text("domain", domain, MAX_DOMAIN_CHARS)
        profiling = _Timer()
        parsed, facts = await anyio.to_thread.run_sync(self.profile, data)
        return await self.analyze_profiled(parsed, facts, question, domain, profile_ms=profiling.ms)

    async def analyze_profiled(
        self,
        parsed: ParsedData,
        facts: DataProfile,
        question: str | None = None,
        domain: str | None = None,
        *,
        profile_ms: float = 0.0,
    ) -> AnalysisResponse:
        """The model call and grounding for a table already profiled (by ``profile``, maybe cached)."""
        messages = self.messages(facts, question, domain)
        with _track_usage() as usage:
            calling = _Timer()
            result = await self.llm.astructured(messages, AnalysisResult, self.model_params)
            latency_ms = calling.ms
        return self._respond(parsed, facts, messages, result, usage, latency_ms, profile_ms)

    def analyze_sync(
        self, data: pd.DataFrame | ParsedData, question: str | None = None, domain: str | None = None
    ) -> AnalysisResponse:
        """``analyze`` for sync callers (the CLI); never call it from a running event loop."""
        _checked_text("question", question, MAX_QUESTION_CHARS)
        _checked_text("domain", domain, MAX_DOMAIN_CHARS)
        profiling = _Timer()
        parsed, facts = self.profile(data)
        profile_ms = profiling.ms
        messages = self.messages(facts, question, domain)
        with _track_usage() as usage:
            calling = _Timer()
            result = self.llm.structured(messages, AnalysisResult, self.model_params)
            latency_ms = calling.ms
        return self._respond(parsed, facts, messages, result, usage, latency_ms, profile_ms)

    def _respond(
        self,
        parsed: ParsedData,
        facts: DataProfile,
        messages: list[BaseMessage],
        result: AnalysisResult,
        usage: UsageMetadataCallbackHandler,
        latency_ms: float,
        profile_ms: float,
    ) -> AnalysisResponse:
        names = [str(c) for c in parsed.frame.columns]
        grounding = ground(result, facts.facts, names=names, alpha=self.alpha, index=facts.grounding_index(names))
        final = result.model_copy(update={"confidence": grounding.adjusted_confidence})
        input_tokens = sum(u.get("input_tokens", 0) for u in usage.usage_metadata.values())
        output_tokens = sum(u.get("output_tokens", 0) for u in usage.usage_metadata.values())
        estimated = not usage.usage_metadata
        if estimated:
            input_tokens = sum(self.llm.count_tokens(message.text) for message in messages)
            output_tokens = self.llm.count_tokens(result.model_dump_json())
        metadata = self.prompt.metadata
        return AnalysisResponse(
            result=final,
            facts=facts.facts,
            grounding=grounding,
            meta=AnalysisMeta(
                prompt_name=str(metadata["prompt_name"]),
                prompt_version=int(metadata["prompt_version"]),
                prompt_sha256=str(metadata["prompt_sha256"]),
                provider=self.llm.provider,
                model=self.llm.model_name,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                tokens_estimated=estimated,
                latency_ms=latency_ms,
                profile_ms=profile_ms,
                rows=facts.rows,
                columns=facts.columns,
                facts_shown=len(facts.facts),
                facts_dropped=facts.dropped_facts,
                notes=[*parsed.notes, *facts.notes, *_grounding_notes(grounding)],
            ),
        )


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
        f"{len(report.unsupported)} figure(s) in the result are not in the facts ({shown}{more}); confidence "
        f"lowered from {fmt(report.model_confidence)} to {fmt(report.adjusted_confidence)}"
    ]
