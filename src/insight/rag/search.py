"""Hybrid retrieval: dense (Chroma) and lexical (BM25) rankings fused, with a score breakdown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from insight.config import SearchSettings
from insight.errors import FieldProblem, InvalidInput

Mode = Literal["hybrid", "dense", "lexical"]
Scalar = str | int | float | bool
Filters = dict[str, Any]


@dataclass(frozen=True)
class RankScore:
    rank: int
    score: float


@dataclass(frozen=True)
class Candidate:
    chunk_id: str
    text: str
    metadata: dict[str, Any]
    score: float


@dataclass(frozen=True)
class SearchHit:
    chunk_id: str
    doc_id: str
    text: str
    metadata: dict[str, Any]
    score: float
    dense: RankScore | None
    lexical: RankScore | None
    first_chunk: RankScore | None = None
    """Document aggregation only: the document's first passage against the query (rank, cosine)."""


def fuse(
    dense: Sequence[Candidate], lexical: Sequence[Candidate], settings: SearchSettings, top_k: int
) -> list[SearchHit]:
    """Reciprocal-rank or min-max weighted fusion of two rankings (either may be empty)."""
    dense_rank = {c.chunk_id: RankScore(i + 1, c.score) for i, c in enumerate(dense)}
    lexical_rank = {c.chunk_id: RankScore(i + 1, c.score) for i, c in enumerate(lexical)}
    pool = {c.chunk_id: c for c in (*lexical, *dense)}
    if settings.fusion == "rrf":
        k = settings.rrf_k

        def fused(chunk_id: str) -> float:
            d, lx = dense_rank.get(chunk_id), lexical_rank.get(chunk_id)
            return (settings.dense_weight / (k + d.rank) if d else 0.0) + (
                settings.lexical_weight / (k + lx.rank) if lx else 0.0
            )
    else:
        d_norm, l_norm = _min_max(dense), _min_max(lexical)

        def fused(chunk_id: str) -> float:
            return settings.dense_weight * d_norm.get(chunk_id, 0.0) + settings.lexical_weight * l_norm.get(
                chunk_id, 0.0
            )

    scored = sorted(((fused(cid), cid) for cid in pool), key=lambda pair: (-pair[0], pair[1]))
    return [
        SearchHit(
            chunk_id=cid,
            doc_id=str(pool[cid].metadata.get("doc_id", "")),
            text=pool[cid].text,
            metadata=pool[cid].metadata,
            score=score,
            dense=dense_rank.get(cid),
            lexical=lexical_rank.get(cid),
        )
        for score, cid in scored[:top_k]
    ]


@dataclass(frozen=True)
class Ranking:
    """One system's candidates, best first: positions (chunks or documents) and their raw scores."""

    positions: Sequence[int]
    scores: Sequence[float]

    def ranks(self, wanted: Sequence[int]) -> dict[int, RankScore]:
        """Rank (1-based) and score of each wanted position that this ranking holds."""
        index = dict(zip(self.positions, range(len(self.positions)), strict=True))
        return {p: RankScore(index[p] + 1, float(self.scores[index[p]])) for p in wanted if p in index}


def fuse_rankings(weighted: Sequence[tuple[float, Ranking]], settings: SearchSettings) -> dict[int, float]:
    """Fused score per position: weighted reciprocal ranks, or weighted min-max-normalised scores.

    Min-max runs within each system's own candidate list; a position missing from a list gets 0 from it.
    """
    fused: dict[int, float] = {}
    for weight, ranking in weighted:
        if weight <= 0 or not ranking.positions:
            continue
        if settings.fusion == "rrf":
            for i, position in enumerate(ranking.positions):
                fused[position] = fused.get(position, 0.0) + weight / (settings.rrf_k + i + 1)
            continue
        low, high = min(ranking.scores), max(ranking.scores)
        span = high - low
        for position, score in zip(ranking.positions, ranking.scores, strict=True):
            normalised = (score - low) / span if span > 0 else 1.0
            fused[position] = fused.get(position, 0.0) + weight * normalised
    return fused


def single_ranking(candidates: Sequence[Candidate], mode: Mode, top_k: int) -> list[SearchHit]:
    return [
        SearchHit(
            chunk_id=c.chunk_id,
            doc_id=str(c.metadata.get("doc_id", "")),
            text=c.text,
            metadata=c.metadata,
            score=c.score,
            dense=RankScore(i + 1, c.score) if mode == "dense" else None,
            lexical=RankScore(i + 1, c.score) if mode == "lexical" else None,
        )
        for i, c in enumerate(candidates[:top_k])
    ]


def _min_max(candidates: Sequence[Candidate]) -> dict[str, float]:
    if not candidates:
        return {}
    scores = [c.score for c in candidates]
    low, high = min(scores), max(scores)
    span = high - low
    return {c.chunk_id: (c.score - low) / span if span > 0 else 1.0 for c in candidates}


def chroma_where(filters: Filters | None) -> dict[str, Any] | None:
    """Our filter mapping (field → value or {"$in": [...]}) as a Chroma ``where``."""
    if not filters:
        return None
    clauses = [{field: _validated_condition(field, cond)} for field, cond in sorted(filters.items())]
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def matches(metadata: dict[str, Any], filters: Filters | None) -> bool:
    if not filters:
        return True
    for field, condition in filters.items():
        value = metadata.get(field)
        if isinstance(condition, dict):
            if value not in condition["$in"]:
                return False
        elif value != condition:
            return False
    return True


def _validated_condition(field: str, condition: Any) -> Any:
    if isinstance(condition, str | int | float | bool):
        return condition
    if (
        isinstance(condition, dict)
        and set(condition) == {"$in"}
        and isinstance(condition["$in"], list)
        and condition["$in"]
        and all(isinstance(v, str | int | float | bool) for v in condition["$in"])
    ):
        return condition
    raise InvalidInput(
        [
            FieldProblem(
                ("body", "filters", field),
                'a filter is a value (string, number, boolean) or {"$in": [values…]}',
                "value_error",
            )
        ]
    )
