"""Answers with citations: hybrid retrieval → numbered passages → ``rag_answer`` prompt → checked citations.

The model cites passages by their ``[n]`` markers. Every marker is checked against the passages that
were really in the context: valid ones become citations (document id, chunk id, character span),
invalid ones are removed from the text and reported. When retrieval finds nothing relevant the model
is not called at all and the answer is "not found in the documents".
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread

from insight.llm.client import LLMClient
from insight.llm.errors import translate_llm_errors
from insight.prompts import Prompt, PromptRegistry
from insight.rag.search import Filters, SearchHit
from insight.rag.service import RagService

NOT_FOUND = "not found in the documents"
_MARKER = re.compile(r"\[(\d{1,3})\]")


@dataclass(frozen=True)
class Citation:
    marker: int
    doc_id: str
    chunk_id: str
    title: str
    source: str
    start: int
    end: int
    page: int | None
    text: str


@dataclass
class Answer:
    answer: str
    found: bool
    citations: list[Citation] = field(default_factory=list)
    invalid_citations: list[int] = field(default_factory=list)
    passages: list[SearchHit] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def relevant(hits: list[SearchHit], min_dense: float) -> list[SearchHit]:
    """Hits worth showing the model: any lexical match, or a dense similarity of at least ``min_dense``."""
    return [h for h in hits if h.lexical is not None or (h.dense is not None and h.dense.score >= min_dense)]


def numbered_context(hits: list[SearchHit], budget_tokens: int, count_tokens: Any) -> tuple[str, list[SearchHit]]:
    """``[n] title — text`` blocks, best first, as many as fit the token budget (at least one)."""
    blocks: list[str] = []
    used: list[SearchHit] = []
    spent = 0
    for hit in hits:
        title = str(hit.metadata.get("title", "")).strip()
        block = f"[{len(used) + 1}] {title} — {hit.text}" if title else f"[{len(used) + 1}] {hit.text}"
        cost = count_tokens(block)
        if used and spent + cost > budget_tokens:
            break
        blocks.append(block)
        used.append(hit)
        spent += cost
    return "\n\n".join(blocks), used


def check_citations(text: str, passages: list[SearchHit]) -> tuple[str, list[Citation], list[int]]:
    """Citations for valid markers (in order of first use), the text without invalid ones, and those."""
    citations: dict[int, Citation] = {}
    invalid: list[int] = []
    for match in _MARKER.finditer(text):
        marker = int(match.group(1))
        if 1 <= marker <= len(passages):
            if marker not in citations:
                hit = passages[marker - 1]
                meta = hit.metadata
                page = meta.get("page")
                citations[marker] = Citation(
                    marker=marker,
                    doc_id=hit.doc_id,
                    chunk_id=hit.chunk_id,
                    title=str(meta.get("title", "")),
                    source=str(meta.get("source", "")),
                    start=int(meta.get("start", 0)),
                    end=int(meta.get("end", 0)),
                    page=int(page) if page is not None else None,
                    text=hit.text,
                )
        elif marker not in invalid:
            invalid.append(marker)
    if invalid:
        text = _MARKER.sub(lambda m: "" if int(m.group(1)) in invalid else m.group(0), text)
        text = re.sub(r"[ \t]{2,}", " ", text).strip()
    return text, list(citations.values()), invalid


def is_not_found(text: str) -> bool:
    return NOT_FOUND in text.strip().lower()


class Answerer:
    def __init__(
        self,
        rag: RagService,
        llm: LLMClient,
        prompts: PromptRegistry,
        *,
        top_k: int = 5,
        min_dense: float = 0.3,
        context_tokens: int = 1500,
        prompt_name: str = "rag_answer",
    ) -> None:
        self.rag = rag
        self.llm = llm
        self.prompts = prompts
        self.top_k = top_k
        self.min_dense = min_dense
        self.context_tokens = context_tokens
        self.prompt_name = prompt_name

    async def _retrieve(
        self, collection: str, question: str, top_k: int | None, filters: Filters | None
    ) -> list[SearchHit]:
        hits = await anyio.to_thread.run_sync(
            lambda: self.rag.search(collection, question, top_k=top_k or self.top_k, mode="hybrid", filters=filters)
        )
        return relevant(hits, self.min_dense)

    def _meta(self, prompt: Prompt, started: float, prompt_text: str, answer_text: str) -> dict[str, Any]:
        return {
            **prompt.metadata,
            "provider": self.llm.provider,
            "model": self.llm.model_name,
            "input_tokens": self.llm.count_tokens(prompt_text) if prompt_text else 0,
            "output_tokens": self.llm.count_tokens(answer_text) if prompt_text else 0,
            "latency_ms": round((time.perf_counter() - started) * 1000, 1),
        }

    async def answer(
        self, collection: str, question: str, top_k: int | None = None, filters: Filters | None = None
    ) -> Answer:
        started = time.perf_counter()
        prompt = self.prompts.get(self.prompt_name)
        hits = await self._retrieve(collection, question, top_k, filters)
        if not hits:
            return Answer(answer=NOT_FOUND, found=False, meta=self._meta(prompt, started, "", ""))
        context, passages = numbered_context(hits, self.context_tokens, self.llm.count_tokens)
        messages = prompt.format_messages(context=context, question=question)
        params = prompt.model_params.model_dump(exclude_none=True)
        reply = await self.llm.ainvoke(messages, **params)
        raw = str(reply.content).strip()
        prompt_text = "\n".join(str(m.content) for m in messages)
        if is_not_found(raw):
            return Answer(
                answer=NOT_FOUND, found=False, passages=passages, meta=self._meta(prompt, started, prompt_text, raw)
            )
        text, citations, invalid = check_citations(raw, passages)
        return Answer(
            answer=text,
            found=True,
            citations=citations,
            invalid_citations=invalid,
            passages=passages,
            meta=self._meta(prompt, started, prompt_text, raw),
        )

    async def stream(
        self, collection: str, question: str, top_k: int | None = None, filters: Filters | None = None
    ) -> AsyncIterator[tuple[str, Any]]:
        """Events: ``("token", text)`` as the model writes, then ``("answer", Answer)`` with checked citations."""
        started = time.perf_counter()
        prompt = self.prompts.get(self.prompt_name)
        hits = await self._retrieve(collection, question, top_k, filters)
        if not hits:
            yield "token", NOT_FOUND
            yield "answer", Answer(answer=NOT_FOUND, found=False, meta=self._meta(prompt, started, "", ""))
            return
        context, passages = numbered_context(hits, self.context_tokens, self.llm.count_tokens)
        messages = prompt.format_messages(context=context, question=question)
        params = prompt.model_params.model_dump(exclude_none=True)
        pieces: list[str] = []
        async with self.llm.slot():
            with translate_llm_errors(self.llm.provider, self.llm.model_name):
                async for chunk in self.llm.model.astream(messages, **params):
                    token = str(chunk.content)
                    if token:
                        pieces.append(token)
                        yield "token", token
        raw = "".join(pieces).strip()
        prompt_text = "\n".join(str(m.content) for m in messages)
        meta = self._meta(prompt, started, prompt_text, raw)
        if is_not_found(raw):
            yield "answer", Answer(answer=NOT_FOUND, found=False, passages=passages, meta=meta)
            return
        text, citations, invalid = check_citations(raw, passages)
        yield "answer", Answer(text, True, citations, invalid, passages, meta)
