"""The search job's facade: collections, ingestion and hybrid search over one Chroma store."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import PurePath
from typing import Any, ParamSpec, TypeVar

import numpy as np
import orjson
import tiktoken
from chromadb.api.models.Collection import Collection
from langchain_core.embeddings import Embeddings

from insight.config import SearchSettings
from insight.errors import (
    DocumentNotFound,
    FieldProblem,
    InsightError,
    InvalidInput,
    VectorStoreUnavailable,
)
from insight.rag.ingest import RESERVED_FIELDS, Ingestor, IngestReport, Progress, SourceDocument
from insight.rag.lexical import tokenize, top_positions
from insight.rag.loaders import DocumentKind, LoadedDocument, load_document, load_records
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
from insight.rag.snapshot import BoolArray, CollectionSnapshot, FloatArray, build_snapshot
from insight.rag.store import ChromaStore, CollectionInfo, Metadata

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")
RECORD_EXTENSIONS = {".json", ".jsonl"}
PAGE = 5000


def _store_errors(method: Callable[P, R]) -> Callable[P, R]:
    """Chroma failures (server gone, disk error) become one clear 503, never a stack trace."""

    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except InsightError:
            raise
        except Exception as exc:
            log.exception("vector store call failed")
            raise VectorStoreUnavailable(f"the vector store failed: {type(exc).__name__}: {exc}") from exc

    return wrapper


class RagService:
    def __init__(
        self,
        store: ChromaStore,
        embedder: Embeddings,
        encoding: tiktoken.Encoding,
        settings: SearchSettings,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self.ingestor = Ingestor(store, embedder, encoding, settings)
        self._snapshots: dict[str, CollectionSnapshot] = {}
        self._snapshot_lock = threading.Lock()
        self._checked: dict[str, tuple[float, Collection, CollectionSnapshot]] = {}
        self.on_ingest: Callable[[str, IngestReport], None] | None = None
        """Called with every finished ingestion's report (the app's metrics hook in here)."""

    # collections -------------------------------------------------------------------------
    @_store_errors
    def create_collection(self, name: str) -> CollectionInfo:
        return self.store.create(name)

    @_store_errors
    def collections(self) -> list[CollectionInfo]:
        return [self.store.info(name) for name in self.store.names()]

    @_store_errors
    def collection_info(self, name: str) -> CollectionInfo:
        return self.store.info(name)

    @_store_errors
    def delete_collection(self, name: str) -> None:
        self.store.delete(name)
        with self._snapshot_lock:
            self._snapshots.pop(name, None)
        self._forget_check(name)

    # ingestion ---------------------------------------------------------------------------
    @_store_errors
    def ingest(
        self, name: str, documents: Iterable[SourceDocument], progress: Progress = lambda _d, _c: None
    ) -> IngestReport:
        self._forget_check(name)
        try:
            return self._reported(name, self.ingestor.ingest(name, documents, progress))
        finally:
            self._forget_check(name)

    @_store_errors
    def ingest_files(
        self,
        name: str,
        files: Iterable[tuple[str, bytes]],
        metadata: Metadata | None = None,
        progress: Progress = lambda _d, _c: None,
    ) -> IngestReport:
        """Ingest named files; a file that cannot be read is reported, the rest still land."""
        report = IngestReport()

        def documents() -> Iterator[SourceDocument]:
            for file_name, data in files:
                try:
                    yield from documents_from_file(file_name, data, metadata or {})
                except InsightError as exc:
                    report.failed.append((file_name, exc.message))

        self._forget_check(name)
        try:
            return self._reported(name, self.ingestor.ingest(name, documents(), progress, report))
        finally:
            self._forget_check(name)

    def _reported(self, name: str, report: IngestReport) -> IngestReport:
        if self.on_ingest is not None:
            self.on_ingest(name, report)
        return report

    @_store_errors
    def delete_document(self, name: str, doc_id: str) -> int:
        collection = self.store.collection(name)
        found = collection.get(where={"doc_id": doc_id}, include=[])
        if not found["ids"]:
            raise DocumentNotFound(f"document {doc_id!r} is not in collection {name!r}")
        collection.delete(ids=found["ids"])
        self.store.bump_version(collection, documents_delta=-1)
        self._forget_check(name)
        return len(found["ids"])

    # search ------------------------------------------------------------------------------
    @_store_errors
    def search(
        self, name: str, query: str, top_k: int = 10, mode: Mode = "hybrid", filters: Filters | None = None
    ) -> list[SearchHit]:
        where = chroma_where(filters)
        collection, snapshot = self._current(name)
        if not len(snapshot):
            return []
        eligible = snapshot.eligible(filters)
        depth = max(top_k, self.settings.candidates)
        chunk_dense = None
        if mode != "lexical":
            chunk_dense = self._chunk_dense_scores(snapshot, collection, query, where, eligible, depth)
        tokens = tokenize([query])[0] if mode != "dense" else []
        if self.settings.aggregation == "document":
            return self._documents(snapshot, chunk_dense, tokens, eligible, mode, top_k, depth)
        return self._chunks(snapshot, chunk_dense, tokens, eligible, mode, top_k, depth)

    def _chunk_dense_scores(
        self,
        snapshot: CollectionSnapshot,
        collection: Collection,
        query: str,
        where: dict[str, Any] | None,
        eligible: BoolArray | None,
        depth: int,
    ) -> FloatArray:
        """Cosine of every chunk with the query; -inf for chunks not scored (filtered, or beyond Chroma's top)."""
        vector = self._embed_query(query)
        if snapshot.vectors is not None:
            # einsum, not BLAS: a threaded BLAS matrix-vector product has a long tail on a busy machine
            scores: FloatArray = np.einsum("ij,j->i", snapshot.vectors, vector)
            if eligible is not None:
                scores[~eligible] = -np.inf
            return scores
        # Too large to hold in memory: Chroma's index returns the nearest chunks, ids and distances only.
        wanted = depth * 3 if self.settings.aggregation == "document" else depth
        result = collection.query(
            query_embeddings=vector[None, :],
            n_results=min(wanted, len(snapshot)),
            where=where,
            include=["distances"],
        )
        scores = np.full(len(snapshot), -np.inf, dtype=np.float32)
        for chunk_id, distance in zip(result["ids"][0], (result["distances"] or [[]])[0], strict=True):
            position = snapshot.positions_by_id.get(chunk_id)
            if position is not None:
                scores[position] = 1.0 - float(distance)
        return scores

    def _embed_query(self, query: str) -> FloatArray:
        embed_query_array = getattr(self.embedder, "embed_query_array", None)
        if callable(embed_query_array):
            vector: FloatArray = np.asarray(embed_query_array([query]), dtype=np.float32)[0]
            return vector
        return np.asarray(self.embedder.embed_query(query), dtype=np.float32)

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
    ) -> list[SearchHit]:
        """Documents ranked by their best passage, their first passage and document-level BM25."""
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
            fused = fuse_rankings(
                [
                    (settings.first_chunk_weight, first_passage),
                    (settings.dense_weight, best_passage),
                    (settings.lexical_weight, lexical),
                ],
                settings,
            )
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

    def _current(self, name: str) -> tuple[Collection, CollectionSnapshot]:
        """The collection and its snapshot; Chroma is asked for the version at most every ``snapshot_max_age_s``.

        Writes through this service forget the check at once; other processes' writes show within that age.
        """
        checked = self._checked.get(name)
        if checked is not None and time.monotonic() - checked[0] < self.settings.snapshot_max_age_s:
            return checked[1], checked[2]
        now = time.monotonic()
        collection = self.store.collection(name)
        snapshot = self._snapshot(name, collection)
        self._checked[name] = (now, collection, snapshot)
        return collection, snapshot

    def _forget_check(self, name: str) -> None:
        self._checked.pop(name, None)

    def _snapshot(self, name: str, collection: Collection) -> CollectionSnapshot:
        version = int((collection.metadata or {}).get("version", 0))
        snapshot = self._snapshots.get(name)
        if snapshot is not None and snapshot.version == version:
            return snapshot
        with self._snapshot_lock:
            snapshot = self._snapshots.get(name)
            if snapshot is None or snapshot.version != version:
                snapshot = self._build_snapshot(collection, version)
                self._snapshots[name] = snapshot
        return snapshot

    def _build_snapshot(self, collection: Collection, version: int) -> CollectionSnapshot:
        with_vectors = collection.count() <= self.settings.exact_dense_max_chunks
        include: list[Any] = ["documents", "metadatas", "embeddings"] if with_vectors else ["documents", "metadatas"]
        ids: list[str] = []
        texts: list[str] = []
        metadatas: list[dict[str, Any]] = []
        vectors: list[FloatArray] = []
        offset = 0
        while True:
            page = collection.get(include=include, limit=PAGE, offset=offset)
            ids.extend(page["ids"])
            texts.extend(str(d) for d in page["documents"] or [])
            metadatas.extend(dict(m) for m in page["metadatas"] or [])
            if with_vectors and page["ids"]:
                vectors.append(np.asarray(page["embeddings"], dtype=np.float32))
            if len(page["ids"]) < PAGE:
                break
            offset += PAGE
        matrix = None
        if with_vectors:
            matrix = np.concatenate(vectors) if vectors else np.zeros((0, 0), dtype=np.float32)
            # Chroma keeps vectors as given; normalise so that a dot product is the cosine.
            matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        snapshot = build_snapshot(
            version,
            ids,
            texts,
            metadatas,
            matrix,
            k1=self.settings.bm25_k1,
            b=self.settings.bm25_b,
            title_repeats=self.settings.title_repeats,
        )
        log.info(
            "search snapshot of %s rebuilt: %d chunks, %d documents (version %d)",
            collection.name,
            len(snapshot),
            len(snapshot.doc_ids),
            version,
        )
        return snapshot


def _ranking(scores: FloatArray, depth: int, above: float) -> Ranking:
    positions = top_positions(scores, depth)
    kept = positions[scores[positions] > above]
    return Ranking(kept.tolist(), scores[kept].tolist())


def _candidates(snapshot: CollectionSnapshot, ranking: Ranking) -> list[Candidate]:
    return [
        Candidate(snapshot.ids[p], snapshot.texts[p], snapshot.metadatas[p], s)
        for p, s in zip(ranking.positions, ranking.scores, strict=True)
    ]


def documents_from_file(name: str, data: bytes, metadata: Metadata, doc_id: str | None = None) -> list[SourceDocument]:
    """A file as documents: JSON/JSONL files of id'd records give one document per record.

    The document id is ``doc_id`` (the CLI passes the path relative to the folder it was given)
    or the file's name; records keep their own ids.
    """
    label = PurePath(name).name
    doc_id = doc_id or label
    check_metadata(metadata)
    suffix = PurePath(label).suffix.lower()
    if suffix in RECORD_EXTENSIONS and _holds_records(data, suffix):
        records = load_records(label, data)
        kind: DocumentKind = "json" if suffix == ".json" else "jsonl"
        return [
            SourceDocument(
                doc_id=record.record_id,
                document=LoadedDocument(
                    source=label, title=record.title or record.record_id, text=record.text, kind=kind
                ),
                metadata={**_scalar_metadata(record.metadata), **metadata},
            )
            for record in records
        ]
    return [SourceDocument(doc_id=doc_id, document=load_document(label, data), metadata=metadata)]


def _holds_records(data: bytes, suffix: str) -> bool:
    """Whether the file's first JSON value is an object with an ``id``/``_id``: a file of records."""
    try:
        if suffix == ".jsonl":
            first_line = next((line for line in data.splitlines() if line.strip()), b"")
            first = orjson.loads(first_line)
        else:
            value = orjson.loads(data)
            first = value[0] if isinstance(value, list) and value else value
    except (orjson.JSONDecodeError, UnicodeDecodeError):
        return False
    return isinstance(first, dict) and ("id" in first or "_id" in first)


def check_metadata(metadata: Metadata) -> None:
    reserved = sorted(set(metadata) & RESERVED_FIELDS)
    if reserved:
        raise InvalidInput(
            [FieldProblem(("body", "metadata", key), "is a reserved field name", "value_error") for key in reserved]
        )


def _scalar_metadata(raw: dict[str, Any]) -> Metadata:
    return {
        key: value
        for key, value in raw.items()
        if isinstance(value, str | int | float | bool) and key not in RESERVED_FIELDS
    }
