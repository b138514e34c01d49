"""Pseudo-relevance feedback: the maths on hand-computed cases, and hybrid search with it off, neutral and on."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from insight.config import SearchSettings, VectorStoreSettings
from insight.rag.prf import DocumentTerms, document_weights, expanded_scores, feedback_documents, rocchio
from insight.rag.protocols import Scores
from insight.rag.search import SearchHit
from insight.rag.service import RagService
from insight.rag.store import ChromaStore, build_chroma_client
from insight.tokens import get_encoding
from tests.rag.fakes import HashEmbeddings, doc

# --- the maths ---------------------------------------------------------------------------------------------


def test_rocchio_adds_alpha_times_the_mean_feedback_vector_and_normalises() -> None:
    query = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    feedback = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    # q + 1 · (0, .5, .5) = (1, .5, .5); its norm is sqrt(1.5)
    moved = rocchio(query, feedback, alpha=1.0)
    assert moved == pytest.approx([1 / math.sqrt(1.5), 0.5 / math.sqrt(1.5), 0.5 / math.sqrt(1.5)], abs=1e-6)
    # alpha 0.5: (1, .25, .25) / sqrt(1.125)
    assert rocchio(query, feedback, alpha=0.5)[1] == pytest.approx(0.25 / math.sqrt(1.125), abs=1e-6)


def test_rocchio_is_the_query_itself_without_alpha_or_feedback() -> None:
    query = np.array([0.6, 0.8], dtype=np.float32)
    assert rocchio(query, np.array([[1.0, 0.0]], dtype=np.float32), alpha=0.0) is query
    assert rocchio(query, np.zeros((0, 2), dtype=np.float32), alpha=1.0) is query


def test_feedback_documents_are_the_best_fused_ones_ties_by_position() -> None:
    assert feedback_documents({4: 0.2, 7: 0.9, 1: 0.5, 3: 0.5}, 3) == [(7, 0.9), (1, 0.5), (3, 0.5)]
    assert feedback_documents({}, 3) == []


def test_document_weights_are_scores_above_the_lowest_plus_a_floor_summing_to_one() -> None:
    # raw: .9 - .4 + .001 = .501, .5 - .4 + .001 = .101, .001; total .603
    weights = document_weights([(0, 0.9), (1, 0.5), (2, 0.4)])
    assert weights == pytest.approx([0.501 / 0.603, 0.101 / 0.603, 0.001 / 0.603])
    assert document_weights([(5, 0.3)]) == pytest.approx([1.0])


def test_rm3_expansion_weights_on_a_hand_computed_collection() -> None:
    terms = DocumentTerms.from_tokens([["a", "a", "b"], ["b", "c"], ["d"]])  # N = 3; df a 1, b 2, c 1, d 1
    # one feedback document (weight 1), length 3: rel(a) = 2/3 · ln 3, rel(b) = 1/3 · ln 1.5; c and d are not in it
    rel_a, rel_b = 2 / 3 * math.log(3), 1 / 3 * math.log(1.5)
    weights = terms.expansion(["c"], [(0, 1.0)], terms=2, interpolation=0.4)
    assert weights == pytest.approx({"c": 0.6, "a": 0.4 * rel_a / (rel_a + rel_b), "b": 0.4 * rel_b / (rel_a + rel_b)})
    assert sum(weights.values()) == pytest.approx(1.0)
    # one expansion term: the best one only, and a query term that is also expanded gets both parts
    assert terms.expansion(["a", "c"], [(0, 1.0)], terms=1, interpolation=0.4) == pytest.approx(
        {"a": 0.3 + 0.4, "c": 0.3}
    )


def test_rm3_expansion_skips_terms_found_in_every_document() -> None:
    terms = DocumentTerms.from_tokens([["x", "y"], ["x"]])  # x: idf ln(2/2) = 0
    assert terms.expansion(["q"], [(0, 1.0)], terms=5, interpolation=0.5) == pytest.approx({"q": 0.5, "y": 0.5})


class _FixedIndex:
    """A ``LexicalIndex`` whose per-term scores are given."""

    def __init__(self, per_term: dict[str, list[float]]) -> None:
        self.per_term = per_term
        self.ids = ["d0", "d1", "d2"]

    def __len__(self) -> int:
        return 3

    def query_tokens(self, query: str) -> list[str]:
        return query.split()

    def scores(self, tokens: Sequence[str]) -> Scores:
        total = np.zeros(3, dtype=np.float32)
        for token in tokens:
            total += np.asarray(self.per_term.get(token, [0.0, 0.0, 0.0]), dtype=np.float32)
        return total


def test_expanded_scores_are_the_weighted_sum_of_each_terms_bm25() -> None:
    index = _FixedIndex({"a": [1.0, 0.0, 2.0], "b": [0.0, 4.0, 1.0]})
    scores = expanded_scores(index, {"a": 0.5, "b": 0.25, "zzz": 1.0})
    assert scores.tolist() == pytest.approx([0.5, 1.0, 1.25])


# --- in hybrid search -------------------------------------------------------------------------------------

CORPUS = [
    doc("alpha", "The quasar and the pulsar were seen through the nebula.", title="Sky notes one"),
    doc("beta", "A quasar shines; pulsar timing and nebula spectra follow.", title="Sky notes two"),
    doc("gamma", "Pulsar glitches inside a nebula remnant, timing studied.", title="Remnant study"),
    doc("delta", "Fresh pasta needs flour, eggs and a little salt.", title="Kitchen"),
    doc("epsilon", "Pulsar timing arrays and nebula dust, no quasar here? quasar yes.", title="Arrays", team="ops"),
]


MakeRag = Callable[..., RagService]


@pytest.fixture
def make_rag(tmp_path: Path) -> MakeRag:
    store = ChromaStore(build_chroma_client(VectorStoreSettings(path=tmp_path / "store")), "hash-bow-64")
    embedder = HashEmbeddings()

    def build(**changes: object) -> RagService:
        return RagService(store, embedder, get_encoding(), SearchSettings(chunk_tokens=48, chunk_overlap=8, **changes))

    build().ingest("sky", CORPUS)
    return build


def _ranked(hits: list[SearchHit]) -> list[tuple[str, float]]:
    return [(h.doc_id, round(h.score, 6)) for h in hits]


def test_feedback_off_ignores_its_other_settings(make_rag: MakeRag) -> None:
    plain = make_rag()
    tuned_but_off = make_rag(feedback_docs=0, feedback_dense_alpha=5.0, feedback_terms=50, feedback_lexical_share=1.0)
    for query in ("quasar", "pulsar nebula timing", "pasta"):
        assert _ranked(tuned_but_off.search("sky", query)) == _ranked(plain.search("sky", query))
    assert tuned_but_off.searcher._terms == {}  # nothing built for feedback


def test_feedback_with_both_parts_at_zero_fuses_to_the_same_ranking(make_rag: MakeRag) -> None:
    plain = make_rag()
    neutral = make_rag(feedback_docs=3, feedback_dense_alpha=0.0, feedback_terms=0)
    for query in ("quasar", "pulsar nebula timing", "pasta"):
        assert _ranked(neutral.search("sky", query)) == _ranked(plain.search("sky", query))


def test_rm3_brings_in_a_document_that_shares_the_feedback_terms_but_not_the_query(make_rag: MakeRag) -> None:
    lexical_only = {"dense_weight": 0.0, "first_chunk_weight": 0.0, "lexical_weight": 1.0}
    before = {h.doc_id for h in make_rag(**lexical_only).search("sky", "quasar")}
    assert before == {"alpha", "beta", "epsilon"}  # only documents with the query's term
    after = make_rag(**lexical_only, feedback_docs=2, feedback_dense_alpha=0.0).search("sky", "quasar")
    assert "gamma" in {h.doc_id for h in after}  # pulsar, nebula, timing came from the feedback documents
    assert "delta" not in {h.doc_id for h in after}


def test_feedback_keeps_filters_one_hit_per_document_and_the_querys_own_breakdown(make_rag: MakeRag) -> None:
    plain, feedback = make_rag(), make_rag(feedback_docs=3)
    hits = feedback.search("sky", "pulsar nebula", filters={"team": "ops"})
    assert [h.doc_id for h in hits] == ["epsilon"]
    hits = feedback.search("sky", "quasar pulsar", top_k=10)
    assert len({h.doc_id for h in hits}) == len(hits)
    own = {h.doc_id: (h.dense, h.lexical, h.first_chunk) for h in plain.search("sky", "quasar pulsar", top_k=10)}
    assert {h.doc_id: (h.dense, h.lexical, h.first_chunk) for h in hits} == own
