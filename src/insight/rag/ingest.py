"""Ingestion: documents → chunks → embeddings → Chroma, idempotent by content hash.

Chunk ids are deterministic (``<doc_id>#<index>``) and every chunk records its document's
hash and chunk count. A document is skipped only when Chroma holds exactly that many chunks,
all of that hash; anything else (new, changed, or left half-written by a killed run) is
re-chunked, upserted over the same ids, and its stale chunks deleted. So a re-run after an
interruption ends with no duplicates and nothing missing.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import tiktoken

from insight.config import SearchSettings
from insight.rag.chunking import Chunk, chunk_document
from insight.rag.loaders import LoadedDocument
from insight.rag.protocols import Embedder, FloatMatrix, Metadata, VectorStore

RESERVED_FIELDS = frozenset(
    {"doc_id", "doc_hash", "n_chunks", "chunk_index", "source", "title", "start", "end", "page",
     "section", "kind"}
)  # fmt: skip


@dataclass(frozen=True)
class SourceDocument:
    doc_id: str
    document: LoadedDocument
    metadata: Metadata = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        h = hashlib.sha256()
        h.update(self.document.title.encode())
        h.update(b"\x1f")
        h.update(self.document.text.encode())
        h.update(b"\x1f")
        h.update(json.dumps(self.metadata, sort_keys=True).encode())
        return h.hexdigest()


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    chunks_embedded: int = 0
    chunks_deleted: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0


Progress = Callable[[int, int], None]
"""Called with (documents done, chunks embedded so far)."""


@dataclass
class PlannedDocument:
    """A document to (re-)embed: its chunks, and the ids of chunks an earlier version left behind."""

    source: SourceDocument
    doc_hash: str
    chunks: list[Chunk]
    stale_ids: list[str]
    is_new: bool


@dataclass(frozen=True)
class ChunkRecords:
    """Row-aligned: what is written to the store for each chunk, and the text its vector is computed from."""

    ids: list[str]
    texts: list[str]
    metadatas: list[Metadata]
    embedding_texts: list[str]


class Ingestor:
    """Documents into one ``VectorStore`` through one ``Embedder``."""

    def __init__(
        self,
        store: VectorStore,
        embedder: Embedder,
        encoding: tiktoken.Encoding,
        settings: SearchSettings,
        docs_per_batch: int = 128,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.encoding = encoding
        self.settings = settings
        self.docs_per_batch = docs_per_batch

    def ingest(
        self,
        collection_name: str,
        documents: Iterable[SourceDocument],
        progress: Progress = lambda _docs, _chunks: None,
        report: IngestReport | None = None,
    ) -> IngestReport:
        report = report or IngestReport()
        started = time.perf_counter()
        self.store.ensure(collection_name)
        done = 0
        for batch in _batched(documents, self.docs_per_batch):
            added_before = len(report.added)
            changed = self._ingest_batch(collection_name, batch, report)
            done += len(batch)
            if changed:
                self.store.bump_version(collection_name, documents_delta=len(report.added) - added_before)
            progress(done, report.chunks_embedded)
        report.seconds += time.perf_counter() - started
        return report

    def _ingest_batch(self, collection: str, batch: list[SourceDocument], report: IngestReport) -> bool:
        planned = self.plan(collection, batch, report)
        if not planned:
            return False
        self._write(collection, planned, report)
        record_written(planned, report)
        return True

    def plan(self, collection: str, batch: list[SourceDocument], report: IngestReport) -> list[PlannedDocument]:
        """The documents of ``batch`` to (re-)embed, chunked; unchanged ones are recorded in ``report``.

        Reads only the stored chunks' metadata: nothing is embedded here. The Ray engine plans with this too,
        so both engines skip, replace and clean up exactly the same documents.
        """
        batch = list({doc.doc_id: doc for doc in batch}.values())  # last one wins within a batch
        existing = self.store.existing_chunks(collection, [doc.doc_id for doc in batch])
        planned: list[PlannedDocument] = []
        for doc in batch:
            doc_hash = doc.content_hash
            stored = existing.get(doc.doc_id, [])
            if stored and _complete(stored, doc_hash):
                report.unchanged.append(doc.doc_id)
                continue
            chunks = chunk_document(
                doc.document, self.encoding, self.settings.chunk_tokens, self.settings.chunk_overlap
            )
            new_ids = {_chunk_id(doc.doc_id, c.index) for c in chunks}
            planned.append(
                PlannedDocument(
                    source=doc,
                    doc_hash=doc_hash,
                    chunks=chunks,
                    stale_ids=[cid for cid, _ in stored if cid not in new_ids],
                    is_new=not stored,
                )
            )
        return planned

    def _write(self, collection: str, planned: list[PlannedDocument], report: IngestReport) -> None:
        records = chunk_records(planned)
        started = time.perf_counter()
        vectors = self.embed(records.embedding_texts)
        report.embed_seconds += time.perf_counter() - started
        self.store.upsert(collection, records.ids, vectors, records.texts, records.metadatas)
        stale = [cid for plan in planned for cid in plan.stale_ids]
        if stale:
            self.store.delete_chunks(collection, stale)
        report.chunks_embedded += len(records.ids)
        report.chunks_deleted += len(stale)

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        return np.asarray(self.embedder.embed_array(list(texts)), dtype=np.float32)


def _chunk_id(doc_id: str, index: int) -> str:
    return f"{doc_id}#{index}"


def _complete(stored: list[tuple[str, Metadata]], doc_hash: str) -> bool:
    expected = stored[0][1].get("n_chunks")
    return len(stored) == expected and all(meta.get("doc_hash") == doc_hash for _, meta in stored)


def chunk_records(planned: Sequence[PlannedDocument]) -> ChunkRecords:
    """Every chunk of the planned documents, with its deterministic id (``<doc_id>#<index>``)."""
    ids: list[str] = []
    texts: list[str] = []
    metadatas: list[Metadata] = []
    for plan in planned:
        doc = plan.source.document
        for chunk in plan.chunks:
            ids.append(_chunk_id(plan.source.doc_id, chunk.index))
            texts.append(chunk.text)
            metadatas.append(_chunk_metadata(plan, chunk, doc))
    embedding_texts = [embedding_text(str(m["title"]), t) for m, t in zip(metadatas, texts, strict=True)]
    return ChunkRecords(ids, texts, metadatas, embedding_texts)


def record_written(planned: Sequence[PlannedDocument], report: IngestReport) -> None:
    """Count the planned documents, all of whose chunks are now stored, as added or updated."""
    for plan in planned:
        (report.added if plan.is_new else report.updated).append(plan.source.doc_id)


def _chunk_metadata(plan: PlannedDocument, chunk: Chunk, doc: LoadedDocument) -> Metadata:
    meta: Metadata = {
        **plan.source.metadata,
        "doc_id": plan.source.doc_id,
        "doc_hash": plan.doc_hash,
        "n_chunks": len(plan.chunks),
        "chunk_index": chunk.index,
        "source": doc.source,
        "title": doc.title,
        "kind": doc.kind,
        "start": chunk.start,
        "end": chunk.end,
    }
    if chunk.page is not None:
        meta["page"] = chunk.page
    if chunk.section:
        meta["section"] = chunk.section
    return meta


def embedding_text(title: str, text: str) -> str:
    """Passages are embedded with their document's title: it carries the topic."""
    return f"{title}\n{text}" if title and not text.startswith(title) else text


def _batched(items: Iterable[SourceDocument], size: int) -> Iterator[list[SourceDocument]]:
    batch: list[SourceDocument] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
