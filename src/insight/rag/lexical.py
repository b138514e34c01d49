"""BM25 over a collection's chunks (bm25s), rebuilt from Chroma when the collection changes.

bm25s has no incremental update; rebuilding from the stored chunk texts is cheap (about a second
for SciFact's 5k abstracts) and keeps every replica consistent with Chroma, which stays the one
source of truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import bm25s
import numpy as np
import Stemmer

_STEMMER = Stemmer.Stemmer("english")


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    tokenized = bm25s.tokenize(list(texts), stopwords="en", stemmer=_STEMMER, show_progress=False, return_ids=False)
    return [list(tokens) for tokens in tokenized]


@dataclass(frozen=True)
class LexicalHit:
    position: int
    score: float


class LexicalIndex:
    def __init__(self, ids: Sequence[str], texts: Sequence[str], k1: float, b: float) -> None:
        self.ids = list(ids)
        self._retriever: bm25s.BM25 | None = None
        if self.ids:
            self._retriever = bm25s.BM25(k1=k1, b=b, method="lucene")
            self._retriever.index(tokenize(texts), show_progress=False)

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, query: str, k: int) -> list[LexicalHit]:
        if self._retriever is None or k <= 0:
            return []
        tokens = tokenize([query])
        if not tokens[0]:
            return []
        positions, scores = self._retriever.retrieve(tokens, k=min(k, len(self.ids)), show_progress=False, n_threads=1)
        return [
            LexicalHit(int(p), float(s))
            for p, s in zip(np.asarray(positions)[0], np.asarray(scores)[0], strict=True)
            if s > 0
        ]
