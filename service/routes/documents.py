"""/v1/documents: add, list, read and delete articles through the service's single writer."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi import Path as PathParameter
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from rag.errors import IngestError, TooLarge
from rag.ingest import parse_article
from rag.store import StoredDocument
from service.deps import get_runtime
from service.runtime import Runtime
from service.schemas import (
    DOC_ID_PATTERN,
    DocumentDetail,
    DocumentIn,
    DocumentList,
    DocumentSummary,
    DocumentWritten,
)

router = APIRouter(prefix="/documents", tags=["documents"])

# `{doc_id:path}` in the routes: an id with "/" (or "%2F") is refused with 422 like any other bad id, not a 404
DocumentId = Annotated[
    str, PathParameter(pattern=DOC_ID_PATTERN, max_length=128, description="the article's file name without .txt")
]

BODY_DOC = {
    "requestBody": {
        "content": {
            "application/json": {"schema": DocumentIn.model_json_schema()},
            "text/plain": {"schema": {"type": "string"}, "example": " date 2024-02 Blinken traf Lawrow …"},
        },
        "required": True,
    }
}


@router.post("", status_code=201, response_model=DocumentWritten, openapi_extra=BODY_DOC)
async def add_document(request: Request, runtime: Runtime = Depends(get_runtime)) -> DocumentWritten:
    """One article, as JSON `{text, doc_id?, date?}` or as the raw file (text/plain, optional ` date` header).
    Re-sending an unchanged article writes nothing; a changed one replaces its chunks."""
    document = _read_document(await _read_body(request, runtime.settings.max_document_bytes), request)
    article = parse_article(document.text, doc_id=document.doc_id or _content_id(document.text), date=document.date)

    def write() -> DocumentWritten:  # embedding and indexing block: off the event loop
        with runtime.writing() as store:
            report = store.put(article, runtime.settings.chunk_chars, runtime.settings.chunk_overlap_sentences)
            stored = store.document(article.doc_id)
        status = "added" if report.added else "updated" if report.updated else "unchanged"
        return DocumentWritten(**_summary(stored).model_dump(), status=status)

    return await run_in_threadpool(write)


@router.get("", response_model=DocumentList)
def list_documents(runtime: Runtime = Depends(get_runtime)) -> DocumentList:
    return DocumentList(documents=[_summary(d) for d in runtime.open_store().documents()])


@router.get("/{doc_id:path}", response_model=DocumentDetail)
def get_document(doc_id: DocumentId, runtime: Runtime = Depends(get_runtime)) -> DocumentDetail:
    document = runtime.open_store().document(doc_id)
    return DocumentDetail(
        **_summary(document).model_dump(),
        text=document.text,
        removed_text=[{"kind": r.kind, "text": r.text} for r in document.removed],
    )


@router.delete("/{doc_id:path}", status_code=204)
def delete_document(doc_id: DocumentId, runtime: Runtime = Depends(get_runtime)) -> Response:
    with runtime.writing() as store:
        store.delete(doc_id)
    return Response(status_code=204)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the document is over the limit of {limit} bytes")
    body = bytearray()
    async for part in request.stream():
        body.extend(part)
        if len(body) > limit:
            raise TooLarge(f"the document is over the limit of {limit} bytes")
    return bytes(body)


def _read_document(body: bytes, request: Request) -> DocumentIn:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise IngestError("the document is not UTF-8 text") from None
    if not text.strip():
        raise IngestError("the document is empty")
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            return DocumentIn.model_validate(json.loads(text))
        except (ValueError, ValidationError, RecursionError) as exc:
            raise IngestError(f"invalid document JSON: {_first_error(exc)}") from None
    doc_id = request.query_params.get("doc_id")
    try:
        return DocumentIn(text=text, doc_id=doc_id)
    except ValidationError as exc:
        raise IngestError(f"invalid document: {_first_error(exc)}") from None


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        return f"{'.'.join(str(p) for p in error['loc']) or 'body'}: {error['msg']}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc).split("\n")[0]


def _content_id(text: str) -> str:
    return "doc_" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _summary(document: StoredDocument) -> DocumentSummary:
    return DocumentSummary(
        doc_id=document.doc_id,
        source=document.source,
        date=str(document.date) if document.date else None,
        chunks=document.chunk_count,
        removed=dict(Counter(item.kind for item in document.removed)),
    )
