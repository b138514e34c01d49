"""Hybrid search over a collection."""

from __future__ import annotations

import time
from typing import Any

import anyio.to_thread
from fastapi import APIRouter

from insight.api.deps import AUTH_RESPONSES, PrincipalDep, RagDep, SettingsDep
from insight.api.schemas.rag import HitOut, RankScoreOut, Scores, SearchRequest, SearchResponse
from insight.errors import FieldProblem, InvalidInput
from insight.rag.search import RankScore, SearchHit

router = APIRouter(prefix="/api/v1", tags=["search"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    404: {"description": "no such collection"},
    422: {"description": "empty or over-long query, bad top_k or filters"},
    503: {"description": "the vector store is unavailable"},
}


def _rank(score: RankScore | None) -> RankScoreOut | None:
    return RankScoreOut(rank=score.rank, score=score.score) if score else None


def _hit(hit: SearchHit) -> HitOut:
    meta = hit.metadata
    page = meta.get("page")
    section = meta.get("section")
    return HitOut(
        chunk_id=hit.chunk_id,
        doc_id=hit.doc_id,
        title=str(meta.get("title", "")),
        source=str(meta.get("source", "")),
        text=hit.text,
        start=int(meta.get("start", 0)),
        end=int(meta.get("end", 0)),
        page=int(page) if page is not None else None,
        section=str(section) if section is not None else None,
        metadata={k: v for k, v in meta.items() if k not in {"doc_hash", "n_chunks"}},
        scores=Scores(
            fused=hit.score, dense=_rank(hit.dense), lexical=_rank(hit.lexical), first_chunk=_rank(hit.first_chunk)
        ),
    )


@router.post("/search", response_model=SearchResponse, responses=_ERRORS, summary="Search a collection")
async def search(principal: PrincipalDep, body: SearchRequest, rag: RagDep, settings: SettingsDep) -> SearchResponse:
    principal.require_collection("read", body.collection)
    limits = settings.search
    problems = []
    if not body.query.strip():
        problems.append(FieldProblem(("body", "query"), "must contain text, not only whitespace", "string_too_short"))
    if len(body.query) > limits.max_query_chars:
        problems.append(
            FieldProblem(
                ("body", "query"),
                f"is {len(body.query)} characters; at most {limits.max_query_chars} are allowed",
                "string_too_long",
            )
        )
    if body.top_k > limits.max_top_k:
        problems.append(FieldProblem(("body", "top_k"), f"must be at most {limits.max_top_k}", "less_than_equal"))
    if problems:
        raise InvalidInput(problems)
    started = time.perf_counter()
    hits = await anyio.to_thread.run_sync(
        lambda: rag.search(body.collection, body.query, body.top_k, body.mode, body.filters)
    )
    return SearchResponse(
        collection=body.collection,
        mode=body.mode,
        hits=[_hit(h) for h in hits],
        took_ms=round((time.perf_counter() - started) * 1000, 3),
    )
