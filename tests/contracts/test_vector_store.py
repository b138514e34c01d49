"""The ``VectorStore`` contract, run against ``ChromaStore`` on an embedded and on a server Chroma.

HNSW is approximate: nearest-neighbour checks use well-separated vectors and assert the top hit or the
set of hits, never the exact order of near ties.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

import insight.rag.store as store_module
from insight.config import VectorStoreSettings
from insight.errors import CollectionExists, CollectionNotFound, InvalidInput
from insight.rag.protocols import Metadata, VectorStore
from insight.rag.store import ChromaStore, build_chroma_client

DIM = 8
MODEL = "contract-model"


@pytest.fixture(params=["embedded", "server"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> VectorStore:
    if request.param == "embedded":
        settings = VectorStoreSettings(path=tmp_path / "vectorstore")
    else:
        settings = request.getfixturevalue("chroma_server")
    return ChromaStore(build_chroma_client(settings), embedding_model=MODEL)


@pytest.fixture
def name() -> str:
    """Unique per test: tests share the session's server."""
    return f"c-{uuid.uuid4().hex[:12]}"


def axis(i: int, scale: float = 1.0) -> np.ndarray:
    vector = np.zeros(DIM, dtype=np.float32)
    vector[i] = scale
    return vector


def chunk(doc_id: str, index: int, **extra: str | int | float | bool) -> Metadata:
    return {"doc_id": doc_id, "chunk_index": index, **extra}


def fill(store: VectorStore, name: str) -> None:
    """Four chunks of three documents, each along its own axis."""
    store.ensure(name)
    store.upsert(
        name,
        ["a#0", "a#1", "b#0", "c#0"],
        np.stack([axis(0), axis(1), axis(2), axis(3)]),
        ["alpha zero", "alpha one", "beta", "gamma"],
        [chunk("a", 0, team="x"), chunk("a", 1, team="x"), chunk("b", 0, team="y"), chunk("c", 0, team="y")],
    )


def test_is_a_vector_store_that_answers(store: VectorStore) -> None:
    assert isinstance(store, VectorStore)
    store.heartbeat()


def test_a_new_collection_is_empty_at_version_zero(store: VectorStore, name: str) -> None:
    info = store.create(name)
    assert (info.name, info.chunks, info.documents, info.version, info.embedding_model) == (name, 0, 0, 0, MODEL)
    assert name in store.names()
    assert store.count(name) == 0 and store.version(name) == 0
    with pytest.raises(CollectionExists):
        store.create(name)


def test_ensure_creates_once(store: VectorStore, name: str) -> None:
    store.ensure(name)
    store.bump_version(name, documents_delta=1)
    store.ensure(name)  # already there: left as it is
    assert store.version(name) == 1


def test_deleted_and_unknown_collections_are_not_found(store: VectorStore, name: str) -> None:
    store.create(name)
    store.delete(name)
    assert name not in store.names()
    for call in (store.info, store.version, store.count, store.delete):
        with pytest.raises(CollectionNotFound):
            call(name)
    with pytest.raises(CollectionNotFound):
        store.read_all(name, with_vectors=False)


@pytest.mark.parametrize("bad", ["ab", "-starts-with-dash", "Upper", "has space", "x" * 64])
def test_bad_names_are_invalid_input(store: VectorStore, bad: str) -> None:
    with pytest.raises(InvalidInput):
        store.create(bad)


def test_what_is_upserted_reads_back(store: VectorStore, name: str) -> None:
    fill(store, name)
    assert store.count(name) == 4
    stored = store.read_all(name, with_vectors=True)
    assert stored.vectors is not None and stored.vectors.dtype == np.float32
    rows = {chunk_id: i for i, chunk_id in enumerate(stored.ids)}
    assert set(rows) == {"a#0", "a#1", "b#0", "c#0"}
    assert stored.texts[rows["b#0"]] == "beta"
    assert stored.metadatas[rows["c#0"]] == {"doc_id": "c", "chunk_index": 0, "team": "y"}
    np.testing.assert_allclose(stored.vectors[rows["a#1"]], axis(1), atol=1e-6)
    without = store.read_all(name, with_vectors=False)
    assert without.vectors is None and sorted(without.ids) == sorted(stored.ids)


def test_reading_pages_through_the_whole_collection(
    store: VectorStore, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "PAGE", 3)
    store.ensure(name)
    ids = [f"d{i}#0" for i in range(7)]
    store.upsert(name, ids, np.stack([axis(i % DIM) for i in range(7)]), ids, [chunk(f"d{i}", 0) for i in range(7)])
    stored = store.read_all(name, with_vectors=True)
    assert sorted(stored.ids) == sorted(ids) and stored.vectors is not None and stored.vectors.shape == (7, DIM)


def test_upsert_replaces_by_id_and_delete_removes(store: VectorStore, name: str) -> None:
    fill(store, name)
    store.upsert(name, ["b#0"], axis(4)[None, :], ["beta again"], [chunk("b", 0, team="z")])
    assert store.count(name) == 4
    stored = store.read_all(name, with_vectors=False)
    assert stored.texts[stored.ids.index("b#0")] == "beta again"
    store.delete_chunks(name, ["a#1", "c#0"])
    store.delete_chunks(name, [])
    assert sorted(store.read_all(name, with_vectors=False).ids) == ["a#0", "b#0"]


def test_existing_chunks_are_grouped_by_document(store: VectorStore, name: str) -> None:
    fill(store, name)
    found = store.existing_chunks(name, ["a", "c", "missing"])
    assert set(found) == {"a", "c"}
    assert sorted(chunk_id for chunk_id, _ in found["a"]) == ["a#0", "a#1"]
    assert all(meta["doc_id"] == "a" for _, meta in found["a"])
    assert store.existing_chunks(name, []) == {}


def test_bump_version_counts_changes_and_documents(store: VectorStore, name: str) -> None:
    store.create(name)
    assert store.bump_version(name, documents_delta=3) == 1
    assert store.bump_version(name, documents_delta=-1) == 2
    assert store.bump_version(name, documents_delta=-5) == 3  # never below zero documents
    info = store.info(name)
    assert (info.version, info.documents) == (3, 0)


def test_nearest_finds_the_closest_vector(store: VectorStore, name: str) -> None:
    fill(store, name)
    query = axis(2) + axis(0, 0.1)
    nearest = store.nearest(name, query, k=2, where=None)
    assert len(nearest) == 2
    assert nearest[0][0] == "b#0"
    assert {chunk_id for chunk_id, _ in nearest} == {"b#0", "a#0"}
    assert nearest[0][1] < nearest[1][1]  # cosine distances, closest first
    exact = store.nearest(name, axis(3), k=1, where=None)
    assert exact[0][0] == "c#0" and exact[0][1] == pytest.approx(0.0, abs=1e-4)
    assert store.nearest(name, axis(3), k=0, where=None) == []


def test_nearest_honours_a_where_filter(store: VectorStore, name: str) -> None:
    fill(store, name)
    filtered = store.nearest(name, axis(2), k=4, where={"team": "x"})
    assert {chunk_id for chunk_id, _ in filtered} == {"a#0", "a#1"}
    in_list = store.nearest(name, axis(0), k=4, where={"doc_id": {"$in": ["b", "c"]}})
    assert {chunk_id for chunk_id, _ in in_list} == {"b#0", "c#0"}
