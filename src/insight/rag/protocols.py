"""The search job's seams: what ingestion and hybrid search need of an embedder, a vector store and a lexical index.

Each seam has one contract suite (``tests/contracts/``) that every implementation passes:

- ``Embedder``: ``OnnxMiniLMEmbeddings`` (local ONNX), ``OpenAICompatibleEmbedder`` (an ``/embeddings``
  endpoint) and the tests' hash embedder;
- ``VectorStore``: ``ChromaStore`` over an embedded (``PersistentClient``) or a server (``HttpClient``) Chroma;
- ``LexicalIndex``: ``Bm25Index`` (bm25s).

The plain data that crosses the seams (``Metadata``, ``CollectionInfo``, ``StoredChunks``) lives here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

FloatMatrix = npt.NDArray[np.float32]
Scores = npt.NDArray[np.float32]
Metadata = dict[str, str | int | float | bool]


@runtime_checkable
class Embedder(Protocol):
    """Texts → vectors, batched by the implementation; rows in input order, one per text."""

    model_id: str
    """Recorded on every collection the embedder writes: vectors of different models never mix."""

    def embed_array(self, texts: Sequence[str]) -> FloatMatrix:
        """Passages as a float32 matrix of shape ``(len(texts), dimension)``."""
        ...

    def embed_query_array(self, queries: Sequence[str]) -> FloatMatrix:
        """Queries as a float32 matrix (an implementation may use a faster query model)."""
        ...

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """LangChain's list form of ``embed_array``."""
        ...

    def embed_query(self, text: str) -> list[float]:
        """LangChain's list form of ``embed_query_array`` for one query."""
        ...


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    chunks: int
    documents: int
    version: int
    embedding_model: str


@dataclass(frozen=True)
class StoredChunks:
    """A whole collection as read back: ids, texts and metadata row-aligned; vectors when asked for."""

    ids: list[str]
    texts: list[str]
    metadatas: list[dict[str, Any]]
    vectors: FloatMatrix | None


@runtime_checkable
class VectorStore(Protocol):
    """Named collections of chunks (id, vector, text, metadata) with a version bumped on every change.

    Collections are addressed by name; every failure is a domain error (``CollectionNotFound``,
    ``CollectionExists``, ``InvalidInput`` for a bad name, ``VectorStoreUnavailable`` for the rest).
    """

    embedding_model: str

    def heartbeat(self) -> None: ...

    def create(self, name: str) -> CollectionInfo: ...

    def ensure(self, name: str) -> None:
        """Create the collection unless it exists."""
        ...

    def names(self) -> list[str]: ...

    def info(self, name: str) -> CollectionInfo: ...

    def delete(self, name: str) -> None: ...

    def version(self, name: str) -> int: ...

    def count(self, name: str) -> int:
        """Chunks held."""
        ...

    def bump_version(self, name: str, documents_delta: int) -> int:
        """Mark a change (and the change in documents held); the new version."""
        ...

    def upsert(
        self,
        name: str,
        ids: Sequence[str],
        vectors: FloatMatrix,
        texts: Sequence[str],
        metadatas: Sequence[Metadata],
    ) -> None: ...

    def delete_chunks(self, name: str, ids: Sequence[str]) -> None: ...

    def existing_chunks(self, name: str, doc_ids: Sequence[str]) -> dict[str, list[tuple[str, Metadata]]]:
        """Chunk ids and metadata already stored for these documents, grouped by ``doc_id``."""
        ...

    def read_all(self, name: str, *, with_vectors: bool) -> StoredChunks:
        """Every chunk, read a page at a time."""
        ...

    def nearest(self, name: str, vector: FloatMatrix, k: int, where: dict[str, Any] | None) -> list[tuple[str, float]]:
        """Up to ``k`` (chunk id, cosine distance) nearest ``vector`` (1-D), closest first; approximate (HNSW)."""
        ...


@runtime_checkable
class LexicalIndex(Protocol):
    """A keyword index over fixed texts; positions in results index ``ids``."""

    ids: list[str]

    def __len__(self) -> int: ...

    def query_tokens(self, query: str) -> list[str]:
        """The query as this index's terms (tokenised once, scored against several indexes)."""
        ...

    def scores(self, tokens: Sequence[str]) -> Scores:
        """A score for every indexed text (0 where no term matches), float32, aligned with ``ids``."""
        ...
