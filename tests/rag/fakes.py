"""Test doubles for the search job: a deterministic hashed bag-of-words embedder, and plain-text documents."""

from __future__ import annotations

import hashlib
import re

import numpy as np
from langchain_core.embeddings import Embeddings

from insight.rag.ingest import SourceDocument
from insight.rag.loaders import LoadedDocument

DIM = 64


class HashEmbeddings(Embeddings):
    """An ``Embedder``: unit-length hashed bag of words (64 dimensions); ``calls`` records each batch size."""

    model_id = "hash-bow-64"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(DIM, dtype=np.float32)
        for word in re.findall(r"[a-z0-9]+", text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
            vector[int.from_bytes(digest, "little") % DIM] += 1.0
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:
            vector[0] = 1.0
            return vector
        return vector / norm

    def embed_array(self, texts: list[str]) -> np.ndarray:
        self.calls.append(len(texts))
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, DIM), np.float32)

    def embed_query_array(self, queries: list[str]) -> np.ndarray:
        return np.stack([self._vector(q) for q in queries]) if queries else np.zeros((0, DIM), np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text).tolist()  # type: ignore[no-any-return]


class FailingAfter(HashEmbeddings):
    """Raises on the n-th embedding call: an ingestion interrupted half-way."""

    def __init__(self, fail_on_call: int) -> None:
        super().__init__()
        self.fail_on_call = fail_on_call

    def embed_array(self, texts: list[str]) -> np.ndarray:
        if len(self.calls) + 1 == self.fail_on_call:
            self.calls.append(len(texts))
            raise RuntimeError("simulated crash during embedding")
        return super().embed_array(texts)


def doc(doc_id: str, text: str, title: str = "", **metadata: str | int) -> SourceDocument:
    """A plain-text source document whose source is its id (title: the id unless given)."""
    return SourceDocument(
        doc_id=doc_id,
        document=LoadedDocument(source=doc_id, title=title or doc_id, text=text, kind="text"),
        metadata=dict(metadata),
    )
