"""``HybridSearcher``: dense and lexical rankings over a collection's in-memory snapshot, fused.

The searcher keeps one ``CollectionSnapshot`` per collection (chunks, unit vectors, BM25 indexes),
rebuilt when the collection's version in the ``VectorStore`` moves. Dense scores are exact cosines
over the snapshot's vectors, or, for a collection too large to hold, the store's nearest chunks.
Lexical scores come from the snapshot's ``LexicalIndex``es. ``insight.rag.search`` fuses them.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from insight.config import SearchSettings
from insight.rag.lexical import top_positions
from insight.rag.prf import DocumentTerms, expanded_scores, feedback_documents, rocchio
from insight.rag.protocols import Embedder, VectorStore
from insight.rag.search import (
    Candidate,
    Filters,
    Mode,
    Ranking,
    SearchHit,
    chroma_where,
    fuse,
    fuse_rankings,
    single_ranking,
)
from insight.rag.snapshot import BoolArray, CollectionSnapshot, FloatArray, build_snapshot, document_text

log = logging.getLogger(__name__)


class HybridSearcher:
    """Search over the collections of one store, with each collection's snapshot cached by version.

    Safe to share between threads: a snapshot is immutable and built under a lock.
    """

    def __init__(self, store: VectorStore, embedder: Embedder, settings: SearchSettings) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self._snapshots: dict[str, CollectionSnapshot] = {}
        self._snapshot_lock = threading.Lock()
        self._checked: dict[str, tuple[float, CollectionSnapshot]] = {}
        self._terms: dict[str, tuple[CollectionSnapshot, DocumentTerms]] = {}

    def snapshot(self, name: str) -> CollectionSnapshot | None:
        """The snapshot held for ``name`` now, if any (nothing is read from the store)."""
        return self._snapshots.get(name)

    def forget_check(self, name: str) -> None:
        """Ask the store for the version on the next search (after a write through this process)."""
        self._checked.pop(name, None)

    def drop(self, name: str) -> None:
        """Forget everything held for a deleted collection."""
        with self._snapshot_lock:
            self._snapshots.pop(name, None)
            self._terms.pop(name, None)
        self.forget_check(name)

    def search(
        self, name: str, query: str, top_k: int = 10, mode: Mode = "hybrid", filters: Filters | None = None
    ) -> list[SearchHit]:
        where = chroma_where(filters)
        snapshot = self._current(name)
        if not len(snapshot):
            return []
        eligible = snapshot.eligible(filters)
        depth = max(top_k, self.settings.candidates)
        chunk_dense = vector = None
        if mode != "lexical":
            vector = np.asarray(self.embedder.embed_query_array([query]), dtype=np.float32)[0]
            chunk_dense = self._chunk_dense_scores(snapshot, name, vector, where, eligible, depth)
        tokens = snapshot.chunk_lexical.query_tokens(query) if mode != "dense" else []
        if self.settings.aggregation == "document":
            feedback = None
            if mode == "hybrid" and self.settings.feedback_docs > 0 and vector is not None:
                feedback = _Feedback(vector, self._document_terms(name, snapshot))
            return self._documents(snapshot, chunk_dense, tokens, eligible, mode, top_k, depth, feedback)
        return self._chunks(snapshot, chunk_dense, tokens, eligible, mode, top_k, depth)

    def _chunk_dense_scores(
        self,
        snapshot: CollectionSnapshot,
        name: str,
        vector: FloatArray,
        where: dict[str, Any] | None,
        eligible: BoolArray | None,
        depth: int,
    ) -> FloatArray:
        """Cosine of every chunk with the query; -inf for chunks not scored (filtered, or beyond the store's top)."""
        if snapshot.vectors is not None:
            # einsum, not BLAS: a threaded BLAS matrix-vector product has a long tail on a busy machine
            scores: FloatArray = np.einsum("ij,j->i", snapshot.vectors, vector)
            if eligible is not None:
                scores[~eligible] = -np.inf
            return scores
        # Too large to hold in memory: the store's index returns the nearest chunks, ids and distances only.
        wanted = depth * 3 if self.settings.aggregation == "document" else depth
        nearest = self.store.nearest(name, vector, min(wanted, len(snapshot)), where)
        scores = np.full(len(snapshot), -np.inf, dtype=np.float32)
        for chunk_id, distance in nearest:
            position = snapshot.positions_by_id.get(chunk_id)
            if position is not None:
                scores[position] = 1.0 - distance
        return scores

    def _chunks(
        self,
        snapshot: CollectionSnapshot,
        chunk_dense: FloatArray | None,
        tokens: list[str],
        eligible: BoolArray | None,
        mode: Mode,
        top_k: int,
        depth: int,
    ) -> list[SearchHit]:
        dense = _ranking(chunk_dense, depth, above=-np.inf) if chunk_dense is not None else Ranking([], [])
        lexical = Ranking([], [])
        if mode != "dense":
            lexical_scores = snapshot.chunk_lexical.scores(tokens)
            if eligible is not None:
                lexical_scores[~eligible] = 0.0
            lexical = _ranking(lexical_scores, depth, above=0.0)
        dense_candidates, lexical_candidates = _candidates(snapshot, dense), _candidates(snapshot, lexical)
        if mode == "hybrid":
            return fuse(dense_candidates, lexical_candidates, self.settings, top_k)
        return single_ranking(dense_candidates if mode == "dense" else lexical_candidates, mode, top_k)

    def _documents(
        self,
        snapshot: CollectionSnapshot,
        chunk_dense: FloatArray | None,
        tokens: list[str],
        eligible: BoolArray | None,
        mode: Mode,
        top_k: int,
        depth: int,
        feedback: _Feedback | None = None,
    ) -> list[SearchHit]:
        """Documents ranked by their best passage, their first passage and document-level BM25.

        With ``feedback`` (hybrid only) the first fusion's top documents refine the query and the rankings are
        fused again (``insight.rag.prf``); each hit's breakdown stays the query's own ranks and scores.
        """
        settings = self.settings
        best_passage = first_passage = lexical = Ranking([], [])
        if chunk_dense is not None:
            best_passage = _ranking(snapshot.max_per_doc(chunk_dense), depth, above=-np.inf)
            if mode == "hybrid":
                first_passage = _ranking(chunk_dense[snapshot.doc_first], depth, above=-np.inf)
        if mode != "dense":
            doc_scores = snapshot.doc_lexical.scores(tokens)
            doc_eligible = snapshot.doc_eligible(eligible)
            if doc_eligible is not None:
                doc_scores[~doc_eligible] = 0.0
            lexical = _ranking(doc_scores, depth, above=0.0)
        if mode == "hybrid":
            first_round = _DocumentRankings(first_passage, best_passage, lexical)
            fused = first_round.fused(settings)
            if feedback is not None and chunk_dense is not None and fused:
                second_round = self._feedback_rankings(
                    snapshot, feedback, feedback_documents(fused, settings.feedback_docs), first_round, chunk_dense,
                    tokens, eligible, depth,
                )  # fmt: skip
                fused = second_round.fused(settings)
            ranked = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:top_k]
        else:
            single = best_passage if mode == "dense" else lexical
            ranked = list(zip(single.positions, single.scores, strict=True))[:top_k]
        if not ranked:
            return []
        if chunk_dense is not None:
            citing = chunk_dense
        else:  # lexical mode: cite the document's chunk with the best chunk-level BM25
            citing = snapshot.chunk_lexical.scores(tokens)
            if eligible is not None:
                citing[~eligible] = -np.inf
        docs = [doc for doc, _ in ranked]
        dense_ranks, first_ranks, lexical_ranks = (r.ranks(docs) for r in (best_passage, first_passage, lexical))
        hits = []
        for doc, score in ranked:
            chunk = snapshot.best_chunk(doc, citing, eligible)
            hits.append(
                SearchHit(
                    chunk_id=snapshot.ids[chunk],
                    doc_id=snapshot.doc_ids[doc],
                    text=snapshot.texts[chunk],
                    metadata=snapshot.metadatas[chunk],
                    score=float(score),
                    dense=dense_ranks.get(doc),
                    lexical=lexical_ranks.get(doc),
                    first_chunk=first_ranks.get(doc),
                )
            )
        return hits

    def _feedback_rankings(
        self,
        snapshot: CollectionSnapshot,
        feedback: _Feedback,
        top: list[tuple[int, float]],
        first_round: _DocumentRankings,
        chunk_dense: FloatArray,
        tokens: list[str],
        eligible: BoolArray | None,
        depth: int,
    ) -> _DocumentRankings:
        """The rankings after pseudo-relevance feedback from the first fusion's ``top`` documents."""
        settings = self.settings
        first_passage, best_passage = first_round.first_passage, first_round.best_passage
        if settings.feedback_dense_alpha > 0 and snapshot.vectors is not None:
            chunks = [snapshot.best_chunk(doc, chunk_dense, eligible) for doc, _ in top]
            moved = rocchio(feedback.query_vector, snapshot.vectors[chunks], settings.feedback_dense_alpha)
            moved_dense: FloatArray = np.einsum("ij,j->i", snapshot.vectors, moved)
            if eligible is not None:
                moved_dense[~eligible] = -np.inf
            best_passage = _ranking(snapshot.max_per_doc(moved_dense), depth, above=-np.inf)
            first_passage = _ranking(moved_dense[snapshot.doc_first], depth, above=-np.inf)
        expanded = Ranking([], [])
        if settings.feedback_terms > 0:
            weights = feedback.terms.expansion(tokens, top, settings.feedback_terms, settings.feedback_interpolation)
            expanded_doc_scores = expanded_scores(snapshot.doc_lexical, weights)
            doc_eligible = snapshot.doc_eligible(eligible)
            if doc_eligible is not None:
                expanded_doc_scores[~doc_eligible] = 0.0
            expanded = _ranking(expanded_doc_scores, depth, above=0.0)
        return _DocumentRankings(first_passage, best_passage, first_round.lexical, expanded)

    def _document_terms(self, name: str, snapshot: CollectionSnapshot) -> DocumentTerms:
        """The documents as term counts for RM3, built at a snapshot's first feedback search (~1 s for 5k)."""
        held = self._terms.get(name)
        if held is not None and held[0] is snapshot:
            return held[1]
        ends = [*snapshot.doc_starts[1:].tolist(), len(snapshot)]
        texts = [
            document_text(snapshot.texts[start:end], snapshot.metadatas[start:end], self.settings.title_repeats)
            for start, end in zip(snapshot.doc_starts.tolist(), ends, strict=True)
        ]
        terms = DocumentTerms.from_texts(texts)
        self._terms[name] = (snapshot, terms)
        return terms

    def _current(self, name: str) -> CollectionSnapshot:
        """The collection's snapshot; the store is asked for the version at most every ``snapshot_max_age_s``.

        Writes through this process forget the check at once; other processes' writes show within that age.
        """
        checked = self._checked.get(name)
        if checked is not None and time.monotonic() - checked[0] < self.settings.snapshot_max_age_s:
            return checked[1]
        now = time.monotonic()
        snapshot = self._snapshot(name, self.store.version(name))
        self._checked[name] = (now, snapshot)
        return snapshot

    def _snapshot(self, name: str, version: int) -> CollectionSnapshot:
        snapshot = self._snapshots.get(name)
        if snapshot is not None and snapshot.version == version:
            return snapshot
        with self._snapshot_lock:
            snapshot = self._snapshots.get(name)
            if snapshot is None or snapshot.version != version:
                snapshot = self._build_snapshot(name, version)
                self._snapshots[name] = snapshot
        return snapshot

    def _build_snapshot(self, name: str, version: int) -> CollectionSnapshot:
        with_vectors = self.store.count(name) <= self.settings.exact_dense_max_chunks
        stored = self.store.read_all(name, with_vectors=with_vectors)
        matrix = stored.vectors
        if matrix is not None:
            # Stores keep vectors as given; normalise so that a dot product is the cosine.
            matrix = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        snapshot = build_snapshot(
            version,
            stored.ids,
            stored.texts,
            stored.metadatas,
            matrix,
            k1=self.settings.bm25_k1,
            b=self.settings.bm25_b,
            title_repeats=self.settings.title_repeats,
        )
        log.info(
            "search snapshot of %s rebuilt: %d chunks, %d documents (version %d)",
            name,
            len(snapshot),
            len(snapshot.doc_ids),
            version,
        )
        return snapshot


@dataclass(frozen=True)
class _DocumentRankings:
    """The rankings that document search fuses; ``expanded`` (RM3, feedback only) takes a share of BM25's weight."""

    first_passage: Ranking
    best_passage: Ranking
    lexical: Ranking
    expanded: Ranking = Ranking([], [])

    def fused(self, settings: SearchSettings) -> dict[int, float]:
        share = settings.feedback_lexical_share if self.expanded.positions else 0.0
        return fuse_rankings(
            [
                (settings.first_chunk_weight, self.first_passage),
                (settings.dense_weight, self.best_passage),
                (settings.lexical_weight * (1.0 - share), self.lexical),
                (settings.lexical_weight * share, self.expanded),
            ],
            settings,
        )


@dataclass(frozen=True)
class _Feedback:
    """What pseudo-relevance feedback needs beyond the first rankings: the query's vector, the documents' terms."""

    query_vector: FloatArray
    terms: DocumentTerms


def _ranking(scores: FloatArray, depth: int, above: float) -> Ranking:
    positions = top_positions(scores, depth)
    kept = positions[scores[positions] > above]
    return Ranking(kept.tolist(), scores[kept].tolist())


def _candidates(snapshot: CollectionSnapshot, ranking: Ranking) -> list[Candidate]:
    return [
        Candidate(snapshot.ids[p], snapshot.texts[p], snapshot.metadatas[p], s)
        for p, s in zip(ranking.positions, ranking.scores, strict=True)
    ]
