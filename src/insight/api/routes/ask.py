"""Answers over a collection, citing the chunks they come from; optionally streamed as server-sent events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from insight.api.deps import AUTH_RESPONSES, PrincipalDep, ServicesDep
from insight.api.schemas.ask import AskRequest, AskResponse, CitationOut, RelatedOut
from insight.errors import FieldProblem, InsightError, InvalidInput
from insight.rag.answer import Answer

router = APIRouter(prefix="/api/v1", tags=["ask"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    404: {"description": "no such collection"},
    422: {"description": "empty or over-long question"},
    502: {"description": "the language model failed or returned unusable output"},
    503: {"description": "the vector store or the language model is unavailable"},
    504: {"description": "the language model timed out"},
}


def _response(answer: Answer) -> AskResponse:
    return AskResponse(
        answer=answer.answer,
        found=answer.found,
        citations=[CitationOut(**asdict(c)) for c in answer.citations],
        invalid_citations=answer.invalid_citations,
        meta=answer.meta,
        mode=answer.mode,
        related=[
            RelatedOut(
                doc_id=hit.doc_id,
                chunk_id=hit.chunk_id,
                title=str(hit.metadata.get("title", "")),
                source=str(hit.metadata.get("source", "")),
                text=hit.text,
                score=hit.score,
            )
            for hit in answer.related
        ],
    )


def _sse(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


@router.post(
    "/ask",
    response_model=AskResponse,
    responses={**_ERRORS, 200: {"content": {"text/event-stream": {}}, "description": "the answer (or its events)"}},
    summary="Answer a question from a collection's documents, with citations",
)
async def ask(principal: PrincipalDep, body: AskRequest, services: ServicesDep) -> Any:
    principal.require_collection("read", body.collection)
    limit = services.settings.search.max_query_chars
    if not body.question.strip() or len(body.question) > limit:
        raise InvalidInput(
            [FieldProblem(("body", "question"), f"must hold text, at most {limit} characters", "string_too_long")]
        )
    # The app's one Answerer (built at start-up); evaluation's ask suites call the same ``answer`` method.
    answerer = services.answerer
    mode = body.answer_mode or answerer.mode
    # A missing model (for the modes that call one) or search service is a 503 here, before any event is sent.
    if mode != "extractive":
        await answerer.llm()
    await answerer.rag()
    if not body.stream:
        return _response(await answerer.answer(body.collection, body.question, body.top_k, body.filters, mode))

    async def events() -> AsyncIterator[bytes]:
        try:
            async for kind, value in answerer.stream(body.collection, body.question, body.top_k, body.filters, mode):
                if kind == "token":
                    yield _sse("token", {"text": value})
                elif kind == "extractive":  # the computed answer first; the model's phrasing follows if it verifies
                    first = _response(value).model_dump()
                    yield _sse("extractive", {k: first[k] for k in ("answer", "citations", "found", "mode")})
                else:
                    final = _response(value).model_dump()
                    yield _sse("citations", {k: final[k] for k in ("citations", "invalid_citations", "found")})
                    yield _sse(
                        "done",
                        {
                            "answer": final["answer"],
                            "meta": final["meta"],
                            "mode": final["mode"],
                            "related": final["related"],
                        },
                    )
        except InsightError as exc:
            yield _sse("error", {"code": exc.code, "message": exc.message})

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
