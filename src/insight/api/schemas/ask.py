"""/ask shapes."""

from __future__ import annotations

from typing import Any, Literal

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
    stream: bool = Field(
        default=False,
        description="server-sent events: extractive (when the model is to be called), then citations, then done; "
        "passages mode: token…, then citations, then done",
    )
    answer_mode: Literal["extractive", "generative", "passages"] | None = Field(
        default=None,
        description="extractive: the best sentence(s) verbatim, no model call; generative: the model's short answer "
        "from them, verified against the cited sentence (else the extractive answer, meta says why); passages: the "
        "model answers from whole passages (rag_answer). Default: the service's setting (answer.mode)",
    )


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
    quote: str | None = Field(default=None, description="the cited sentence, verbatim")
    quote_start: int | None = Field(default=None, description="its span in the document's text: start")
    quote_end: int | None = Field(default=None, description="its span in the document's text: end")
    score: float | None = Field(default=None, description="the sentence's selection score")


class RelatedOut(BaseModel):
    doc_id: str
    chunk_id: str
    title: str
    source: str
    text: str
    score: float


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
    mode: Literal["extractive", "generative", "passages"] = Field(
        default="passages",
        description="how the answer was made (a generative answer that failed verification: extractive)",
    )
    related: list[RelatedOut] = Field(default_factory=list, description="not found: the nearest passages")
