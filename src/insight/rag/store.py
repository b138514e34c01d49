"""Chroma as the one source of truth: embedded (``PersistentClient``) or a server (``HttpClient``).

``ChromaStore`` is the ``VectorStore`` (``insight.rag.protocols``) over either client: the same code path,
one setting apart. Every insight collection is one Chroma collection named ``insight-<name>``. Its metadata carries
a ``version`` bumped on every change, so each replica can tell when its lexical index is stale.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import chromadb
import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import NotFoundError

from insight.config import VectorStoreSettings
from insight.errors import (
    CollectionExists,
    CollectionNotFound,
    FieldProblem,
    InvalidInput,
    VectorStoreUnavailable,
)
from insight.rag.protocols import CollectionInfo as CollectionInfo
from insight.rag.protocols import FloatMatrix, StoredChunks
from insight.rag.protocols import Metadata as Metadata

PREFIX = "insight-"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$")
PAGE = 5000


def build_chroma_client(settings: VectorStoreSettings) -> ClientAPI:
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    try:
        if settings.host:
            return chromadb.HttpClient(host=settings.host, port=settings.port, settings=chroma_settings)
        settings.path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(settings.path), settings=chroma_settings)
    except Exception as exc:  # chromadb raises bare Exceptions/ValueErrors on connect
        where = f"{settings.host}:{settings.port}" if settings.host else str(settings.path)
        raise VectorStoreUnavailable(f"Chroma at {where} is unavailable: {exc}") from exc


def validate_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise InvalidInput(
            [
                FieldProblem(
                    ("path", "name"),
                    "collection names are 3-63 characters of a-z, 0-9, '-' and '_', "
                    "starting and ending with a letter or digit",
                    "string_pattern_mismatch",
                )
            ]
        )
    return name


class ChromaStore:
    """Collections and chunk records in Chroma; translates its failures into domain errors."""

    def __init__(self, client: ClientAPI, embedding_model: str) -> None:
        self.client = client
        self.embedding_model = embedding_model

    def heartbeat(self) -> None:
        try:
            self.client.heartbeat()
        except Exception as exc:
            raise VectorStoreUnavailable(f"Chroma is not answering: {exc}") from exc

    def create(self, name: str) -> CollectionInfo:
        validate_name(name)
        try:
            self.client.create_collection(
                PREFIX + name,
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"version": 0, "documents": 0, "embedding_model": self.embedding_model},
            )
        except chromadb.errors.InternalError as exc:
            if "already exists" in str(exc):
                raise CollectionExists(f"collection {name!r} already exists") from exc
            raise VectorStoreUnavailable(f"Chroma failed to create {name!r}: {exc}") from exc
        except Exception as exc:
            if "already exists" in str(exc):
                raise CollectionExists(f"collection {name!r} already exists") from exc
            raise VectorStoreUnavailable(f"Chroma failed to create {name!r}: {exc}") from exc
        return self.info(name)

    def ensure(self, name: str) -> None:
        validate_name(name)
        try:
            self.collection(name)
        except CollectionNotFound:
            self.create(name)

    def collection(self, name: str) -> Collection:
        try:
            collection = self.client.get_collection(PREFIX + name, embedding_function=None)
        except NotFoundError as exc:
            raise CollectionNotFound(f"collection {name!r} does not exist") from exc
        except Exception as exc:
            if "does not exist" in str(exc):
                raise CollectionNotFound(f"collection {name!r} does not exist") from exc
            raise VectorStoreUnavailable(f"Chroma is unavailable: {exc}") from exc
        return collection

    def names(self) -> list[str]:
        try:
            collections = self.client.list_collections()
        except Exception as exc:
            raise VectorStoreUnavailable(f"Chroma is unavailable: {exc}") from exc
        return sorted(c.name.removeprefix(PREFIX) for c in collections if c.name.startswith(PREFIX))

    def info(self, name: str) -> CollectionInfo:
        collection = self.collection(name)
        meta = collection.metadata or {}
        return CollectionInfo(
            name=name,
            chunks=collection.count(),
            documents=int(meta.get("documents", 0)),
            version=int(meta.get("version", 0)),
            embedding_model=str(meta.get("embedding_model", "")),
        )

    def delete(self, name: str) -> None:
        self.collection(name)
        self.client.delete_collection(PREFIX + name)

    def version(self, name: str) -> int:
        return int((self.collection(name).metadata or {}).get("version", 0))

    def count(self, name: str) -> int:
        return self.collection(name).count()

    def bump_version(self, name: str, documents_delta: int) -> int:
        collection = self.collection(name)
        meta: dict[str, Any] = dict(collection.metadata or {})
        meta["version"] = int(meta.get("version", 0)) + 1
        meta["documents"] = max(0, int(meta.get("documents", 0)) + documents_delta)
        collection.modify(metadata=meta)
        return int(meta["version"])

    def upsert(
        self,
        name: str,
        ids: Sequence[str],
        vectors: FloatMatrix,
        texts: Sequence[str],
        metadatas: Sequence[Metadata],
    ) -> None:
        """Write in Chroma's largest batches (the server caps a request's size)."""
        collection = self.collection(name)
        step = self.client.get_max_batch_size()
        for at in range(0, len(ids), step):
            collection.upsert(
                ids=list(ids[at : at + step]),
                embeddings=vectors[at : at + step],
                documents=list(texts[at : at + step]),
                metadatas=list(metadatas[at : at + step]),
            )

    def delete_chunks(self, name: str, ids: Sequence[str]) -> None:
        if ids:
            self.collection(name).delete(ids=list(ids))

    def existing_chunks(self, name: str, doc_ids: Sequence[str]) -> dict[str, list[tuple[str, Metadata]]]:
        """Chunk ids and metadata already stored for these documents, grouped by document."""
        if not doc_ids:
            return {}
        where: Any = {"doc_id": {"$in": list(doc_ids)}}
        found = self.collection(name).get(where=where, include=["metadatas"])
        grouped: dict[str, list[tuple[str, Metadata]]] = {}
        for chunk_id, meta in zip(found["ids"], found["metadatas"] or [], strict=True):
            grouped.setdefault(str(meta["doc_id"]), []).append((chunk_id, dict(meta)))  # type: ignore[arg-type]
        return grouped

    def read_all(self, name: str, *, with_vectors: bool) -> StoredChunks:
        collection = self.collection(name)
        include: list[Any] = ["documents", "metadatas", "embeddings"] if with_vectors else ["documents", "metadatas"]
        ids: list[str] = []
        texts: list[str] = []
        metadatas: list[dict[str, Any]] = []
        vectors: list[FloatMatrix] = []
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
        return StoredChunks(ids, texts, metadatas, matrix)

    def nearest(self, name: str, vector: FloatMatrix, k: int, where: dict[str, Any] | None) -> list[tuple[str, float]]:
        if k <= 0:
            return []
        result = self.collection(name).query(
            query_embeddings=vector[None, :], n_results=k, where=where, include=["distances"]
        )
        return [
            (chunk_id, float(distance))
            for chunk_id, distance in zip(result["ids"][0], (result["distances"] or [[]])[0], strict=True)
        ]
