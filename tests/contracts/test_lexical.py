"""The ``LexicalIndex`` contract, run against every implementation (today ``Bm25Index``, bm25s)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from insight.rag.lexical import Bm25Index
from insight.rag.protocols import LexicalIndex

BuildIndex = Callable[[Sequence[str], Sequence[str]], LexicalIndex]

IMPLEMENTATIONS: dict[str, BuildIndex] = {
    "bm25": lambda ids, texts: Bm25Index(ids, texts, k1=0.9, b=0.75),
}
IDS = ["refunds", "shipping", "security", "holidays"]
TEXTS = [
    "Refunds are paid within 30 days to the original card.",
    "Parcels ship from the Leeds warehouse every weekday; tracking numbers arrive by email.",
    "Passwords rotate every ninety days and laptops use full disk encryption.",
    "Staff take twenty five days of annual leave plus public holidays.",
]


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def build(request: pytest.FixtureRequest) -> BuildIndex:
    return IMPLEMENTATIONS[request.param]


def scores_for(index: LexicalIndex, query: str) -> np.ndarray:
    return index.scores(index.query_tokens(query))


def test_is_a_lexical_index_over_its_ids(build: BuildIndex) -> None:
    index = build(IDS, TEXTS)
    assert isinstance(index, LexicalIndex)
    assert index.ids == IDS and len(index) == len(IDS)


def test_scores_are_float32_aligned_with_the_ids(build: BuildIndex) -> None:
    scores = scores_for(build(IDS, TEXTS), "warehouse parcels")
    assert scores.dtype == np.float32 and scores.shape == (len(IDS),)
    assert (scores >= 0).all()
    assert int(np.argmax(scores)) == IDS.index("shipping")
    assert scores[IDS.index("security")] == 0.0  # no query term in it


def test_query_terms_are_normalised_like_the_texts(build: BuildIndex) -> None:
    index = build(IDS, TEXTS)
    tokens = index.query_tokens("The PASSWORDS are rotating")
    assert tokens and "the" not in tokens  # stop words go, case folds
    assert int(np.argmax(index.scores(tokens))) == IDS.index("security")  # "rotating" meets "rotate"


def test_unknown_or_no_terms_score_zero(build: BuildIndex) -> None:
    index = build(IDS, TEXTS)
    for query in ("zebra quantum", "", "the and of"):
        np.testing.assert_array_equal(scores_for(index, query), np.zeros(len(IDS), dtype=np.float32))


def test_more_occurrences_score_higher_at_equal_length(build: BuildIndex) -> None:
    index = build(["once", "twice"], ["invoice late payment reminder", "invoice invoice payment reminder"])
    scores = scores_for(index, "invoice")
    assert scores[1] > scores[0] > 0


def test_a_rare_term_outweighs_a_common_one(build: BuildIndex) -> None:
    texts = ["order status update", "order status update", "order refund update", "order status update"]
    index = build([f"d{i}" for i in range(len(texts))], texts)
    scores = scores_for(index, "order refund")
    assert int(np.argmax(scores)) == 2


def test_an_empty_index_scores_nothing(build: BuildIndex) -> None:
    empty = build([], [])
    assert len(empty) == 0 and scores_for(empty, "anything").shape == (0,)
    only_stop_words = build(["a", "b"], ["the and of", "is it"])
    np.testing.assert_array_equal(scores_for(only_stop_words, "the"), np.zeros(2, dtype=np.float32))


def test_scores_do_not_depend_on_earlier_queries(build: BuildIndex) -> None:
    index = build(IDS, TEXTS)
    first = scores_for(index, "annual leave")
    scores_for(index, "warehouse tracking email")
    np.testing.assert_array_equal(scores_for(index, "annual leave"), first)
