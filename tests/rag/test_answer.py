"""Answers with citations: context building, citation checking, not-found, streaming (fake model)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from insight.config import LLMSettings, SearchSettings
from insight.errors import InsightError, LLMNotConfigured, VectorStoreUnavailable
from insight.llm.client import LLMClient
from insight.prompts import PromptRegistry
from insight.rag.answer import (
    NOT_FOUND,
    Answerer,
    build_answerer,
    check_citations,
    cite_passages,
    numbered_context,
    relevant,
)
from insight.rag.search import RankScore, SearchHit
from insight.rag.service import RagService
from tests.analysis.fakes import ToolCallingFake, tool_reply
from tests.conftest import REPO_ROOT
from tests.rag.test_service import corpus


def hit(n: int, dense: float | None = 0.5, lexical: float | None = None) -> SearchHit:
    return SearchHit(
        chunk_id=f"d{n}#0",
        doc_id=f"d{n}",
        text=f"passage {n}",
        metadata={"title": f"Doc {n}", "source": f"d{n}.md", "start": 0, "end": 9},
        score=1.0 / n,
        dense=RankScore(n, dense) if dense is not None else None,
        lexical=RankScore(n, lexical) if lexical is not None else None,
    )


def fake_llm(*replies: str) -> LLMClient:
    model = GenericFakeChatModel(messages=itertools.cycle([AIMessage(content=r) for r in replies]))
    return LLMClient(model, LLMSettings(provider="openai_compatible", base_url="http://x", model="fake"))


def test_relevance_gate_keeps_lexical_matches_and_close_dense_hits() -> None:
    hits = [hit(1, dense=0.1, lexical=2.0), hit(2, dense=0.6), hit(3, dense=0.1)]
    assert [h.doc_id for h in relevant(hits, min_dense=0.3)] == ["d1", "d2"]


def test_context_is_numbered_and_bounded_by_tokens() -> None:
    context, used = numbered_context([hit(1), hit(2), hit(3)], budget_tokens=12, count_tokens=lambda s: len(s.split()))
    assert context.startswith("[1] Doc 1 — passage 1")
    assert [h.doc_id for h in used] == ["d1", "d2"]


def test_citations_are_checked_and_invalid_markers_removed() -> None:
    text, citations, invalid = check_citations("Refunds take 30 days [2]. Also [7] and [2][1].", [hit(1), hit(2)])
    assert [c.marker for c in citations] == [2, 1]
    assert citations[0].doc_id == "d2" and citations[0].chunk_id == "d2#0" and citations[0].end == 9
    assert invalid == [7]
    assert text == "Refunds take 30 days [2]. Also and [2][1]."


@pytest.fixture
def answer_rag(rag: RagService, collection_name: str) -> tuple[RagService, str]:
    rag.ingest(collection_name, corpus())
    return rag, collection_name


def prompts() -> PromptRegistry:
    return PromptRegistry(REPO_ROOT / "prompts")


MARKERS = 1  # rag_answer v1: free text with [n] markers (v2 and later: a structured CitedAnswer)


def cited_llm(numbers: list[int], text: str) -> LLMClient:
    """A fake for rag_answer v2: it chooses passages ``numbers`` (a ``PassageChoice`` call), then answers ``text``."""
    return LLMClient(cited_model(numbers, text), LLMSettings(provider="local"))


def cited_model(numbers: list[int], text: str) -> ToolCallingFake:
    choice = tool_reply({"passages": numbers}, name="PassageChoice")
    return ToolCallingFake(messages=itertools.cycle([choice, AIMessage(content=text)]))


@pytest.mark.anyio
async def test_answer_cites_the_retrieved_chunk(answer_rag: tuple[RagService, str]) -> None:
    rag, name = answer_rag
    answerer = Answerer(
        rag, fake_llm("Refunds are paid within 30 days [1]. See also [9]."), prompts(), prompt_version=MARKERS
    )
    answer = await answerer.answer(name, "When are refunds paid?")
    assert answer.found
    assert answer.citations[0].doc_id == "refunds"
    assert answer.invalid_citations == [9] and "[9]" not in answer.answer
    assert answer.meta["prompt_name"] == "rag_answer" and answer.meta["input_tokens"] > 0


@pytest.mark.anyio
async def test_nothing_relevant_means_not_found_without_calling_the_model(answer_rag: tuple[RagService, str]) -> None:
    rag, name = answer_rag
    llm = fake_llm("should never be used [1]")
    answerer = Answerer(rag, llm, prompts(), min_dense=0.99)
    answer = await answerer.answer(name, "zzzz qqqq")
    assert not answer.found and answer.answer == NOT_FOUND and answer.citations == []
    assert answer.meta["input_tokens"] == 0


@pytest.mark.anyio
async def test_model_saying_not_found_is_reported_as_not_found(answer_rag: tuple[RagService, str]) -> None:
    rag, name = answer_rag
    answerer = Answerer(rag, fake_llm("Not found in the documents."), prompts(), prompt_version=MARKERS)
    answer = await answerer.answer(name, "refund policy?")
    assert not answer.found and answer.citations == []


@pytest.mark.anyio
async def test_stream_yields_tokens_then_the_checked_answer(answer_rag: tuple[RagService, str]) -> None:
    rag, name = answer_rag
    answerer = Answerer(rag, fake_llm("Parcels ship every weekday [1]."), prompts(), prompt_version=MARKERS)
    events = [event async for event in answerer.stream(name, "when do parcels ship?")]
    tokens = [value for kind, value in events if kind == "token"]
    assert "".join(tokens).strip() == "Parcels ship every weekday [1]."
    kind, final = events[-1]
    assert kind == "answer" and final.citations[0].doc_id == "shipping"


def test_structured_passage_numbers_become_citations_and_markers() -> None:
    text, citations, invalid = cite_passages("Refunds take 30 days.", [2, 7, 2], [hit(1), hit(2)])
    assert [c.marker for c in citations] == [2] and invalid == [7]
    assert text == "Refunds take 30 days. [2]"


def test_markers_in_a_structured_answer_count_too() -> None:
    text, citations, invalid = cite_passages("Refunds take 30 days [1].", [2], [hit(1), hit(2)])
    assert [c.marker for c in citations] == [1, 2] and invalid == []
    assert text == "Refunds take 30 days [1]."


def test_the_latest_prompt_answers_structured() -> None:
    answerer = Answerer(None, fake_llm("x"), prompts())  # type: ignore[arg-type]
    assert Answerer.structured(answerer.prompt())
    assert not Answerer.structured(prompts().get("rag_answer", MARKERS))


@pytest.mark.anyio
async def test_the_answer_comes_from_the_chosen_passage_only(answer_rag: tuple[RagService, str]) -> None:
    rag, name = answer_rag
    model = cited_model([1, 9], "Refunds are paid within 30 days.")
    answerer = Answerer(rag, LLMClient(model, LLMSettings(provider="local")), prompts(), min_dense=-1.0)
    answer = await answerer.answer(name, "When are refunds paid?")
    assert answer.found and [c.doc_id for c in answer.citations] == ["refunds"]
    assert answer.answer == "Refunds are paid within 30 days. [1]" and answer.invalid_citations == [9]
    select, respond = model.received
    assert "[2]" in select[-1].text and len(answer.passages) >= 2  # the choice sees every passage
    assert "[1]" in respond[-1].text and "[2]" not in respond[-1].text  # the answer sees the chosen one
    assert answer.meta["prompt_version"] >= 2 and answer.meta["select_prompt_name"] == "rag_select"


@pytest.mark.anyio
async def test_no_valid_choice_falls_back_to_the_best_passage(answer_rag: tuple[RagService, str]) -> None:
    rag, name = answer_rag
    answer = await Answerer(rag, cited_llm([42], "Refunds are paid within 30 days."), prompts()).answer(
        name, "When are refunds paid?"
    )
    assert [c.marker for c in answer.citations] == [1] and answer.invalid_citations == [42]


@pytest.mark.anyio
async def test_structured_not_found_drops_the_citations(answer_rag: tuple[RagService, str]) -> None:
    rag, name = answer_rag
    answerer = Answerer(rag, cited_llm([1], "not found in the documents"), prompts())
    answer = await answerer.answer(name, "refund policy?")
    assert not answer.found and answer.answer == NOT_FOUND and answer.citations == []


@pytest.mark.anyio
async def test_structured_stream_sends_tokens_then_the_citations(answer_rag: tuple[RagService, str]) -> None:
    rag, name = answer_rag
    answerer = Answerer(rag, cited_llm([1], "Parcels ship every weekday."), prompts())
    events = [event async for event in answerer.stream(name, "when do parcels ship?")]
    assert "".join(value for kind, value in events if kind == "token") == "Parcels ship every weekday."
    kind, final = events[-1]
    assert kind == "answer" and final.citations[0].doc_id == "shipping"
    assert final.answer == "Parcels ship every weekday. [1]"


class CountingSlot:
    """A slot that builds its service on the first ``require`` (and counts them), like ``RagSlot``/``LLMSlot``."""

    def __init__(self, service: Any = None, problem: InsightError | None = None) -> None:
        self.service, self.problem, self.calls = service, problem, 0

    def require(self) -> Any:
        self.calls += 1
        if self.problem is not None:
            raise self.problem
        return self.service


@pytest.mark.anyio
async def test_built_from_settings_with_slots_resolved_once_on_use(answer_rag: tuple[RagService, str]) -> None:
    rag, name = answer_rag
    rag_slot = CountingSlot(rag)
    llm_slot = CountingSlot(cited_llm([1], "Refunds are paid within 30 days."))
    settings = SearchSettings(answer_top_k=2, answer_min_dense=-1.0, answer_context_tokens=300)
    answerer = build_answerer(settings, rag_slot, llm_slot, prompts(), prompt_name="rag_answer")
    assert (answerer.top_k, answerer.min_dense, answerer.context_tokens) == (2, -1.0, 300)
    assert (rag_slot.calls, llm_slot.calls) == (0, 0)  # built before either service exists
    for _ in range(3):
        answer = await answerer.answer(name, "When are refunds paid?")
        assert answer.found and answer.citations[0].doc_id == "refunds"
    assert (rag_slot.calls, llm_slot.calls) == (1, 1)
    assert len(answer.passages) == 2 and answer.answered_from == [1]
    assert answer.answered_context().startswith("[1] ") and "[2]" not in answer.answered_context()


@pytest.mark.anyio
async def test_a_missing_model_is_reported_before_any_search() -> None:
    rag_slot = CountingSlot(problem=VectorStoreUnavailable("no store"))
    answerer = build_answerer(
        SearchSettings(),
        rag_slot,
        CountingSlot(problem=LLMNotConfigured("no model")),
        prompts(),
        prompt_name="rag_answer",
    )
    with pytest.raises(LLMNotConfigured):
        await answerer.answer("any", "question?")
    assert rag_slot.calls == 0


@pytest.mark.anyio
async def test_markers_answer_from_every_passage_shown(answer_rag: tuple[RagService, str]) -> None:
    rag, name = answer_rag
    answerer = Answerer(rag, fake_llm("Refunds are paid within 30 days [1]."), prompts(), prompt_version=MARKERS)
    answer = await answerer.answer(name, "When are refunds paid?")
    assert answer.answered_from == list(range(1, len(answer.passages) + 1))
