"""Collections and their documents: create, list, stats, ingest (uploads or JSON), delete."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

import anyio.to_thread
import orjson
from fastapi import APIRouter, Request, Response
from starlette.datastructures import UploadFile as StarletteUploadFile

from insight.api.body import read_json_object, validated
from insight.api.deps import CollectionReader, CollectionWriter, PrincipalDep, RagDep, SettingsDep
from insight.api.openapi import request_body
from insight.api.schemas.rag import (
    CollectionCreate,
    CollectionList,
    CollectionOut,
    DocumentDeleted,
    FailedSource,
    IngestOut,
    TextDocuments,
)
from insight.errors import FieldProblem, InvalidInput, PayloadTooLarge, UnsupportedFileType
from insight.rag.ingest import IngestReport, SourceDocument
from insight.rag.loaders import SUPPORTED_EXTENSIONS, LoadedDocument
from insight.rag.service import RagService
from insight.rag.sources import check_metadata
from insight.rag.store import CollectionInfo

router = APIRouter(prefix="/api/v1/collections", tags=["documents"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no API key, or an invalid or revoked one"},
    403: {"description": "the API key has no access to this collection"},
    429: {"description": "this API key's rate limit is spent; Retry-After says when to try again"},
    404: {"description": "no such collection or document"},
    413: {"description": "an upload over the configured size limit"},
    415: {"description": "a file type that cannot be ingested; the message lists the supported ones"},
    422: {"description": "invalid input, or some files could not be read (the rest were ingested)"},
    503: {"description": "the vector store is unavailable"},
}


def _collection_out(info: CollectionInfo) -> CollectionOut:
    return CollectionOut(
        name=info.name,
        documents=info.documents,
        chunks=info.chunks,
        version=info.version,
        embedding_model=info.embedding_model,
    )


@router.post("", status_code=201, response_model=CollectionOut, responses=_ERRORS, summary="Create a collection")
async def create_collection(principal: PrincipalDep, body: CollectionCreate, rag: RagDep) -> CollectionOut:
    principal.require_collection("write", body.name)
    info = await anyio.to_thread.run_sync(rag.create_collection, body.name)
    return _collection_out(info)


@router.get("", response_model=CollectionList, responses=_ERRORS, summary="List collections with counts")
async def list_collections(principal: PrincipalDep, rag: RagDep) -> CollectionList:
    infos = await anyio.to_thread.run_sync(rag.collections)
    return CollectionList(collections=[_collection_out(i) for i in infos if principal.can("read", i.name)])


@router.get("/{name}", response_model=CollectionOut, responses=_ERRORS, summary="Collection stats")
async def collection_stats(_caller: CollectionReader, name: str, rag: RagDep) -> CollectionOut:
    return _collection_out(await anyio.to_thread.run_sync(rag.collection_info, name))


@router.delete("/{name}", status_code=204, responses=_ERRORS, summary="Delete a collection and its documents")
async def delete_collection(_caller: CollectionWriter, name: str, rag: RagDep) -> Response:
    await anyio.to_thread.run_sync(rag.delete_collection, name)
    return Response(status_code=204)


def _ingest_response(name: str, report: IngestReport) -> Response:
    body = IngestOut(
        collection=name,
        added=report.added,
        updated=report.updated,
        unchanged=report.unchanged,
        failed=[FailedSource(source=s, message=m) for s, m in report.failed],
        chunks_embedded=report.chunks_embedded,
        chunks_deleted=report.chunks_deleted,
        seconds=round(report.seconds, 4),
    )
    status = 422 if report.failed else 200
    payload = body.model_dump()
    if report.failed:
        names = ", ".join(s for s, _ in report.failed)
        payload |= {
            "code": "invalid_document",
            "message": f"could not ingest {names}; the rest were ingested",
        }
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json")


def _documents_request_body() -> dict[str, Any]:
    multipart = {
        "schema": {
            "type": "object",
            "required": ["files"],
            "properties": {
                "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                "metadata": {"type": "string", "description": "JSON object of filterable fields applied to every file"},
            },
        },
        "examples": {"upload": {"value": {"files": ["report.pdf", "notes.md"]}}},
    }
    return request_body(TextDocuments, multipart)


@router.post(
    "/{name}/documents",
    response_model=IngestOut,
    responses=_ERRORS,
    openapi_extra=_documents_request_body(),
    summary="Ingest documents: JSON texts, or uploaded files (multipart); idempotent by id and content",
)
async def ingest_documents(
    _caller: CollectionWriter, name: str, request: Request, rag: RagDep, settings: SettingsDep
) -> Response:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        report = await _ingest_uploads(name, request, rag, settings.search.max_upload_bytes)
    elif content_type.startswith("application/json"):
        report = await _ingest_texts(name, await read_json_object(request, settings.api.max_body_bytes), rag)
    else:
        raise UnsupportedFileType(
            f"send application/json texts or multipart/form-data files, not {content_type or 'no content type'}"
        )
    return _ingest_response(name, report)


async def _ingest_texts(name: str, payload: dict[str, Any], rag: RagService) -> IngestReport:
    body = validated(TextDocuments, payload)
    documents = []
    for i, doc in enumerate(body.documents):
        try:
            check_metadata(doc.metadata)
        except InvalidInput as exc:
            raise InvalidInput(
                [FieldProblem(("body", "documents", i, *p.loc[1:]), p.msg, p.type) for p in exc.problems]
            ) from exc
        documents.append(
            SourceDocument(
                doc_id=doc.id,
                document=LoadedDocument(source=doc.id, title=doc.title, text=doc.text, kind="text"),
                metadata=dict(doc.metadata),
            )
        )
    return await anyio.to_thread.run_sync(rag.ingest, name, documents)


async def _ingest_uploads(name: str, request: Request, rag: RagService, limit: int) -> IngestReport:
    async with request.form(max_part_size=limit + 1) as form:
        uploads = [item for item in form.getlist("files") if isinstance(item, StarletteUploadFile)]
        metadata_field = form.get("metadata")
        if not uploads:
            raise InvalidInput([FieldProblem(("body", "files"), "attach at least one file", "missing")])
        unsupported = [
            u.filename or "?" for u in uploads if PurePath(u.filename or "").suffix.lower() not in SUPPORTED_EXTENSIONS
        ]
        if unsupported:
            raise UnsupportedFileType(
                f"cannot ingest {', '.join(unsupported)}: supported types are {', '.join(SUPPORTED_EXTENSIONS)}"
            )
        extra = _parse_metadata(metadata_field if isinstance(metadata_field, str) else None)
        loaded: list[tuple[str, bytes]] = []
        for upload in uploads:
            data = await upload.read(limit + 1)
            if len(data) > limit:
                raise PayloadTooLarge(f"{upload.filename} is over the upload limit of {limit} bytes")
            loaded.append((upload.filename or "upload", data))
    return await anyio.to_thread.run_sync(lambda: rag.ingest_files(name, loaded, extra))


def _parse_metadata(raw: str | None) -> dict[str, str | int | float | bool]:
    if not raw:
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput([FieldProblem(("body", "metadata"), f"not valid JSON: {exc}", "json_invalid")]) from exc
    if not isinstance(value, dict) or not all(isinstance(v, str | int | float | bool) for v in value.values()):
        raise InvalidInput(
            [FieldProblem(("body", "metadata"), "must be a JSON object of scalar values", "value_error")]
        )
    check_metadata(value)
    return value


@router.delete(
    "/{name}/documents/{doc_id}",
    response_model=DocumentDeleted,
    responses=_ERRORS,
    summary="Delete a document everywhere (vector store and lexical index)",
)
async def delete_document(_caller: CollectionWriter, name: str, doc_id: str, rag: RagDep) -> DocumentDeleted:
    deleted = await anyio.to_thread.run_sync(rag.delete_document, name, doc_id)
    return DocumentDeleted(collection=name, doc_id=doc_id, chunks_deleted=deleted)
