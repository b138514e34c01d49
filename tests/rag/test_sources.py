"""Files as source documents: JSON/JSONL record files (peeked through ``insight.reader``), other files whole."""

from __future__ import annotations

import codecs
import json

import pytest

from insight.errors import InvalidDocument, InvalidInput, UnsupportedFileType
from insight.rag.sources import check_metadata, documents_from_file, holds_records

RECORDS = [
    {"_id": "d1", "title": "Aspirin", "text": "Aspirin lowers risk.", "metadata": {"year": 2001}, "tags": ["x"]},
    {"_id": "d2", "text": "No title here.", "source": "kept out"},
]


def jsonl(*values: object) -> bytes:
    return b"".join(json.dumps(value).encode() + b"\n" for value in values)


def test_a_jsonl_of_records_gives_one_document_per_record() -> None:
    documents = documents_from_file("corpus/scifact.jsonl", jsonl(*RECORDS), {"team": "cx"})
    assert [d.doc_id for d in documents] == ["d1", "d2"]
    first, second = documents
    assert (first.document.title, first.document.text, first.document.kind) == (
        "Aspirin",
        "Aspirin lowers risk.",
        "jsonl",
    )
    assert first.document.source == "scifact.jsonl"
    assert first.metadata == {"year": 2001, "team": "cx"}  # scalar record fields, caller metadata wins
    assert second.document.title == "d2" and "source" not in second.metadata  # reserved names stay out


def test_a_json_list_of_records_gives_one_document_per_record() -> None:
    documents = documents_from_file("records.json", json.dumps(RECORDS).encode(), {})
    assert [(d.doc_id, d.document.kind) for d in documents] == [("d1", "json"), ("d2", "json")]


def test_json_without_ids_is_one_document_named_by_the_file() -> None:
    data = jsonl({"text": "first line"}, {"text": "second line"})
    (document,) = documents_from_file("notes.jsonl", data, {}, doc_id="folder/notes.jsonl")
    assert document.doc_id == "folder/notes.jsonl"
    assert "first line" in document.document.text and "second line" in document.document.text


def test_other_files_are_one_document_each() -> None:
    (document,) = documents_from_file("dir/readme.md", b"# Title\n\nBody text.", {"team": "ops"})
    assert (document.doc_id, document.document.kind, document.metadata) == ("readme.md", "markdown", {"team": "ops"})


def test_the_record_peek_reads_json_as_the_reader_does() -> None:
    assert holds_records(codecs.BOM_UTF8 + jsonl(RECORDS[0]), ".jsonl", "x.jsonl")  # a byte-order mark is honoured
    assert holds_records(b"\n\n" + jsonl({"id": 3}), ".jsonl", "x.jsonl")  # blank lines skipped
    assert holds_records(json.dumps({"id": "one"}).encode(), ".json", "x.json")
    assert not holds_records(jsonl([1, 2]), ".jsonl", "x.jsonl")
    assert not holds_records(b"{not json", ".jsonl", "x.jsonl")
    assert not holds_records(b"[]", ".json", "x.json")
    assert not holds_records(b"", ".jsonl", "x.jsonl")


def test_a_broken_line_after_a_record_names_the_line() -> None:
    data = jsonl(RECORDS[0]) + b"{broken\n"
    with pytest.raises(InvalidDocument, match=r"broken.jsonl: invalid JSON at line 2"):
        documents_from_file("broken.jsonl", data, {})


def test_reserved_metadata_is_invalid_input() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_metadata({"doc_id": "x", "title": "y", "team": "ok"})
    assert [p.loc for p in caught.value.problems] == [("body", "metadata", "doc_id"), ("body", "metadata", "title")]
    with pytest.raises(InvalidInput):
        documents_from_file("a.txt", b"text", {"chunk_index": 1})


def test_an_unknown_extension_is_unsupported() -> None:
    with pytest.raises(UnsupportedFileType):
        documents_from_file("image.png", b"\x89PNG", {})
