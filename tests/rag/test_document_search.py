"""Document aggregation (best passage + first passage + document-level BM25) and the in-memory snapshot."""

from __future__ import annotations

import numpy as np
import pytest

from insight.config import SearchSettings
from insight.rag.chunking import chunk_document
from insight.rag.ingest import SourceDocument
from insight.rag.search import Ranking, RankScore, fuse_rankings
from insight.rag.service import RagService
from insight.rag.snapshot import build_snapshot, document_text
from insight.tokens import get_encoding
from tests.rag.fakes import doc

LONG = (
    "Photosynthesis turns light into chemical energy in the chloroplast. "
    + " ".join(f"Filler sentence number {i} talks about nothing in particular." for i in range(40))
    + " The final paragraph mentions mitochondria and cellular respiration."
)


def corpus() -> list[SourceDocument]:
    return [
        doc("biology", LONG, title="Plant cells", team="science"),
        doc("shipping", "Parcels ship from the Leeds warehouse; mitochondria are not involved.", team="ops"),
        doc("kitchen", "Respiration of dough: yeast ferments sugar overnight.", team="ops"),
    ]


def with_settings(rag: RagService, **changes: object) -> RagService:
    return RagService(rag.store, rag.embedder, rag.ingestor.encoding, rag.settings.model_copy(update=changes))


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_document_aggregation_returns_each_document_once_citing_its_best_chunk(
    rag: RagService, collection_name: str, mode: str
) -> None:
    rag.ingest(collection_name, corpus())
    assert rag.collection_info(collection_name).chunks > 3  # the long document is several chunks
    hits = rag.search(
        collection_name, "final paragraph mentions mitochondria cellular respiration", top_k=10, mode=mode
    )  # type: ignore[arg-type]
    doc_ids = [h.doc_id for h in hits]
    assert len(doc_ids) == len(set(doc_ids))
    assert doc_ids[0] == "biology"
    assert "mitochondria" in hits[0].text and hits[0].metadata["chunk_index"] > 0
    assert hits[0].text == LONG[hits[0].metadata["start"] : hits[0].metadata["end"]]


def test_chunk_aggregation_can_return_several_chunks_of_one_document(rag: RagService, collection_name: str) -> None:
    rag = with_settings(rag, aggregation="chunk")
    rag.ingest(collection_name, corpus())
    hits = rag.search(collection_name, "filler sentence", top_k=10, mode="lexical")
    assert [h.doc_id for h in hits].count("biology") > 1
    assert all(h.first_chunk is None for h in hits)


def test_first_passage_ranking_favours_documents_that_open_with_the_topic(
    rag: RagService, collection_name: str
) -> None:
    rag.ingest(collection_name, corpus())
    top = rag.search(collection_name, "photosynthesis chloroplast light energy", top_k=3)[0]
    assert top.doc_id == "biology"
    assert top.first_chunk is not None and top.first_chunk.rank == 1
    assert top.metadata["chunk_index"] == 0


@pytest.mark.parametrize("aggregation", ["document", "chunk"])
@pytest.mark.parametrize("fusion", ["weighted", "rrf"])
def test_filters_hold_for_every_aggregation_and_fusion(
    rag: RagService, collection_name: str, aggregation: str, fusion: str
) -> None:
    rag = with_settings(rag, aggregation=aggregation, fusion=fusion)
    rag.ingest(collection_name, corpus())
    hits = rag.search(collection_name, "mitochondria respiration", filters={"team": "ops"})
    assert hits and {h.doc_id for h in hits} <= {"shipping", "kitchen"}
    assert all(h.metadata["team"] == "ops" for h in hits)


@pytest.mark.parametrize("aggregation", ["document", "chunk"])
def test_large_collections_are_searched_through_chroma_with_the_same_results(
    rag: RagService, collection_name: str, aggregation: str
) -> None:
    exact = with_settings(rag, aggregation=aggregation)
    exact.ingest(collection_name, corpus())
    through_chroma = with_settings(rag, aggregation=aggregation, exact_dense_max_chunks=0)
    for query in ("mitochondria cellular respiration", "Leeds warehouse parcels", "yeast dough"):
        expected = exact.search(collection_name, query, top_k=3, mode="dense")
        got = through_chroma.search(collection_name, query, top_k=3, mode="dense")
        assert [h.chunk_id for h in got] == [h.chunk_id for h in expected]
        assert [h.score for h in got] == pytest.approx([h.score for h in expected], abs=1e-5)
    through_snapshot, exact_snapshot = (
        through_chroma.searcher.snapshot(collection_name),
        exact.searcher.snapshot(collection_name),
    )
    assert through_snapshot is not None and through_snapshot.vectors is None
    assert exact_snapshot is not None and exact_snapshot.vectors is not None


def test_snapshot_follows_every_change_of_the_collection(rag: RagService, collection_name: str) -> None:
    rag.ingest(collection_name, corpus())
    assert rag.search(collection_name, "zebras", mode="lexical") == []
    rag.ingest(collection_name, [doc("zoo", "Zebras graze on the savanna.")])
    assert rag.search(collection_name, "zebras", mode="lexical")[0].doc_id == "zoo"
    rag.delete_document(collection_name, "zoo")
    assert rag.search(collection_name, "zebras", mode="lexical") == []


def test_document_text_is_stitched_from_overlapping_chunks_without_repeats() -> None:
    encoding = get_encoding()
    source = doc("long", LONG, title="Plant cells")
    chunks = chunk_document(source.document, encoding, 48, 16)
    assert len(chunks) > 3 and any(b.start < a.end for a, b in zip(chunks, chunks[1:], strict=False))
    metadatas = [
        {"doc_id": "long", "chunk_index": c.index, "start": c.start, "end": c.end, "title": "Plant cells"}
        for c in reversed(chunks)  # storage order is not chunk order
    ]
    snapshot = build_snapshot(
        1, [f"long#{c.index}" for c in reversed(chunks)], [c.text for c in reversed(chunks)], metadatas, None,
        k1=1.5, b=0.75, title_repeats=2,
    )  # fmt: skip
    assert snapshot.ids == [f"long#{c.index}" for c in chunks]
    assert snapshot.doc_ids == ["long"] and snapshot.doc_first.tolist() == [0]
    ordered = sorted(metadatas, key=lambda m: m["chunk_index"])
    stitched = document_text([c.text for c in chunks], ordered, title_repeats=2)
    assert stitched.split() == ["Plant", "cells", "Plant", "cells", *LONG.split()]


def test_writes_by_another_process_show_once_the_snapshot_age_has_passed(rag: RagService, collection_name: str) -> None:
    rag.ingest(collection_name, corpus())
    cached = with_settings(rag, snapshot_max_age_s=3600)
    always_checks = with_settings(rag, snapshot_max_age_s=0)
    for service in (cached, always_checks):
        assert service.search(collection_name, "zebras", mode="lexical") == []
    rag.ingest(collection_name, [doc("zoo", "Zebras graze on the savanna.")])  # another replica writes
    assert always_checks.search(collection_name, "zebras", mode="lexical")[0].doc_id == "zoo"
    assert cached.search(collection_name, "zebras", mode="lexical") == []  # within its age: its copy stands
    cached.delete_document(collection_name, "shipping")  # its own write: seen at once, with the other one
    assert cached.search(collection_name, "zebras", mode="lexical")[0].doc_id == "zoo"
    assert "shipping" not in {h.doc_id for h in cached.search(collection_name, "parcels warehouse", mode="lexical")}


def test_fuse_rankings_min_max_and_rrf() -> None:
    settings = SearchSettings(fusion="weighted")
    best = Ranking([7, 3, 5], [0.9, 0.5, 0.1])
    lexical = Ranking([3, 9], [12.0, 2.0])
    fused = fuse_rankings([(0.4, best), (0.6, lexical), (0.5, Ranking([], []))], settings)
    assert fused == pytest.approx({7: 0.4, 3: 0.4 * 0.5 + 0.6, 5: 0.0, 9: 0.0})
    rrf = fuse_rankings([(1.0, best), (2.0, lexical)], settings.model_copy(update={"fusion": "rrf", "rrf_k": 10}))
    assert rrf == pytest.approx({7: 1 / 11, 3: 1 / 12 + 2 / 11, 5: 1 / 13, 9: 2 / 12})
    assert lexical.ranks([9, 7]) == {9: RankScore(2, 2.0)}


def test_best_chunk_falls_back_to_an_eligible_chunk_when_none_was_scored() -> None:
    metadatas = [{"doc_id": "d", "chunk_index": i, "team": team} for i, team in enumerate(["cx", "ops", "ops"])]
    snapshot = build_snapshot(
        1, ["d#0", "d#1", "d#2"], ["1", "2", "3"], metadatas, None, k1=1.5, b=0.75, title_repeats=0
    )
    unscored = np.full(3, -np.inf, dtype=np.float32)
    eligible = snapshot.eligible({"team": "ops"})
    assert snapshot.best_chunk(0, unscored, eligible) == 1
    assert snapshot.best_chunk(0, np.asarray([0.1, 0.2, 0.9], dtype=np.float32), eligible) == 2
