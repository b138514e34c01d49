"""/ask shapes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AskRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"collection": "samples", "question": "How long are raw event logs kept?", "top_k": 5}]
        },
    )
    collection: str
    question: str = Field(min_length=1)
    top_k: int | None = Field(default=None, ge=1, le=50, description="passages given to the model")
    filters: dict[str, Any] | None = None
    stream: bool = Field(default=False, description="server-sent events: token…, then citations, then done")


class CitationOut(BaseModel):
    marker: int
    doc_id: str
    chunk_id: str
    title: str
    source: str
    start: int
    end: int
    page: int | None
    text: str


class AskResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "answer": "Raw event logs are kept for 13 months. [1]",
                    "found": True,
                    "citations": [
                        {
                            "marker": 1,
                            "doc_id": "retention-policy.md",
                            "chunk_id": "retention-policy.md#1",
                            "title": "Data retention policy",
                            "source": "retention-policy.md",
                            "start": 812,
                            "end": 1604,
                            "page": None,
                            "text": "Raw event logs … 13 months …",
                        }
                    ],
                    "invalid_citations": [],
                    "meta": {
                        "prompt_name": "rag_answer",
                        "prompt_version": 2,
                        "prompt_sha256": "…",
                        "select_prompt_name": "rag_select",
                        "select_prompt_version": 1,
                        "select_prompt_sha256": "…",
                        "provider": "local",
                        "model": "qwen2.5-coder-0.5b-instruct-q4_k_m",
                        "input_tokens": 812,
                        "output_tokens": 14,
                        "latency_ms": 2310.5,
                    },
                }
            ]
        }
    )
    answer: str
    found: bool
    citations: list[CitationOut]
    invalid_citations: list[int] = Field(description="markers the model wrote that matched no passage (removed)")
    meta: dict[str, Any]
