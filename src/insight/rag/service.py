"""The search job's facade: collections, ingestion, documents and search over one ``VectorStore``.

What the API, the CLI and evaluation call. The work is done below it: ``Ingestor`` (documents →
chunks → ``Embedder`` → store), ``HybridSearcher`` (snapshot, dense, lexical, fusion) and, for files,
``insight.rag.sources`` over ``insight.rag.loaders`` and ``insight.reader``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import ParamSpec, TypeVar

import tiktoken

from insight.config import SearchSettings
from insight.errors import DocumentNotFound, InsightError, VectorStoreUnavailable
from insight.rag.hybrid import HybridSearcher
from insight.rag.ingest import Ingestor, IngestReport, Progress, SourceDocument
from insight.rag.protocols import CollectionInfo, Embedder, Metadata, VectorStore
from insight.rag.search import Filters, Mode, SearchHit
from insight.rag.sources import documents_from_file

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


def _store_errors(method: Callable[P, R]) -> Callable[P, R]:
    """Store failures (server gone, disk error) become one clear 503, never a stack trace."""

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
    """One instance per process, built by ``build_rag_service``; safe to share between threads."""

    def __init__(
        self,
        store: VectorStore,
        embedder: Embedder,
        encoding: tiktoken.Encoding,
        settings: SearchSettings,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self.ingestor = Ingestor(store, embedder, encoding, settings)
        self.searcher = HybridSearcher(store, embedder, settings)
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
        self.searcher.drop(name)

    # ingestion ---------------------------------------------------------------------------
    @_store_errors
    def ingest(
        self, name: str, documents: Iterable[SourceDocument], progress: Progress = lambda _d, _c: None
    ) -> IngestReport:
        self.searcher.forget_check(name)
        try:
            return self._reported(name, self.ingestor.ingest(name, documents, progress))
        finally:
            self.searcher.forget_check(name)

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

        self.searcher.forget_check(name)
        try:
            return self._reported(name, self.ingestor.ingest(name, documents(), progress, report))
        finally:
            self.searcher.forget_check(name)

    def _reported(self, name: str, report: IngestReport) -> IngestReport:
        if self.on_ingest is not None:
            self.on_ingest(name, report)
        return report

    @_store_errors
    def delete_document(self, name: str, doc_id: str) -> int:
        chunk_ids = [chunk_id for chunk_id, _ in self.store.existing_chunks(name, [doc_id]).get(doc_id, [])]
        if not chunk_ids:
            raise DocumentNotFound(f"document {doc_id!r} is not in collection {name!r}")
        self.store.delete_chunks(name, chunk_ids)
        self.store.bump_version(name, documents_delta=-1)
        self.searcher.forget_check(name)
        return len(chunk_ids)

    # search ------------------------------------------------------------------------------
    @_store_errors
    def search(
        self, name: str, query: str, top_k: int = 10, mode: Mode = "hybrid", filters: Filters | None = None
    ) -> list[SearchHit]:
        """Chunks or documents (``settings.aggregation``) best first, each with its score breakdown."""
        return self.searcher.search(name, query, top_k, mode, filters)
