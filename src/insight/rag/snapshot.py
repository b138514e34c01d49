"""One collection read from Chroma into memory: chunks grouped by document, BM25 indexes, vectors.

A snapshot is immutable and tagged with the collection's ``version``; ``HybridSearcher`` builds a new
one when the version moves, so every replica (embedded or server mode) searches what Chroma holds.

Chunks are ordered by (document id, chunk index), so each document's chunks are one contiguous run
and per-document reductions (max over passages, first passage) are single numpy calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from insight.rag.lexical import Bm25Index
from insight.rag.protocols import FloatMatrix, LexicalIndex
from insight.rag.search import Filters, matches

FloatArray = FloatMatrix
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class CollectionSnapshot:
    version: int
    ids: list[str]
    texts: list[str]
    metadatas: list[dict[str, Any]]
    vectors: FloatArray | None
    """Unit vectors row-aligned with ``ids``; None when the collection is too large to hold (Chroma answers)."""
    chunk_lexical: LexicalIndex
    doc_ids: list[str]
    doc_starts: IntArray
    """Position of each document's first chunk; its chunks run up to the next document's start."""
    doc_first: IntArray
    """Position of each document's first passage (chunk 0, or its lowest index if chunk 0 is missing)."""
    doc_lexical: LexicalIndex
    positions_by_id: dict[str, int]

    def __len__(self) -> int:
        return len(self.ids)

    def eligible(self, filters: Filters | None) -> BoolArray | None:
        """Chunks that pass the filters; None when there are none (every chunk is eligible)."""
        if not filters:
            return None
        return np.fromiter((matches(meta, filters) for meta in self.metadatas), dtype=np.bool_, count=len(self.ids))

    def doc_eligible(self, eligible: BoolArray | None) -> BoolArray | None:
        """A document is eligible when any of its chunks is."""
        if eligible is None or not len(self.ids):
            return None
        return np.logical_or.reduceat(eligible, self.doc_starts)

    def max_per_doc(self, chunk_scores: FloatArray) -> FloatArray:
        return np.maximum.reduceat(chunk_scores, self.doc_starts) if len(self.ids) else chunk_scores

    def best_chunk(self, doc: int, chunk_scores: FloatArray, eligible: BoolArray | None = None) -> int:
        """The document's chunk with the highest score; when none was scored, its first eligible chunk."""
        start = int(self.doc_starts[doc])
        end = int(self.doc_starts[doc + 1]) if doc + 1 < len(self.doc_starts) else len(self.ids)
        best = start + int(np.argmax(chunk_scores[start:end]))
        if np.isneginf(chunk_scores[best]) and eligible is not None and eligible[start:end].any():
            return start + int(np.argmax(eligible[start:end]))
        return best


def build_snapshot(
    version: int,
    ids: Sequence[str],
    texts: Sequence[str],
    metadatas: Sequence[dict[str, Any]],
    vectors: FloatArray | None,
    *,
    k1: float,
    b: float,
    title_repeats: int,
) -> CollectionSnapshot:
    order = sorted(range(len(ids)), key=lambda i: (str(metadatas[i].get("doc_id", "")), _chunk_index(metadatas[i])))
    ids = [ids[i] for i in order]
    texts = [texts[i] for i in order]
    metadatas = [metadatas[i] for i in order]
    if vectors is not None and len(order):
        vectors = np.ascontiguousarray(vectors[np.asarray(order)], dtype=np.float32)
    doc_ids: list[str] = []
    starts: list[int] = []
    for position, meta in enumerate(metadatas):
        doc_id = str(meta.get("doc_id", ""))
        if not doc_ids or doc_ids[-1] != doc_id:
            doc_ids.append(doc_id)
            starts.append(position)
    ends = [*starts[1:], len(ids)] if starts else []
    doc_texts = [
        document_text(texts[start:end], metadatas[start:end], title_repeats)
        for start, end in zip(starts, ends, strict=True)
    ]
    chunk_indexed = [f"{meta.get('title', '')}\n{text}" for meta, text in zip(metadatas, texts, strict=True)]
    return CollectionSnapshot(
        version=version,
        ids=list(ids),
        texts=list(texts),
        metadatas=list(metadatas),
        vectors=vectors,
        chunk_lexical=Bm25Index(ids, chunk_indexed, k1=k1, b=b),
        doc_ids=doc_ids,
        doc_starts=np.asarray(starts, dtype=np.intp),
        doc_first=np.asarray(starts, dtype=np.intp),
        doc_lexical=Bm25Index(doc_ids, doc_texts, k1=k1, b=b),
        positions_by_id={chunk_id: i for i, chunk_id in enumerate(ids)},
    )


def _chunk_index(meta: dict[str, Any]) -> int:
    value = meta.get("chunk_index", 0)
    return int(value) if isinstance(value, int | float) else 0


def document_text(texts: Sequence[str], metadatas: Sequence[dict[str, Any]], title_repeats: int) -> str:
    """The document's title ``title_repeats`` times, then its text stitched back from its chunk spans.

    Overlapping chunks are joined without repeating the overlap, so each word counts once.
    """
    parts: list[str] = []
    covered = -1
    for text, meta in zip(texts, metadatas, strict=True):
        start, end = meta.get("start"), meta.get("end")
        if isinstance(start, int) and isinstance(end, int) and end - start == len(text) and covered > start:
            if covered < end:
                parts.append(text[covered - start :])
                covered = end
            continue
        parts.append(text)
        covered = end if isinstance(end, int) else -1
    title = str(metadatas[0].get("title", "")) if metadatas else ""
    return " ".join([*([title] * title_repeats if title else []), "".join(_spaced(parts))])


def _spaced(parts: list[str]) -> list[str]:
    """Separate pieces with a space unless the join falls inside a word (a continued span)."""
    out: list[str] = []
    for part in parts:
        if out and part and not part[0].isspace() and not out[-1][-1:].isspace():
            out.append(" ")
        out.append(part)
    return out
