"""Uploaded or read files as the ``SourceDocument``s ingestion takes (parsing itself is ``insight.rag.loaders``)."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from insight.errors import FieldProblem, InvalidDocument, InvalidInput
from insight.rag.ingest import RESERVED_FIELDS, SourceDocument
from insight.rag.loaders import RECORD_EXTENSIONS, DocumentKind, LoadedDocument, load_document, load_records
from insight.rag.protocols import Metadata
from insight.reader import load_json, load_jsonl


def documents_from_file(name: str, data: bytes, metadata: Metadata, doc_id: str | None = None) -> list[SourceDocument]:
    """A file as documents: JSON/JSONL files of id'd records give one document per record.

    The document id is ``doc_id`` (the CLI passes the path relative to the folder it was given)
    or the file's name; records keep their own ids.
    """
    label = PurePath(name).name
    doc_id = doc_id or label
    check_metadata(metadata)
    suffix = PurePath(label).suffix.lower()
    if suffix in RECORD_EXTENSIONS and holds_records(data, suffix, label):
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


def holds_records(data: bytes, suffix: str, label: str) -> bool:
    """Whether the file's first JSON value (read by ``insight.reader``) is an object with an ``id``/``_id``."""
    try:
        if suffix == ".jsonl":
            lines = load_jsonl(data, label)
            first = lines[0][1] if lines else None
        else:
            value = load_json(data, label)
            first = value[0] if isinstance(value, list) and value else value
    except InvalidDocument:
        return False
    return isinstance(first, dict) and ("id" in first or "_id" in first)


def check_metadata(metadata: Metadata) -> None:
    """``InvalidInput`` when caller metadata would overwrite a field ingestion sets, or has an empty key (the
    vector store refuses those)."""
    reserved = sorted(set(metadata) & RESERVED_FIELDS)
    if reserved:
        raise InvalidInput(
            [FieldProblem(("body", "metadata", key), "is a reserved field name", "value_error") for key in reserved]
        )
    if "" in metadata:
        raise InvalidInput([FieldProblem(("body", "metadata", ""), "a metadata key must not be empty", "value_error")])


def _scalar_metadata(raw: dict[str, Any]) -> Metadata:
    return {
        key: value
        for key, value in raw.items()
        if key and isinstance(value, str | int | float | bool) and key not in RESERVED_FIELDS
    }
