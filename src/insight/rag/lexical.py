"""BM25 (bm25s) over a collection's chunks or documents, rebuilt from Chroma when the collection changes.

``Bm25Index`` is the ``LexicalIndex`` (``insight.rag.protocols``) that hybrid search uses.

bm25s has no incremental update; rebuilding from the stored chunk texts is cheap (about a second
for SciFact's 5k abstracts) and keeps every replica consistent with Chroma, which stays the one
source of truth.
"""

from __future__ import annotations

from collections.abc import Sequence

import bm25s
import numpy as np
import numpy.typing as npt
import Stemmer

from insight.rag.protocols import Scores

_STEMMER = Stemmer.Stemmer("english")


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    tokenized = bm25s.tokenize(list(texts), stopwords="en", stemmer=_STEMMER, show_progress=False, return_ids=False)
    return [list(tokens) for tokens in tokenized]


class Bm25Index:
    """Lucene-variant BM25 over ``texts`` (English stop words removed, Snowball-stemmed); positions index ``ids``."""

    def __init__(self, ids: Sequence[str], texts: Sequence[str], k1: float, b: float) -> None:
        self.ids = list(ids)
        self._retriever: bm25s.BM25 | None = None
        tokens = tokenize(texts) if self.ids else []
        if any(tokens):  # bm25s divides by the mean length: an index of no terms at all stays empty
            self._retriever = bm25s.BM25(k1=k1, b=b, method="lucene")
            self._retriever.index(tokens, show_progress=False)

    def __len__(self) -> int:
        return len(self.ids)

    def query_tokens(self, query: str) -> list[str]:
        return tokenize([query])[0]

    def scores(self, tokens: Sequence[str]) -> Scores:
        """BM25 of every indexed text for already tokenised query terms (0 where no term matches)."""
        if self._retriever is None or not tokens:
            return np.zeros(len(self.ids), dtype=np.float32)
        vocabulary = self._retriever.vocab_dict
        known = [token for token in tokens if token in vocabulary]
        if not known:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self._retriever.get_scores(known), dtype=np.float32)


def top_positions(scores: Scores, k: int) -> npt.NDArray[np.intp]:
    """Positions of the ``k`` highest scores, best first; ties by position (stable)."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.intp)
    part = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    return part[np.lexsort((part, -scores[part]))]
