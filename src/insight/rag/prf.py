"""Pseudo-relevance feedback: the first fusion's top documents refine the query, then the rankings are fused again.

Two kinds, each one extra pass over what the snapshot already holds (no model call):

- **dense (Rocchio on embeddings)**: ``q' = normalise(q + α · mean of the feedback documents' best chunk vectors)``;
  the best-passage and first-passage rankings are recomputed with ``q'`` and replace the query's own.
- **lexical (RM3)**: each stemmed term of the feedback documents gets ``Σ w_doc · tf / length · ln(N / df)``
  (``w_doc`` from the first fusion's scores); the top terms, interpolated with the query's own terms, score
  the document BM25 index (``Σ weight · BM25(term)``). That ranking is fused beside the query's own BM25.

Tuned on SciFact's train split (docs/retrieval-tuning.md §8). ``HybridSearcher`` calls these when
``SearchSettings.feedback_docs`` > 0.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from insight.rag.lexical import tokenize
from insight.rag.protocols import FloatMatrix, LexicalIndex, Scores

_SCORE_FLOOR = 1e-3
"""Added to each feedback document's score above the lowest one, so the last still counts a little."""


def feedback_documents(fused: Mapping[int, float], count: int) -> list[tuple[int, float]]:
    """The ``count`` best documents of a fusion, best first (ties by position)."""
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:count]


def document_weights(feedback: Sequence[tuple[int, float]]) -> list[float]:
    """Each feedback document's share (sums to 1): its fused score above the lowest one, plus a small floor."""
    if not feedback:
        return []
    low = min(score for _, score in feedback)
    raw = [score - low + _SCORE_FLOOR for _, score in feedback]
    total = sum(raw)
    return [value / total for value in raw]


def rocchio(query: FloatMatrix, feedback: FloatMatrix, alpha: float) -> FloatMatrix:
    """``normalise(query + alpha · mean(feedback rows))``; the query itself when there is no feedback."""
    if alpha <= 0 or not len(feedback):
        return query
    moved = query + alpha * feedback.mean(axis=0)
    norm = float(np.linalg.norm(moved))
    return query if norm == 0.0 else (moved / norm).astype(np.float32)


@dataclass(frozen=True)
class DocumentTerms:
    """Term counts of every document of a collection, as the document BM25 index tokenises them."""

    counts: list[Counter[str]]
    lengths: list[int]
    document_frequency: Counter[str]

    @classmethod
    def from_texts(cls, texts: Sequence[str]) -> DocumentTerms:
        return cls.from_tokens(tokenize(texts) if texts else [])

    @classmethod
    def from_tokens(cls, tokens: Sequence[Sequence[str]]) -> DocumentTerms:
        counts = [Counter(doc) for doc in tokens]
        frequency: Counter[str] = Counter()
        for count in counts:
            frequency.update(count.keys())
        return cls(counts, [len(doc) for doc in tokens], frequency)

    def __len__(self) -> int:
        return len(self.counts)

    def expansion(
        self,
        query_tokens: Sequence[str],
        feedback: Sequence[tuple[int, float]],
        terms: int,
        interpolation: float,
    ) -> dict[str, float]:
        """RM3 query weights: ``(1 − λ) · tf_q / |q|`` for query terms, plus ``λ · rel / Σ rel`` for the top ones."""
        relevance: dict[str, float] = {}
        documents = len(self.counts)
        for share, (doc, _) in zip(document_weights(feedback), feedback, strict=True):
            length = self.lengths[doc] or 1
            for term, count in self.counts[doc].items():
                gain = share * count / length * math.log(documents / self.document_frequency[term])
                relevance[term] = relevance.get(term, 0.0) + gain
        best = sorted(relevance.items(), key=lambda item: (-item[1], item[0]))[:terms]
        expansion = [(term, value) for term, value in best if value > 0]
        total = sum(value for _, value in expansion) or 1.0
        weights: dict[str, float] = {}
        for term, count in Counter(query_tokens).items():
            weights[term] = (1.0 - interpolation) * count / len(query_tokens)
        for term, value in expansion:
            weights[term] = weights.get(term, 0.0) + interpolation * value / total
        return weights


def expanded_scores(index: LexicalIndex, weights: Mapping[str, float]) -> Scores:
    """``Σ weight · BM25(term)`` over the index (one scoring pass per weighted term)."""
    total = np.zeros(len(index), dtype=np.float32)
    for term, weight in sorted(weights.items()):
        if weight > 0:
            total += np.float32(weight) * index.scores([term])
    return total
