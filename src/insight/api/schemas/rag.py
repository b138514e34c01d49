"""Collections, ingestion and search shapes, with OpenAPI examples."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Scalar = str | int | float | bool


class CollectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "handbook"}]})
    name: str = Field(description="3-63 characters of a-z, 0-9, '-' and '_'")


_COLLECTION_EXAMPLE: dict[str, Any] = {
    "name": "handbook",
    "documents": 12,
    "chunks": 48,
    "version": 3,
    "embedding_model": "all-MiniLM-L6-v2-int8-onnx",
}


class CollectionOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_COLLECTION_EXAMPLE]})
    name: str
    documents: int
    chunks: int
    version: int = Field(description="bumped on every change; replicas rebuild their lexical index on it")
    embedding_model: str


class CollectionList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"collections": [_COLLECTION_EXAMPLE]}]})
    collections: list[CollectionOut]


class TextDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=512, description="stable id: re-sending it replaces the document")
    title: str = Field(default="", max_length=1000)
    text: str = Field(min_length=1)
    metadata: dict[str, Scalar] = Field(default_factory=dict, description="filterable fields")


class TextDocuments(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "documents": [
                        {
                            "id": "refund-policy",
                            "title": "Refund policy",
                            "text": "Customers can ask for a refund within 30 days of purchase.",
                            "metadata": {"team": "support"},
                        }
                    ]
                }
            ]
        },
    )
    documents: list[TextDocument] = Field(min_length=1, max_length=10_000)


class FailedSource(BaseModel):
    source: str
    message: str


class IngestOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "collection": "handbook",
                    "added": ["refund-policy"],
                    "updated": [],
                    "unchanged": [],
                    "failed": [],
                    "chunks_embedded": 1,
                    "chunks_deleted": 0,
                    "seconds": 0.05,
                }
            ]
        }
    )
    collection: str
    added: list[str]
    updated: list[str]
    unchanged: list[str]
    failed: list[FailedSource]
    chunks_embedded: int
    chunks_deleted: int
    seconds: float


class DocumentDeleted(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"collection": "handbook", "doc_id": "refund-policy", "chunks_deleted": 1}]}
    )
    collection: str
    doc_id: str
    chunks_deleted: int


class SearchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"collection": "handbook", "query": "how long do refunds take?", "top_k": 5, "mode": "hybrid"}]
        },
    )
    collection: str
    query: str = Field(min_length=1, description="natural-language or keyword query")
    top_k: int = Field(default=10, ge=1)
    mode: Literal["hybrid", "dense", "lexical"] = "hybrid"
    filters: dict[str, Any] | None = Field(
        default=None, description='metadata filters: {"field": value} or {"field": {"$in": [values]}}'
    )


class RankScoreOut(BaseModel):
    rank: int
    score: float


class Scores(BaseModel):
    fused: float
    dense: RankScoreOut | None = Field(description="dense rank and cosine (with document aggregation: best passage)")
    lexical: RankScoreOut | None = Field(description="BM25 rank and score (document-level with document aggregation)")
    first_chunk: RankScoreOut | None = Field(
        default=None, description="document aggregation only: the document's first passage, rank and cosine"
    )


class HitOut(BaseModel):
    chunk_id: str
    doc_id: str
    title: str
    source: str
    text: str
    start: int
    end: int
    page: int | None
    section: str | None
    metadata: dict[str, Scalar]
    scores: Scores


class SearchResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "collection": "handbook",
                    "mode": "hybrid",
                    "hits": [
                        {
                            "chunk_id": "refund-policy#0",
                            "doc_id": "refund-policy",
                            "title": "Refund policy",
                            "source": "refund-policy",
                            "text": "Customers can ask for a refund within 30 days of purchase.",
                            "start": 0,
                            "end": 58,
                            "page": None,
                            "section": None,
                            "metadata": {"team": "support"},
                            "scores": {
                                "fused": 0.0328,
                                "dense": {"rank": 1, "score": 0.61},
                                "lexical": {"rank": 1, "score": 2.7},
                            },
                        }
                    ],
                    "took_ms": 4.1,
                }
            ]
        }
    )
    collection: str
    mode: str
    hits: list[HitOut]
    took_ms: float
