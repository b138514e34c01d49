"""``insight ingest … --engine ray``: reading, chunking and the hash check as the local path; embedding on Ray.

The driver reads and chunks the documents and asks the store which are unchanged (``Ingestor.plan``, the local
path's own planning), so an unchanged document is never sent to Ray. The chunks to embed go to a Ray Data
``map_batches`` over an actor pool: each actor loads the embedder once (the same class the service uses, with
``ray.threads_per_actor`` threads) and upserts its batches to the Chroma **server** itself. Chunk ids are
deterministic, so a batch retried after a worker died overwrites what it wrote; a document counts as written
(its stale chunks deleted, the collection's version bumped) only once all its chunks are stored. A job killed
midway leaves some documents incomplete, and the next run's plan re-embeds exactly those.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]

from insight.config import EmbeddingSettings, Settings, VectorStoreSettings
from insight.errors import ConfigError
from insight.rag.embeddings import OnnxMiniLMEmbeddings
from insight.rag.factory import build_embedder
from insight.rag.ingest import (
    Ingestor,
    IngestReport,
    PlannedDocument,
    Progress,
    SourceDocument,
    chunk_records,
    record_written,
)
from insight.rag.protocols import CollectionInfo
from insight.rag.store import ChromaStore, build_chroma_client
from insight.tokens import get_encoding

from .engine import ray_runtime

VERSION_BUMP_EVERY_S = 1.0
EMBEDDED_STORE_REFUSED = (
    "the Ray engine writes to a Chroma server, and the embedded store is one process's file that Ray's workers "
    "cannot share: start one (`chroma run --path DIR`) and set INSIGHT_VECTORSTORE__HOST and __PORT"
)


def embedding_model_id(settings: EmbeddingSettings) -> str:
    """The model id ``build_embedder`` records on collections, without loading the model on the driver."""
    if settings.provider == "local":
        return OnnxMiniLMEmbeddings.model_id
    return f"openai-compatible:{settings.model}"


class ChunkWriter:
    """A Ray actor: one embedder and one Chroma client, loaded once; each call embeds a batch and upserts it."""

    def __init__(
        self, embeddings: EmbeddingSettings, vectorstore: VectorStoreSettings, collection: str, threads: int
    ) -> None:
        # Queries are never embedded here, so no query model is derived (each actor would write that file).
        actor_settings = embeddings.model_copy(update={"threads": threads, "query_model": "document"})
        self.embedder, model_id = build_embedder(actor_settings)
        self.store = ChromaStore(build_chroma_client(vectorstore), embedding_model=model_id)
        self.collection = collection

    def __call__(self, batch: pa.Table) -> pa.Table:
        started = time.perf_counter()
        vectors = np.asarray(self.embedder.embed_array(batch.column("embedding_text").to_pylist()), dtype=np.float32)
        embed_s = time.perf_counter() - started
        metadatas = [json.loads(meta) for meta in batch.column("metadata").to_pylist()]
        ids = batch.column("id").to_pylist()
        self.store.upsert(self.collection, ids, vectors, batch.column("text").to_pylist(), metadatas)
        return pa.table(
            {
                "id": batch.column("id"),
                "doc_id": batch.column("doc_id"),
                "embed_s": pa.array(np.full(len(ids), embed_s / max(len(ids), 1)), pa.float64()),
            }
        )


def ingest_on_ray(
    settings: Settings,
    collection: str,
    documents: Iterable[SourceDocument],
    report: IngestReport | None = None,
    progress: Progress = lambda _docs, _chunks: None,
    progress_bars: bool = False,
) -> tuple[IngestReport, CollectionInfo]:
    """Ingest ``documents`` into ``collection`` of the Chroma server, embedding on Ray; the report and the
    collection afterwards."""
    if not settings.vectorstore.host:
        raise ConfigError(EMBEDDED_STORE_REFUSED)
    report = report or IngestReport()
    started = time.perf_counter()
    model_id = embedding_model_id(settings.embeddings)
    store = ChromaStore(build_chroma_client(settings.vectorstore), embedding_model=model_id)
    planner = Ingestor(store, _PlanningOnly(model_id), get_encoding(), settings.search)
    unique = list({doc.doc_id: doc for doc in documents}.values())  # the last one wins, as on the local path
    store.ensure(collection)
    planned: list[PlannedDocument] = []
    for at in range(0, len(unique), planner.docs_per_batch):
        planned += planner.plan(collection, unique[at : at + planner.docs_per_batch], report)
    progress(len(report.unchanged), 0)
    if planned:
        _embed_on_ray(settings, collection, store, planned, report, progress, progress_bars)
    report.seconds += time.perf_counter() - started
    return report, store.info(collection)


def _embed_on_ray(
    settings: Settings,
    collection: str,
    store: ChromaStore,
    planned: list[PlannedDocument],
    report: IngestReport,
    progress: Progress,
    progress_bars: bool,
) -> None:
    records = chunk_records(planned)
    table = pa.table(
        {
            "id": records.ids,
            "doc_id": [str(meta["doc_id"]) for meta in records.metadatas],
            "text": records.texts,
            "embedding_text": records.embedding_texts,
            "metadata": [json.dumps(meta) for meta in records.metadatas],
        }
    )
    ray_settings = settings.ray
    step = ray_settings.ingest_batch_chunks
    blocks = [table.slice(at, step) for at in range(0, table.num_rows, step)]
    tracker = _Completion(store, collection, planned, report, progress)
    with ray_runtime(ray_settings, progress_bars=progress_bars) as ray:
        dataset = ray.data.from_arrow(blocks).map_batches(
            ChunkWriter,
            fn_constructor_kwargs={
                "embeddings": settings.embeddings,
                "vectorstore": settings.vectorstore,
                "collection": collection,
                "threads": ray_settings.threads_per_actor,
            },
            batch_format="pyarrow",
            batch_size=None,
            zero_copy_batch=True,
            compute=ray.data.ActorPoolStrategy(size=min(ray_settings.actors, len(blocks))),
            num_cpus=ray_settings.cpus_per_actor,
        )
        for written in dataset.iter_batches(batch_format="pyarrow", batch_size=None):
            tracker.written(written)
    tracker.finish()


class _Completion:
    """Which planned documents have all their chunks stored; those are finished (stale chunks deleted, counted)."""

    def __init__(
        self,
        store: ChromaStore,
        collection: str,
        planned: list[PlannedDocument],
        report: IngestReport,
        progress: Progress,
    ) -> None:
        self.store = store
        self.collection = collection
        self.report = report
        self.progress = progress
        self.pending = {plan.source.doc_id: plan for plan in planned}
        self.stored: dict[str, set[str]] = {doc_id: set() for doc_id in self.pending}
        self.chunks: set[str] = set()
        self.finished: list[PlannedDocument] = []
        self.last_bump = time.monotonic()

    def written(self, batch: pa.Table) -> None:
        ids = batch.column("id").to_pylist()
        self.report.embed_seconds += float(np.sum(batch.column("embed_s").to_numpy()))
        for chunk_id, doc_id in zip(ids, batch.column("doc_id").to_pylist(), strict=True):
            if chunk_id in self.chunks:
                continue  # a batch retried after a worker died: written twice, to the same ids
            self.chunks.add(chunk_id)
            self.stored[doc_id].add(chunk_id)
            plan = self.pending.get(doc_id)
            if plan is not None and len(self.stored[doc_id]) == len(plan.chunks):
                self.finished.append(self.pending.pop(doc_id))
        self.report.chunks_embedded = len(self.chunks)
        if self.finished and time.monotonic() - self.last_bump >= VERSION_BUMP_EVERY_S:
            self._settle()
        self.progress(len(self.report.unchanged) + len(self.report.added) + len(self.report.updated) + len(
            self.finished), len(self.chunks))  # fmt: skip

    def finish(self) -> None:
        self._settle()
        if self.pending:  # every batch came back, so this would be a bug in the bookkeeping
            raise RuntimeError(f"{len(self.pending)} documents were not fully written: run the ingest again")

    def _settle(self) -> None:
        if not self.finished:
            return
        stale = [chunk_id for plan in self.finished for chunk_id in plan.stale_ids]
        if stale:
            self.store.delete_chunks(self.collection, stale)
        self.report.chunks_deleted += len(stale)
        added_before = len(self.report.added)
        record_written(self.finished, self.report)
        self.store.bump_version(self.collection, documents_delta=len(self.report.added) - added_before)
        self.finished = []
        self.last_bump = time.monotonic()


class _PlanningOnly:
    """The driver's stand-in for an embedder: planning reads the store and chunks, it never embeds."""

    def __init__(self, model_id: str) -> None:
        self.model_id = model_id

    def _refuse(self, *_args: Any) -> Any:
        raise RuntimeError("the Ray engine embeds on its actors, never on the driver")

    embed_array = embed_query_array = embed_documents = embed_query = _refuse
