"""Answers with citations: hybrid retrieval → numbered passages → ``rag_answer`` prompt → checked citations.

The model cites passages by their ``[n]`` markers (``rag_answer`` v1) or chooses them first as a
structured ``PassageChoice`` (``rag_select``, with ``rag_answer`` v2 and later). Every marker or number
is checked against the passages that were really in the context: valid ones become citations
(document id, chunk id, character span), invalid ones are removed from the text and reported. When
retrieval finds nothing relevant the model is not called at all and the answer is "not found in the
documents".

One ``Answerer`` per process (``build_answerer``): the API lifespan, ``insight ask`` and evaluation build it
from the same settings. It holds the search service and the chat client, or the slots they are built in
(``RagSlot``, ``LLMSlot``), and resolves them on first use, so it can be built at start-up before either
exists and nothing is built per request.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import anyio.to_thread
from langchain_core.messages import BaseMessage
from pydantic import BaseModel, Field

from insight.config import SearchSettings
from insight.llm.errors import translate_llm_errors
from insight.llm.protocols import ChatClient
from insight.prompts import Prompt, PromptRegistry
from insight.rag.search import Filters, SearchHit
from insight.rag.service import RagService

NOT_FOUND = "not found in the documents"
STRUCTURED_FROM_VERSION = 2
MAX_CITED = 2
_MARKER = re.compile(r"\[(\d{1,3})\]")

T_co = TypeVar("T_co", covariant=True)


class ServiceSlot(Protocol[T_co]):
    """Where a service is built on first use (``LLMSlot``, ``RagSlot``): ``require()`` returns it or raises the
    typed error that says why there is none. It may block (loading a model), so it is called in a worker thread."""

    def require(self) -> T_co: ...


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
    answered_from: list[int] = field(default_factory=list)
    """The numbers of the ``passages`` the answering call saw: all of them (``rag_answer`` v1), or the chosen
    ones (v2 and later). Empty when the model was not called."""

    def answered_context(self) -> str:
        """The ``[n] title — text`` blocks the answer was written from, numbered as the model saw them."""
        return "\n\n".join(passage_block(n, self.passages[n - 1]) for n in self.answered_from)


def relevant(hits: list[SearchHit], min_dense: float) -> list[SearchHit]:
    """Hits worth showing the model: any lexical match, or a dense similarity of at least ``min_dense``."""
    return [h for h in hits if h.lexical is not None or (h.dense is not None and h.dense.score >= min_dense)]


def numbered_context(hits: list[SearchHit], budget_tokens: int, count_tokens: Any) -> tuple[str, list[SearchHit]]:
    """``[n] title — text`` blocks, best first, as many as fit the token budget (at least one)."""
    blocks: list[str] = []
    used: list[SearchHit] = []
    spent = 0
    for hit in hits:
        block = passage_block(len(used) + 1, hit)
        cost = count_tokens(block)
        if used and spent + cost > budget_tokens:
            break
        blocks.append(block)
        used.append(hit)
        spent += cost
    return "\n\n".join(blocks), used


def passage_block(number: int, hit: SearchHit) -> str:
    title = str(hit.metadata.get("title", "")).strip()
    return f"[{number}] {title} — {hit.text}" if title else f"[{number}] {hit.text}"


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


def cite_passages(text: str, numbers: list[int], passages: list[SearchHit]) -> tuple[str, list[Citation], list[int]]:
    """Citations for the passage ``numbers`` of a structured answer and any ``[n]`` markers in its text.

    Invalid numbers are reported (and their markers removed). When the text carries no marker of a valid
    citation, the markers are appended, so that the text and the citations always agree.
    """
    text, marked, invalid = check_citations(text, passages)
    _, chosen, invalid_numbers = check_citations(" ".join(f"[{n}]" for n in numbers), passages)
    citations = {c.marker: c for c in marked}
    for citation in chosen:
        citations.setdefault(citation.marker, citation)
    for number in invalid_numbers:
        if number not in invalid:
            invalid.append(number)
    if citations and not marked:
        text = text.rstrip() + " " + "".join(f"[{n}]" for n in citations)
    return text, list(citations.values()), invalid


class PassageChoice(BaseModel):
    """The numbers of the passages that answer the question."""

    passages: list[int] = Field(
        min_length=1,
        max_length=MAX_CITED,
        description="The number n of the passage [n] that answers the question (usually just one).",
    )


@dataclass
class _Prepared:
    """What the answering call needs: the client, the prompt, its messages and params, the numbered passages."""

    llm: ChatClient
    prompt: Prompt
    started: float
    passages: list[SearchHit]
    messages: list[BaseMessage]
    params: dict[str, Any]
    numbers: list[int] | None
    answered_from: list[int]
    extra: dict[str, Any]


class Answerer:
    """Retrieval → prompt → answer with checked citations.

    ``rag_answer`` v1 asks for free text with ``[n]`` markers in one call. From v2
    (``STRUCTURED_FROM_VERSION``) answering takes two calls: the ``rag_select`` prompt picks the passage
    numbers as a ``PassageChoice`` tool call (a required field, which a grammar-constrained backend such
    as llama.cpp cannot leave out, where a small model often forgets markers in free text), then
    ``rag_answer`` answers from the chosen passages only (a small model mixes up passages less when it
    sees only the relevant ones). The chosen passages are the citations.

    ``rag`` and ``llm`` are the services themselves or the slots they are built in; a slot is asked once
    (in a worker thread, the chat client first, so a missing model is a 503 before any search) and what it
    gives is kept: a slot never replaces a service it has built.
    """

    def __init__(
        self,
        rag: RagService | ServiceSlot[RagService],
        llm: ChatClient | ServiceSlot[ChatClient],
        prompts: PromptRegistry,
        *,
        top_k: int = 5,
        min_dense: float = 0.3,
        context_tokens: int = 1500,
        prompt_name: str = "rag_answer",
        prompt_version: int | None = None,
        select_prompt_name: str = "rag_select",
    ) -> None:
        self._rag_source = rag
        self._llm_source = llm
        self._rag: RagService | None = rag if isinstance(rag, RagService) else None
        self._llm: ChatClient | None = llm if isinstance(llm, ChatClient) else None
        self.prompts = prompts
        self.top_k = top_k
        self.min_dense = min_dense
        self.context_tokens = context_tokens
        self.prompt_name = prompt_name
        self.prompt_version = prompt_version
        self.select_prompt_name = select_prompt_name

    async def llm(self) -> ChatClient:
        """The chat client (built by its slot on first use: LLMNotConfigured, LLMUnavailable … until then)."""
        if self._llm is None:
            source = self._llm_source
            assert not isinstance(source, ChatClient)
            self._llm = await anyio.to_thread.run_sync(source.require)
        return self._llm

    async def rag(self) -> RagService:
        """The search service (VectorStoreUnavailable while its slot has none)."""
        if self._rag is None:
            source = self._rag_source
            assert not isinstance(source, RagService)
            self._rag = await anyio.to_thread.run_sync(source.require)
        return self._rag

    def prompt(self) -> Prompt:
        return self.prompts.get(self.prompt_name, self.prompt_version)

    @staticmethod
    def structured(prompt: Prompt) -> bool:
        return prompt.name == "rag_answer" and prompt.version >= STRUCTURED_FROM_VERSION

    async def _retrieve(
        self, collection: str, question: str, top_k: int | None, filters: Filters | None
    ) -> list[SearchHit]:
        rag = await self.rag()
        hits = await anyio.to_thread.run_sync(
            lambda: rag.search(collection, question, top_k=top_k or self.top_k, mode="hybrid", filters=filters)
        )
        return relevant(hits, self.min_dense)

    @staticmethod
    def _meta(llm: ChatClient, prompt: Prompt, started: float, prompt_text: str, answer_text: str) -> dict[str, Any]:
        return {
            **prompt.metadata,
            "provider": llm.provider,
            "model": llm.model_name,
            "input_tokens": llm.count_tokens(prompt_text) if prompt_text else 0,
            "output_tokens": llm.count_tokens(answer_text) if prompt_text else 0,
            "latency_ms": round((time.perf_counter() - started) * 1000, 1),
        }

    def _finish(self, prepared: _Prepared, raw: str) -> Answer:
        """The checked answer for the model's text (and, for a structured answer, its passage numbers)."""
        prompt_text = "\n".join(str(m.content) for m in prepared.messages)
        meta = self._meta(prepared.llm, prepared.prompt, prepared.started, prompt_text, raw)
        passages, numbers = prepared.passages, prepared.numbers
        if is_not_found(raw):
            return Answer(
                answer=NOT_FOUND, found=False, passages=passages, meta=meta, answered_from=prepared.answered_from
            )
        if numbers is None:
            text, citations, invalid = check_citations(raw, passages)
        else:
            text, citations, invalid = cite_passages(raw, numbers, passages)
        return Answer(text, True, citations, invalid, passages, meta, prepared.answered_from)

    async def select(
        self, llm: ChatClient, passages: list[SearchHit], context: str, question: str
    ) -> tuple[list[int], str, list[int], dict[str, Any]]:
        """The numbers of the passages the model chose, their context (numbered as before), every number it
        gave (the invalid ones are reported, not cited), and the select prompt's identity."""
        select = self.prompts.get(self.select_prompt_name)
        messages = select.format_messages(context=context, question=question)
        params = select.model_params.model_dump(exclude_none=True)
        choice = await llm.astructured(messages, PassageChoice, params)
        numbers = list(dict.fromkeys(choice.passages))
        valid = [n for n in numbers if 1 <= n <= len(passages)] or [1]
        chosen_context = "\n\n".join(passage_block(n, passages[n - 1]) for n in valid)
        meta = {
            "select_prompt_name": select.name,
            "select_prompt_version": select.version,
            "select_prompt_sha256": select.sha256,
        }
        cited = valid + [n for n in numbers if n not in valid]
        return valid, chosen_context, cited, meta

    async def _prepare(
        self, collection: str, question: str, top_k: int | None, filters: Filters | None
    ) -> _Prepared | Answer:
        """Everything up to the answering call, or the "not found" answer when nothing relevant came back."""
        started = time.perf_counter()
        llm = await self.llm()
        prompt = self.prompt()
        hits = await self._retrieve(collection, question, top_k, filters)
        if not hits:
            return Answer(answer=NOT_FOUND, found=False, meta=self._meta(llm, prompt, started, "", ""))
        context, passages = numbered_context(hits, self.context_tokens, llm.count_tokens)
        numbers: list[int] | None = None
        answered_from = list(range(1, len(passages) + 1))
        extra: dict[str, Any] = {}
        if self.structured(prompt):
            answered_from, context, numbers, extra = await self.select(llm, passages, context, question)
        return _Prepared(
            llm=llm,
            prompt=prompt,
            started=started,
            passages=passages,
            messages=prompt.format_messages(context=context, question=question),
            params=prompt.model_params.model_dump(exclude_none=True),
            numbers=numbers,
            answered_from=answered_from,
            extra=extra,
        )

    def _checked(self, prepared: _Prepared, raw: str) -> Answer:
        answer = self._finish(prepared, raw.strip())
        answer.meta.update(prepared.extra)
        return answer

    async def answer(
        self, collection: str, question: str, top_k: int | None = None, filters: Filters | None = None
    ) -> Answer:
        prepared = await self._prepare(collection, question, top_k, filters)
        if isinstance(prepared, Answer):
            return prepared
        reply = await prepared.llm.ainvoke(prepared.messages, **prepared.params)
        return self._checked(prepared, str(reply.content))

    async def stream(
        self, collection: str, question: str, top_k: int | None = None, filters: Filters | None = None
    ) -> AsyncIterator[tuple[str, Any]]:
        """Events: ``("token", text)`` as the model writes, then ``("answer", Answer)`` with checked citations."""
        prepared = await self._prepare(collection, question, top_k, filters)
        if isinstance(prepared, Answer):
            yield "token", prepared.answer
            yield "answer", prepared
            return
        llm = prepared.llm
        pieces: list[str] = []
        async with llm.slot():
            with translate_llm_errors(llm.provider, llm.model_name):
                async for chunk in llm.model.astream(prepared.messages, **llm.call_params(prepared.params)):
                    token = str(chunk.content)
                    if token:
                        pieces.append(token)
                        yield "token", token
        yield "answer", self._checked(prepared, "".join(pieces))


def build_answerer(
    settings: SearchSettings,
    rag: RagService | ServiceSlot[RagService],
    llm: ChatClient | ServiceSlot[ChatClient],
    prompts: PromptRegistry,
    *,
    prompt_name: str = "rag_answer",
    prompt_version: int | None = None,
) -> Answerer:
    """The one ``Answerer`` the API, the CLI and evaluation share, from the search settings (evaluation passes
    the suite's prompt version and its caching chat client; everyone else the latest prompt)."""
    return Answerer(
        rag,
        llm,
        prompts,
        top_k=settings.answer_top_k,
        min_dense=settings.answer_min_dense,
        context_tokens=settings.answer_context_tokens,
        prompt_name=prompt_name,
        prompt_version=prompt_version,
    )
