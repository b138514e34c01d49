"""Structured analysis of posted data: JSON records, CSV text, or an uploaded file.

The insight engine answers first (computed, tested, ranked); the narration follows. ``narrate=false``
returns the engine's result with the template narration at once; ``stream=true`` sends the insights as
the first server-sent event, then the narration, then ``done``. A ``question`` is also answered by
computation (``answer``: a typed plan executed on the table; an ``answer`` event when streaming); a posted
``plan`` (an earlier answer's, edited) is run as given instead.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio.to_thread
import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile

from insight.analysis import (
    SUPPORTED_SUFFIXES,
    AnalysisResponse,
    Analyzer,
    Computed,
    DataLimits,
    ParsedData,
    parse_csv_text,
    parse_file,
    parse_records,
)
from insight.analysis.cache import profile_key
from insight.analysis.plan.language import TablePlan
from insight.analysis.plan.result import TableAnswer
from insight.api.body import read_json_object, validated
from insight.api.deps import AUTH_RESPONSES, AnalyzeCaller, ServicesDep
from insight.errors import FieldProblem, InsightError, InvalidInput, PayloadTooLarge, UnsupportedFileType

router = APIRouter(prefix="/api/v1", tags=["analyze"])
_SUFFIXES = ", ".join(SUPPORTED_SUFFIXES)

_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    413: {"description": "over the row, column or byte limit (rows/columns may be sampled with allow_sampling)"},
    415: {"description": f"an uploaded file that is not {_SUFFIXES}"},
    422: {"description": "empty or non-tabular data, bad question/domain"},
}


class AnalyzeRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "data": [
                        {"month": "2026-01-01", "region": "EMEA", "revenue": 120.5},
                        {"month": "2026-02-01", "region": "EMEA", "revenue": 131.0},
                        {"month": "2026-03-01", "region": "EMEA", "revenue": 142.2},
                    ],
                    "question": "How is revenue developing?",
                    "domain": "sales",
                },
                {"csv": "month,revenue\\n2026-01-01,120.5\\n2026-02-01,131.0\\n", "question": "Trend?"},
            ]
        },
    )
    data: list[Any] | None = Field(default=None, description="records: a list of {column: value} objects")
    csv: str | None = Field(default=None, description="CSV text with a header row")
    question: str | None = Field(default=None, max_length=2000)
    domain: str | None = Field(default=None, max_length=200)
    allow_sampling: bool = Field(default=False, description="sample rows/columns over the limits instead of 413")
    narrate: bool = Field(
        default=True, description="false: the computed insights with the template narration, no model call"
    )
    stream: bool = Field(default=False, description="server-sent events: insights first, then the narration, then done")
    plan: dict[str, Any] | None = Field(
        default=None,
        description="a table plan (the `answer.plan` of an earlier response, edited or written by hand) to run "
        "as given instead of planning the question: `answer.planner` is then `user`",
    )


def _request_body() -> dict[str, Any]:
    from insight.api.openapi import inline_schema  # nested models written out: no dangling #/$defs/ reference

    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": inline_schema(AnalyzeRequest)},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "question": {"type": "string"},
                            "domain": {"type": "string"},
                            "allow_sampling": {"type": "boolean"},
                            "narrate": {"type": "boolean"},
                            "stream": {"type": "boolean"},
                            "plan": {"type": "string", "description": "a table plan as JSON, run as given"},
                        },
                    }
                },
            },
        }
    }


def _limits(services: ServicesDep) -> DataLimits:
    return DataLimits.of(services.settings.analysis)


class _Posted:
    """What was posted, not yet parsed: how to parse it (in a worker thread) and what identifies it."""

    def __init__(
        self,
        parse: Callable[[], ParsedData],
        identity: list[str | bytes],
        question: Any,
        domain: Any,
        *,
        narrate: bool = True,
        stream: bool = False,
        plan: TablePlan | None = None,
    ) -> None:
        self.parse = parse
        self.plan = plan
        self.identity = identity
        self.question = question if isinstance(question, str) else None
        self.domain = domain if isinstance(domain, str) else None
        self.narrate = narrate
        self.stream = stream


async def _parse_json(request: Request, services: ServicesDep) -> _Posted:
    payload = await read_json_object(request, services.settings.analysis.max_bytes)
    body = validated(AnalyzeRequest, payload)
    if (body.data is None) == (body.csv is None):
        raise InvalidInput([FieldProblem(("body",), "send exactly one of 'data' (records) or 'csv'", "value_error")])
    limits = _limits(services)
    parse: Callable[[], ParsedData]
    if body.data is not None:
        parse = functools.partial(parse_records, body.data, limits=limits, allow_sampling=body.allow_sampling)
        identity: list[str | bytes] = ["records", _records_bytes(body.data)]
    else:
        parse = functools.partial(parse_csv_text, body.csv or "", limits=limits, allow_sampling=body.allow_sampling)
        identity = ["csv", body.csv or ""]
    return _Posted(
        parse,
        [*identity, str(body.allow_sampling)],
        body.question,
        body.domain,
        narrate=body.narrate,
        stream=body.stream,
        plan=_plan(body.plan, ("body", "plan")),
    )


def _plan(posted: Any, where: tuple[str, ...]) -> TablePlan | None:
    """A posted plan, checked against the plan language (422 naming the step and field when it does not fit)."""
    if posted is None or posted == "":
        return None
    try:
        raw = orjson.loads(posted) if isinstance(posted, str | bytes) else posted
        return TablePlan.model_validate(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput([FieldProblem(where, f"not valid JSON: {exc}", "json_invalid")]) from None
    except ValidationError as exc:
        problems = [FieldProblem((*where, *e["loc"]), e["msg"], e["type"]) for e in exc.errors()[:20]]
        raise InvalidInput(problems) from None


def _records_bytes(records: list[Any]) -> bytes:
    try:
        return orjson.dumps(records)
    except TypeError:  # NaN and the like: let parsing report it, and never share a profile
        return orjson.dumps(uuid.uuid4().hex)


async def _parse_upload(request: Request, services: ServicesDep) -> _Posted:
    limits = _limits(services)
    async with request.form() as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput([FieldProblem(("body", "file"), f"attach a table file: {_SUFFIXES}", "missing")])
        content = await upload.read(limits.max_bytes + 1)
        if len(content) > limits.max_bytes:
            raise PayloadTooLarge(f"{upload.filename} is over the limit of {limits.max_bytes} bytes")
        question, domain = form.get("question"), form.get("domain")
        sampling = _flag(form.get("allow_sampling"), False)
        narrate = _flag(form.get("narrate"), True)
        stream = _flag(form.get("stream"), False)
        plan = _plan(form.get("plan"), ("body", "plan"))
        name = upload.filename or "upload.csv"
    parse = functools.partial(parse_file, name, content, limits=limits, allow_sampling=sampling)
    return _Posted(
        parse, ["file", name, content, str(sampling)], question, domain, narrate=narrate, stream=stream, plan=plan
    )


def _flag(value: object, default: bool) -> bool:
    if value is None:
        return default
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


# Posted bodies up to this size are hashed on the event loop to look the profile cache up there: a repeated
# table then costs no worker-thread hop (hashing 64 KiB takes tens of microseconds).
_INLINE_KEY_MAX_BYTES = 64 * 1024


def _profile_key(posted: _Posted, analyzer: Analyzer, services: ServicesDep) -> str:
    limits = _limits(services)
    engine = analyzer.engine.settings
    return profile_key(
        [
            *posted.identity,
            f"{limits.max_rows}/{limits.max_columns}/{limits.max_bytes}",
            f"{engine.top_k}/{engine.fdr_q}/{engine.time_budget_s}/{engine.min_subspace_rows}",
            posted.question or "",
        ]
    )


def _prepare(posted: _Posted, analyzer: Analyzer, services: ServicesDep, key: str | None = None) -> Computed:
    """Parse and compute the insights in one worker-thread hop, through the cache."""
    started = time.perf_counter()
    key = key or _profile_key(posted, analyzer, services)
    computed, hit = services.profiles.get_or_compute(key, lambda: analyzer.compute(posted.parse(), posted.question))
    if hit:  # the time this request spent, not the first one's
        return Computed(computed.parsed, computed.report, round((time.perf_counter() - started) * 1000.0, 1))
    return computed


async def _prepared(posted: _Posted, analyzer: Analyzer, services: ServicesDep) -> Computed:
    """``_prepare``, answered on the event loop when a small body's result is cached."""
    if sum(len(part) for part in posted.identity) > _INLINE_KEY_MAX_BYTES:
        return await anyio.to_thread.run_sync(_prepare, posted, analyzer, services)
    started = time.perf_counter()
    key = _profile_key(posted, analyzer, services)
    cached = services.profiles.get(key)
    if cached is not None:
        return Computed(cached.parsed, cached.report, round((time.perf_counter() - started) * 1000.0, 1))
    return await anyio.to_thread.run_sync(_prepare, posted, analyzer, services, key)


async def _answer(posted: _Posted, computed: Computed, services: ServicesDep) -> TableAnswer:
    """The question answered by a typed plan executed on the table (rules only when narrate=false); a posted
    plan is run as given."""
    question = posted.question or ""
    if posted.plan is not None:
        return await services.table_questions.run(computed.parsed.frame, posted.plan, question)
    return await services.table_questions.answer(computed.parsed.frame, question, use_model=posted.narrate)


def _sse(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


@router.post(
    "/analyze",
    responses={**_ERRORS, 200: {"content": {"text/event-stream": {}}, "description": "the analysis (or its events)"}},
    openapi_extra=_request_body(),
    summary="Computed, tested and ranked insights of a table, narrated",
    response_model=AnalysisResponse,
    response_description="result (AnalysisResult), insights, figures, quality, facts, grounding and meta",
)
async def analyze(_caller: AnalyzeCaller, request: Request, services: ServicesDep) -> Response:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        posted = await _parse_upload(request, services)
    elif content_type.startswith("application/json"):
        posted = await _parse_json(request, services)
    else:
        raise UnsupportedFileType(
            f"send application/json or a multipart/form-data file, not {content_type or 'nothing'}"
        )
    analyzer = services.analyzer
    computed = await _prepared(posted, analyzer, services)
    if not posted.stream:
        response = await analyzer.narrate(computed, posted.question, posted.domain, narrate=posted.narrate)
        if posted.question or posted.plan is not None:
            answer = await _answer(posted, computed, services)
            response = response.model_copy(update={"answer": answer})
        return Response(response.model_dump_json(), media_type="application/json")

    async def events() -> AsyncIterator[bytes]:
        report = computed.report
        yield _sse(
            "insights",
            {
                "insights": [i.model_dump(mode="json") for i in report.insights],
                "descriptive": [i.model_dump(mode="json") for i in report.descriptive],
                "quality": [q.model_dump(mode="json") for q in report.quality],
                "meta": {
                    "insights_significant": report.significant,
                    "candidates_tested": report.candidates_tested,
                    "fdr_q": report.fdr_q,
                    "engine_ms": report.engine_ms,
                    "rows": len(computed.parsed.frame),
                    "columns": len(computed.parsed.frame.columns),
                },
            },
        )
        if posted.question or posted.plan is not None:
            answer = await _answer(posted, computed, services)
            yield _sse("answer", answer.model_dump(mode="json"))
        try:
            response = await analyzer.narrate(computed, posted.question, posted.domain, narrate=posted.narrate)
        except InsightError as exc:
            yield _sse("error", {"code": exc.code, "message": exc.message})
            return
        final = response.model_dump(mode="json")
        yield _sse("narration", {"result": final["result"], "figures": final["figures"]})
        yield _sse("done", {"meta": final["meta"], "grounding": final["grounding"]})

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
