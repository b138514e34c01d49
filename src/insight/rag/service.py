"""The search job's facade: collections, ingestion and hybrid search over one Chroma store."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
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
from insight.rag.lexical import LexicalIndex
from insight.rag.loaders import DocumentKind, LoadedDocument, load_document, load_records
from insight.rag.search import (
    Candidate,
    Filters,
    Mode,
    SearchHit,
    chroma_where,
    fuse,
    matches,
    single_ranking,
)
from insight.rag.store import ChromaStore, CollectionInfo, Metadata

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")
RECORD_EXTENSIONS = {".json", ".jsonl"}
PAGE = 5000


@dataclass
class _LexicalSnapshot:
    version: int
    index: LexicalIndex
    texts: list[str]
    metadatas: list[dict[str, Any]]


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
        self._lexical: dict[str, _LexicalSnapshot] = {}
        self._lexical_lock = threading.Lock()

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
        with self._lexical_lock:
            self._lexical.pop(name, None)

    # ingestion ---------------------------------------------------------------------------
    @_store_errors
    def ingest(
        self, name: str, documents: Iterable[SourceDocument], progress: Progress = lambda _d, _c: None
    ) -> IngestReport:
        return self.ingestor.ingest(name, documents, progress)

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

        return self.ingestor.ingest(name, documents(), progress, report)

    @_store_errors
    def delete_document(self, name: str, doc_id: str) -> int:
        collection = self.store.collection(name)
        found = collection.get(where={"doc_id": doc_id}, include=[])
        if not found["ids"]:
            raise DocumentNotFound(f"document {doc_id!r} is not in collection {name!r}")
        collection.delete(ids=found["ids"])
        self.store.bump_version(collection, documents_delta=-1)
        return len(found["ids"])

    # search ------------------------------------------------------------------------------
    @_store_errors
    def search(
        self, name: str, query: str, top_k: int = 10, mode: Mode = "hybrid", filters: Filters | None = None
    ) -> list[SearchHit]:
        where = chroma_where(filters)
        collection = self.store.collection(name)
        depth = max(top_k, self.settings.candidates)
        dense = self._dense(collection, query, depth, where) if mode != "lexical" else []
        lexical = self._lexical_candidates(name, collection, query, depth, filters) if mode != "dense" else []
        if mode == "hybrid":
            return fuse(dense, lexical, self.settings, top_k)
        return single_ranking(dense if mode == "dense" else lexical, mode, top_k)

    def _dense(self, collection: Collection, query: str, depth: int, where: dict[str, Any] | None) -> list[Candidate]:
        count = collection.count()
        if count == 0:
            return []
        vector = self.embedder.embed_query(query)
        result = collection.query(
            query_embeddings=np.asarray([vector], dtype=np.float32),
            n_results=min(depth, count),
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        ids = result["ids"][0]
        documents = (result["documents"] or [[]])[0]
        metadatas = (result["metadatas"] or [[]])[0]
        distances = (result["distances"] or [[]])[0]
        return [
            Candidate(cid, str(doc), dict(meta), 1.0 - float(dist))
            for cid, doc, meta, dist in zip(ids, documents, metadatas, distances, strict=True)
        ]

    def _lexical_candidates(
        self, name: str, collection: Collection, query: str, depth: int, filters: Filters | None
    ) -> list[Candidate]:
        snapshot = self._lexical_snapshot(name, collection)
        # Filtered searches look deeper so that enough candidates survive the filter.
        hits = snapshot.index.search(query, depth if not filters else depth * 10)
        out: list[Candidate] = []
        for hit in hits:
            meta = snapshot.metadatas[hit.position]
            if matches(meta, filters):
                out.append(Candidate(snapshot.index.ids[hit.position], snapshot.texts[hit.position], meta, hit.score))
                if len(out) == depth:
                    break
        return out

    def _lexical_snapshot(self, name: str, collection: Collection) -> _LexicalSnapshot:
        version = int((collection.metadata or {}).get("version", 0))
        snapshot = self._lexical.get(name)
        if snapshot is not None and snapshot.version == version:
            return snapshot
        with self._lexical_lock:
            snapshot = self._lexical.get(name)
            if snapshot is None or snapshot.version != version:
                snapshot = self._build_lexical(collection, version)
                self._lexical[name] = snapshot
        return snapshot

    def _build_lexical(self, collection: Collection, version: int) -> _LexicalSnapshot:
        ids: list[str] = []
        texts: list[str] = []
        metadatas: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = collection.get(include=["documents", "metadatas"], limit=PAGE, offset=offset)
            ids.extend(page["ids"])
            texts.extend(str(d) for d in page["documents"] or [])
            metadatas.extend(dict(m) for m in page["metadatas"] or [])
            if len(page["ids"]) < PAGE:
                break
            offset += PAGE
        indexed = [f"{meta.get('title', '')}\n{text}" for meta, text in zip(metadatas, texts, strict=True)]
        index = LexicalIndex(ids, indexed, k1=self.settings.bm25_k1, b=self.settings.bm25_b)
        log.info("lexical index for %s rebuilt: %d chunks (version %d)", collection.name, len(ids), version)
        return _LexicalSnapshot(version=version, index=index, texts=texts, metadatas=metadatas)


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
