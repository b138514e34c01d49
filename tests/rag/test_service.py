"""Ingestion, idempotency, deletion and hybrid search — against embedded and server Chroma."""

from __future__ import annotations

import pytest

from insight.errors import CollectionExists, CollectionNotFound, DocumentNotFound, InvalidInput
from insight.rag.chunking import chunk_document
from insight.rag.ingest import SourceDocument
from insight.rag.service import RagService
from tests.rag.fakes import FailingAfter, HashEmbeddings, doc

TOPICS = {
    "refunds": "Refunds are paid within 30 days to the original card. Ask support with the order number.",
    "shipping": "Parcels ship from the Leeds warehouse every weekday; tracking numbers arrive by email.",
    "security": "Passwords rotate every ninety days and laptops use full disk encryption with recovery keys.",
    "holidays": "Staff take twenty five days of annual leave plus public holidays, booked in the HR portal.",
}


def corpus() -> list[SourceDocument]:
    return [doc(name, text, team="ops" if name in {"shipping", "holidays"} else "cx") for name, text in TOPICS.items()]


def long_text(words: int, seed: str) -> str:
    return " ".join(f"{seed}{i % 97} lorem" for i in range(words))


def all_chunk_ids(rag: RagService, name: str) -> list[str]:
    return rag.store.read_all(name, with_vectors=False).ids


def test_ingest_then_unchanged_reingest_embeds_nothing(
    rag: RagService, embedder: HashEmbeddings, collection_name: str
) -> None:
    first = rag.ingest(collection_name, corpus())
    assert sorted(first.added) == sorted(TOPICS) and first.chunks_embedded >= len(TOPICS)
    calls_before = len(embedder.calls)
    again = rag.ingest(collection_name, corpus())
    assert sorted(again.unchanged) == sorted(TOPICS)
    assert again.chunks_embedded == 0 and len(embedder.calls) == calls_before
    info = rag.collection_info(collection_name)
    assert info.documents == len(TOPICS) and info.chunks == first.chunks_embedded


def test_changed_document_replaces_its_chunks(rag: RagService, collection_name: str) -> None:
    rag.ingest(collection_name, [doc("manual", long_text(400, "alpha"))])
    before = all_chunk_ids(rag, collection_name)
    assert len(before) > 3
    report = rag.ingest(collection_name, [doc("manual", "A short replacement about zebras.")])
    assert report.updated == ["manual"] and report.chunks_deleted == len(before) - 1
    assert all_chunk_ids(rag, collection_name) == ["manual#0"]
    hits = rag.search(collection_name, "alpha5 lorem", mode="lexical")
    assert all("alpha" not in h.text for h in hits)
    assert rag.search(collection_name, "zebras", mode="lexical")[0].doc_id == "manual"


def test_interrupted_ingestion_rerun_has_no_duplicates_and_nothing_missing(
    collection_name: str, rag: RagService
) -> None:
    documents = [doc(f"d{i}", long_text(60, f"w{i}x")) for i in range(10)]
    crashing = RagService(rag.store, FailingAfter(fail_on_call=2), rag.ingestor.encoding, rag.settings)
    crashing.ingestor.docs_per_batch = 3
    with pytest.raises(Exception, match="simulated crash"):
        crashing.ingest(collection_name, documents)
    partial = all_chunk_ids(rag, collection_name)
    assert 0 < len(partial)

    report = rag.ingest(collection_name, documents)
    assert len(report.unchanged) == 3 and len(report.added) == 7
    ids = all_chunk_ids(rag, collection_name)
    assert len(ids) == len(set(ids))
    settings = rag.settings
    expected = {
        f"{d.doc_id}#{c.index}"
        for d in documents
        for c in chunk_document(d.document, rag.ingestor.encoding, settings.chunk_tokens, settings.chunk_overlap)
    }
    assert set(ids) == expected
    assert rag.collection_info(collection_name).documents == 10


def test_delete_removes_a_document_from_dense_and_lexical(rag: RagService, collection_name: str) -> None:
    rag.ingest(collection_name, corpus())
    assert rag.search(collection_name, "warehouse tracking", mode="lexical")[0].doc_id == "shipping"
    assert rag.delete_document(collection_name, "shipping") >= 1
    for mode in ("lexical", "dense", "hybrid"):
        assert "shipping" not in {h.doc_id for h in rag.search(collection_name, "warehouse tracking", mode=mode)}
    with pytest.raises(DocumentNotFound):
        rag.delete_document(collection_name, "shipping")
    assert rag.collection_info(collection_name).documents == len(TOPICS) - 1


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_each_mode_finds_the_matching_document(rag: RagService, collection_name: str, mode: str) -> None:
    rag.ingest(collection_name, corpus())
    hits = rag.search(collection_name, "annual leave public holidays", top_k=2, mode=mode)  # type: ignore[arg-type]
    assert hits[0].doc_id == "holidays"
    assert len(hits) <= 2


def with_settings(rag: RagService, **changes: object) -> RagService:
    return RagService(rag.store, rag.embedder, rag.ingestor.encoding, rag.settings.model_copy(update=changes))


def test_hybrid_chunk_hits_carry_a_score_breakdown(rag: RagService, collection_name: str) -> None:
    rag = with_settings(rag, aggregation="chunk", fusion="rrf", dense_weight=1.0, lexical_weight=1.0)
    rag.ingest(collection_name, corpus())
    top = rag.search(collection_name, "disk encryption passwords", top_k=3)[0]
    assert top.doc_id == "security"
    assert top.dense is not None and top.dense.rank == 1
    assert top.lexical is not None and top.lexical.rank == 1 and top.lexical.score > 0
    assert top.score == pytest.approx(2 / (rag.settings.rrf_k + 1))
    assert top.first_chunk is None
    assert top.metadata["start"] == 0 and top.metadata["end"] == len(TOPICS["security"])


def test_hybrid_document_hits_fuse_three_rankings(rag: RagService, collection_name: str) -> None:
    rag.ingest(collection_name, corpus())
    top = rag.search(collection_name, "disk encryption passwords", top_k=3)[0]
    assert top.doc_id == "security"
    assert top.dense is not None and top.dense.rank == 1
    assert top.first_chunk is not None and top.first_chunk.rank == 1
    assert top.lexical is not None and top.lexical.rank == 1 and top.lexical.score > 0
    settings = rag.settings
    # first in all three lists: each min-max-normalised score is 1
    assert top.score == pytest.approx(settings.first_chunk_weight + settings.dense_weight + settings.lexical_weight)
    assert top.metadata["start"] == 0 and top.metadata["end"] == len(TOPICS["security"])


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_filters_restrict_every_mode(rag: RagService, collection_name: str, mode: str) -> None:
    rag.ingest(collection_name, corpus())
    hits = rag.search(collection_name, "refunds warehouse passwords leave", mode=mode, filters={"team": "ops"})  # type: ignore[arg-type]
    assert hits and {h.doc_id for h in hits} <= {"shipping", "holidays"}
    hits = rag.search(collection_name, "refunds", mode=mode, filters={"team": {"$in": ["cx"]}})  # type: ignore[arg-type]
    assert hits and {h.doc_id for h in hits} <= {"refunds", "security"}


def test_bad_filter_is_invalid_input(rag: RagService, collection_name: str) -> None:
    rag.ingest(collection_name, corpus())
    with pytest.raises(InvalidInput, match="a filter is a value"):
        rag.search(collection_name, "x", filters={"team": {"$regex": "o.*"}})


def test_collections_lifecycle(rag: RagService, collection_name: str) -> None:
    info = rag.create_collection(collection_name)
    assert (info.documents, info.chunks, info.version) == (0, 0, 0)
    with pytest.raises(CollectionExists):
        rag.create_collection(collection_name)
    assert collection_name in {c.name for c in rag.collections()}
    assert rag.search(collection_name, "anything") == []
    rag.delete_collection(collection_name)
    with pytest.raises(CollectionNotFound):
        rag.search(collection_name, "anything")


@pytest.mark.parametrize("name", ["A", "ab", "has space", "-lead", "x" * 70])
def test_bad_collection_names_are_invalid_input(rag: RagService, name: str) -> None:
    with pytest.raises(InvalidInput, match="collection names are 3-63 characters"):
        rag.create_collection(name)


def test_files_ingest_with_per_file_failures(rag: RagService, collection_name: str) -> None:
    files = [
        ("guide.md", b"# Guide\n\nThe onboarding guide explains badges.\n\n## Access\n\nBadges open doors."),
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf"),
        ("records.jsonl", b'{"_id": "r1", "title": "One", "text": "first record"}\n{"_id": "r2", "text": "second"}\n'),
    ]
    report = rag.ingest_files(collection_name, files, metadata={"batch": "b1"})
    assert sorted(report.added) == ["guide.md", "r1", "r2"]
    assert [source for source, _ in report.failed] == ["broken.pdf"]
    assert "broken.pdf" in report.failed[0][1]
    hit = rag.search(collection_name, "badges open doors", mode="lexical", filters={"batch": "b1"})[0]
    assert hit.doc_id == "guide.md" and hit.metadata.get("section") == "Access"
    text = hit.text
    assert text in files[0][1].decode()
