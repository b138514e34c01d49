"""Answers with citations: hybrid retrieval → answer-sentence selection → an extractive or a verified answer.

Three modes (``AnswerSettings.mode``, or per request):

- ``extractive``: the best sentence(s) of the retrieved passages (``insight.rag.extractive``), verbatim,
  each cited with its document, chunk and exact span. No model call. When no sentence scores at least
  ``found_threshold`` the answer is "not found in the documents", with the nearest passages as ``related``.
- ``generative``: the extractive answer first; then the model (``rag_extract``) picks one of the best
  sentences and copies the short phrase that answers; the phrase is snapped to the run of words of that
  sentence it matches best (``insight.rag.spans``), so the answer is a verbatim quote with an exact span, and
  ``insight.rag.verify`` checks that every number and name the model wrote is in that run. When no run
  matches well enough, or a term is missing (or the call fails), the extractive answer is returned and
  ``meta`` says why.
- ``passages`` (the ``rag_answer`` prompts, kept for evaluation against them): the model answers from whole
  passages, as below.


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
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, TypeVar

import anyio.to_thread
from langchain_core.messages import BaseMessage
from pydantic import BaseModel, Field

from insight.config import AnswerSettings, SearchSettings
from insight.errors import InsightError
from insight.llm.errors import translate_llm_errors
from insight.llm.protocols import ChatClient
from insight.prompts import Prompt, PromptRegistry
from insight.rag.extractive import ScoredSentence, Selection, SentenceSelector
from insight.rag.search import Filters, SearchHit
from insight.rag.service import RagService
from insight.rag.spans import snap
from insight.rag.verify import cleaned, verify

NOT_FOUND = "not found in the documents"
STRUCTURED_FROM_VERSION = 2
MAX_CITED = 2
_MARKER = re.compile(r"\[(\d{1,3})\]")
AnswerMode = Literal["extractive", "generative", "passages"]
EXTRACT_PROMPT = "rag_extract"

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
    quote: str | None = None
    """The answer sentence this citation stands for (extractive and generative modes), verbatim."""
    quote_start: int | None = None
    """Its span in the document's text (``quote == document_text[quote_start:quote_end]``)."""
    quote_end: int | None = None
    score: float | None = None
    """The sentence's selection score."""


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
    mode: AnswerMode = "passages"
    """How this answer was made (a generative answer that failed verification says ``extractive``)."""
    related: list[SearchHit] = field(default_factory=list)
    """Not found: the nearest passages, best first."""

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
                citations[marker] = citation_of(marker, passages[marker - 1])
        elif marker not in invalid:
            invalid.append(marker)
    if invalid:
        text = _MARKER.sub(lambda m: "" if int(m.group(1)) in invalid else m.group(0), text)
        text = re.sub(r"[ \t]{2,}", " ", text).strip()
    return text, list(citations.values()), invalid


def citation_of(marker: int, hit: SearchHit, quote: ScoredSentence | None = None) -> Citation:
    """The citation of ``hit``; with ``quote``, the sentence and its span in the document (chunk start + offset)."""
    meta = hit.metadata
    page = meta.get("page")
    start = int(meta.get("start", 0))
    citation = Citation(
        marker=marker,
        doc_id=hit.doc_id,
        chunk_id=hit.chunk_id,
        title=str(meta.get("title", "")),
        source=str(meta.get("source", "")),
        start=start,
        end=int(meta.get("end", 0)),
        page=int(page) if page is not None else None,
        text=hit.text,
    )
    if quote is None:
        return citation
    sentence = quote.sentence
    return replace(
        citation,
        quote=sentence.text,
        quote_start=start + sentence.start,
        quote_end=start + sentence.end,
        score=round(quote.score, 4),
    )


def quoted_citations(sentences: list[ScoredSentence]) -> list[Citation]:
    """One citation per sentence, numbered in answer order (two sentences of one passage cite it twice)."""
    return [citation_of(n, s.hit, s) for n, s in enumerate(sentences, start=1)]


def extractive_answer(
    hits: list[SearchHit], selection: Selection, settings: AnswerSettings, started: float | None = None
) -> Answer:
    """The best sentence(s) verbatim with their citations, or not found (``related``: the nearest passages).

    ``passages`` are the hits re-ranked by their best sentence. Pure: the bench calls it on hits it chose.
    """
    reranked = [hits[p] for p in selection.passage_order]
    meta: dict[str, Any] = {
        "answer_mode": "extractive",
        "best_sentence_score": round(selection.best_score, 4),
        "found_threshold": settings.found_threshold,
        "input_tokens": 0,
        "output_tokens": 0,
    }
    if started is not None:
        meta["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    if not selection.sentences or selection.best_score < settings.found_threshold:
        meta["not_found_reason"] = (
            "no passage was retrieved" if not hits else "no sentence scored at least the found threshold"
        )
        return Answer(NOT_FOUND, False, passages=reranked, meta=meta, mode="extractive", related=reranked)
    chosen = selection.answer_sentences(settings)
    return Answer(
        " ".join(s.sentence.text for s in chosen),
        True,
        quoted_citations(chosen),
        passages=reranked,
        meta=meta,
        mode="extractive",
    )


class SpanAnswer(BaseModel):
    """The sentence that answers the question, then the shortest phrase of it that does."""

    sentence: int = Field(ge=1, le=10, description="the number n of the sentence [n] that answers the question")
    answer: str = Field(
        min_length=1, max_length=120, description="the shortest phrase copied from that sentence that answers"
    )


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
        mode: AnswerMode = "passages",
        answer_settings: AnswerSettings | None = None,
        extract_prompt_name: str = EXTRACT_PROMPT,
        extract_prompt_version: int | None = None,
    ) -> None:
        self.mode: AnswerMode = mode
        self.extract_prompt_version = extract_prompt_version
        self.answer_settings = answer_settings or AnswerSettings()
        self.extract_prompt_name = extract_prompt_name
        self._selector: SentenceSelector | None = None
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

    def selector(self, rag: RagService) -> SentenceSelector:
        if self._selector is None:
            self._selector = SentenceSelector(self.answer_settings, rag.embedder)
        return self._selector

    async def extractive(
        self, collection: str, question: str, top_k: int | None = None, filters: Filters | None = None
    ) -> tuple[Answer, Selection]:
        """The extractive answer (no model call) and the sentence selection it came from."""
        started = time.perf_counter()
        rag = await self.rag()
        selector = self.selector(rag)

        def work() -> tuple[list[SearchHit], Selection]:
            hits = rag.search(
                collection, question, top_k=top_k or self.answer_settings.passages, mode="hybrid", filters=filters
            )
            kept = relevant(hits, self.min_dense)
            snapshot = rag.searcher.snapshot(collection)
            selection = selector.select(question, kept, snapshot.chunk_lexical if snapshot is not None else None)
            if not kept:  # nothing cleared the relevance gate: still show the nearest as related
                return hits, Selection([], list(range(len(hits))))
            return kept, selection

        hits, selection = await anyio.to_thread.run_sync(work)
        return extractive_answer(hits, selection, self.answer_settings, started), selection

    async def generative(self, extractive: Answer, selection: Selection, question: str, started: float) -> Answer:
        """The model's short answer from the best sentences when it verifies; else ``extractive``, saying why."""
        offered = selection.sentences[: self.answer_settings.generative_sentences]
        prompt = self.prompts.get(self.extract_prompt_name, self.extract_prompt_version)
        context = "\n".join(f"[{n}] {s.sentence.text}" for n, s in enumerate(offered, start=1))
        messages = prompt.format_messages(context=context, question=question)
        params = prompt.model_params.model_dump(exclude_none=True)
        try:
            llm = await self.llm()
            choice = await llm.astructured(messages, SpanAnswer, params)
        except InsightError as exc:
            return self._fell_back(extractive, prompt, started, f"the model call failed: {exc.message}", None)
        prompt_text = "\n".join(str(m.content) for m in messages)
        spent = {  # the call happened: its tokens count whichever answer is returned
            "input_tokens": llm.count_tokens(prompt_text),
            "output_tokens": llm.count_tokens(choice.model_dump_json()),
        }
        phrase = cleaned(choice.answer)
        if not 1 <= choice.sentence <= len(offered):
            reason = f"the model chose sentence {choice.sentence}, not offered"
            return self._fell_back(extractive, prompt, started, reason, phrase, spent)
        # Only the sentence the model named is searched: a phrase it copied from another offered sentence (which
        # may be a planted one) is not quoted under a citation the model did not choose.
        chosen = offered[choice.sentence - 1]
        check = verify(phrase, [chosen.sentence.text])
        if not check.ok:
            return self._fell_back(extractive, prompt, started, check.reason or "not verified", phrase, spent)
        span = snap(phrase, [chosen.sentence.text], required=check.checked)
        minimum = self.answer_settings.snap_min_f1
        if span is None or span.f1 < minimum:
            best = f"{span.f1:.2f}" if span is not None else "none"
            reason = f"the model's phrase matches no run of the chosen sentence (best token F1 {best} < {minimum})"
            return self._fell_back(extractive, prompt, started, reason, phrase, spent)
        # every number and name the model wrote must be in the quoted run too: snapping drops words, never claims
        in_run = verify(phrase, [span.text], min_word_share=0.0)
        if not in_run.ok:
            reason = f"{in_run.reason} (the run of the sentence closest to the model's phrase)"
            return self._fell_back(extractive, prompt, started, reason, phrase, spent)
        text = span.text
        meta = {
            **self._meta(llm, prompt, started, prompt_text, choice.model_dump_json()),
            "answer_mode": "generative",
            "verified": True,
            "checked_terms": check.checked,
            "verbatim": True,
            "model_phrase": phrase,
            "span_f1": round(span.f1, 4),
            "extractive_answer": extractive.answer,
        }
        return Answer(
            text,
            True,
            quoted_citations([chosen]),
            passages=extractive.passages,
            meta=meta,
            mode="generative",
        )

    def _fell_back(
        self,
        extractive: Answer,
        prompt: Prompt,
        started: float,
        reason: str,
        rejected: str | None,
        spent: dict[str, int] | None = None,
    ) -> Answer:
        meta = {
            **extractive.meta,
            **(spent or {}),
            "requested_mode": "generative",
            "verified": False,
            "fallback_reason": reason,
            "prompt_name": prompt.name,
            "prompt_version": prompt.version,
            "prompt_sha256": prompt.sha256,
            "latency_ms": round((time.perf_counter() - started) * 1000, 1),
        }
        if rejected is not None:
            meta["rejected_answer"] = rejected
        return replace(extractive, meta=meta)

    async def answer(
        self,
        collection: str,
        question: str,
        top_k: int | None = None,
        filters: Filters | None = None,
        mode: AnswerMode | None = None,
    ) -> Answer:
        mode = mode or self.mode
        if mode != "passages":
            final: Answer | None = None
            async for kind, value in self._sentence_answers(collection, question, top_k, filters, mode):
                if kind == "answer":
                    final = value
            assert final is not None
            return final
        prepared = await self._prepare(collection, question, top_k, filters)
        if isinstance(prepared, Answer):
            return prepared
        reply = await prepared.llm.ainvoke(prepared.messages, **prepared.params)
        return self._checked(prepared, str(reply.content))

    async def _sentence_answers(
        self, collection: str, question: str, top_k: int | None, filters: Filters | None, mode: AnswerMode
    ) -> AsyncIterator[tuple[str, Any]]:
        started = time.perf_counter()
        extractive, selection = await self.extractive(collection, question, top_k, filters)
        if mode == "extractive" or not extractive.found:
            yield "answer", extractive
            return
        yield "extractive", extractive
        yield "answer", await self.generative(extractive, selection, question, started)

    async def stream(
        self,
        collection: str,
        question: str,
        top_k: int | None = None,
        filters: Filters | None = None,
        mode: AnswerMode | None = None,
    ) -> AsyncIterator[tuple[str, Any]]:
        """Events. Extractive and generative modes: ``("extractive", Answer)`` first when the model is to be
        called, then ``("answer", Answer)``, the verified one or the extractive one. Passages mode:
        ``("token", text)`` as the model writes, then ``("answer", Answer)`` with checked citations."""
        mode = mode or self.mode
        if mode != "passages":
            async for event in self._sentence_answers(collection, question, top_k, filters, mode):
                yield event
            return
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
    prompt_name: str | None = None,
    prompt_version: int | None = None,
    answer: AnswerSettings | None = None,
) -> Answerer:
    """The one ``Answerer`` the API, the CLI and evaluation share, from the search and answer settings.

    Its mode is ``answer.mode``, except when evaluation names a ``rag_answer`` prompt (the model answers
    from whole passages, as before sentence selection); ``rag_extract`` versions are the generative mode's.
    """
    answer = answer or AnswerSettings()
    mode: AnswerMode = answer.mode
    if prompt_name == "rag_answer":
        mode = "passages"
    elif prompt_name == EXTRACT_PROMPT:
        mode = "generative"
    return Answerer(
        rag,
        llm,
        prompts,
        top_k=settings.answer_top_k,
        min_dense=settings.answer_min_dense,
        context_tokens=settings.answer_context_tokens,
        prompt_name="rag_answer" if prompt_name is None or prompt_name == EXTRACT_PROMPT else prompt_name,
        prompt_version=None if prompt_name == EXTRACT_PROMPT else prompt_version,
        mode=mode,
        answer_settings=answer,
        extract_prompt_name=EXTRACT_PROMPT,
        extract_prompt_version=prompt_version if prompt_name == EXTRACT_PROMPT else None,
    )
