"""POST /documents: take a file (multipart or raw body), store it, and queue it for processing.

The document row, its first state-history row, its job and the audit row commit together, so
a worker never sees a document without a job, nor an upload without its audit trail. Uploads
are idempotent per tenant by content hash.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import re
import uuid
from typing import Any

import asyncpg
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message

from .auth import Principal, audit_request, authenticate
from .context import AppContext, app_context
from .db import Conn
from .errors import ApiError

__all__ = ["MAX_UPLOAD_BYTES", "upload_document"]

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# Multipart framing and the subject_id field on top of the file itself.
_MULTIPART_OVERHEAD = 64 * 1024
_CONTENT_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+(\s*;.*)?$")


@dataclasses.dataclass(frozen=True)
class _Upload:
    data: bytes
    subject_id: str
    filename: str
    content_type: str


def _too_large() -> ApiError:
    return ApiError(413, "too_large", limit_bytes=MAX_UPLOAD_BYTES)


def _bad(detail: str) -> ApiError:
    return ApiError(400, "bad_request", detail=detail)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large()  # refused before reading a byte
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:  # chunked bodies have no length up front
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _clean_filename(name: str | None) -> str:
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    return base[:255] or "document"


def _clean_content_type(value: str | None) -> str:
    value = (value or "").strip()
    return value if len(value) <= 255 and _CONTENT_TYPE.match(value) else "application/octet-stream"


async def _parse(request: Request) -> _Upload:
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        data = await _read_body(request, MAX_UPLOAD_BYTES)
        subject = request.headers.get("x-subject-id", "")
        return _Upload(
            data, subject, _clean_filename(request.headers.get("x-filename")),
            _clean_content_type(content_type),
        )  # fmt: skip
    body = await _read_body(request, MAX_UPLOAD_BYTES + _MULTIPART_OVERHEAD)
    replayed = False

    async def replay() -> Message:
        # The body is already read (and size-checked); hand it to Starlette's form parser.
        nonlocal replayed
        if replayed:
            return {"type": "http.disconnect"}
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    form = await Request(request.scope, receive=replay).form(
        max_files=1, max_fields=8, max_part_size=_MULTIPART_OVERHEAD
    )
    try:
        upload, subject_field = form.get("file"), form.get("subject_id")
        if not isinstance(upload, UploadFile):
            raise _bad("multipart field 'file' (a file) is required")
        data = await upload.read()
        part_type = upload.headers.get("content-type")
        return _Upload(
            data,
            subject_field if isinstance(subject_field, str) else "",
            _clean_filename(upload.filename),
            _clean_content_type(part_type),
        )
    finally:
        await form.close()


def _validate(upload: _Upload) -> None:
    if len(upload.data) > MAX_UPLOAD_BYTES:
        raise _too_large()
    if not upload.data:
        raise _bad("the document is empty")
    subject = upload.subject_id
    if not subject or len(subject) > 200 or not subject.isprintable():
        raise _bad("subject_id (or X-Subject-Id) is required: 1-200 printable characters")


async def _existing(conn: Conn, tenant_id: str, sha256: str) -> Any:
    return await conn.fetchrow(
        "select id, state, sha256, size_bytes from documents where tenant_id = $1 and sha256 = $2",
        tenant_id,
        sha256,
    )


async def _audit(
    request: Request, conn: Conn, principal: Principal, doc_id: object, duplicate: bool
) -> None:
    await audit_request(
        request,
        conn,
        principal,
        outcome="success",
        resource_type="document",
        resource_id=str(doc_id),
        detail={"duplicate": duplicate},
    )


def _answer(row: Any, duplicate: bool) -> Response:
    body = {
        "id": str(row["id"]),
        "state": row["state"],
        "sha256": row["sha256"],
        "size_bytes": row["size_bytes"],
        "duplicate": duplicate,
    }
    return JSONResponse(body, status_code=200 if duplicate else 201)


async def _duplicate(request: Request, conn: Conn, principal: Principal, row: Any) -> Response:
    await _audit(request, conn, principal, row["id"], duplicate=True)
    return _answer(row, duplicate=True)


async def _store(
    request: Request, conn: Conn, ctx: AppContext, principal: Principal, upload: _Upload,
    sha256: str,
) -> Any:  # fmt: skip
    """Store the file, then insert the document, its first history row, its job and the
    audit row in one transaction; the file is removed again if that fails."""
    doc_id = uuid.uuid4()
    key = f"{principal.tenant_id}/{doc_id}"
    await asyncio.to_thread(ctx.storage.put, key, upload.data)
    try:
        async with conn.transaction():
            row = await conn.fetchrow(
                """
                insert into documents (id, tenant_id, subject_id, filename, content_type,
                                       sha256, size_bytes, storage_key, state)
                values ($1, $2, $3, $4, $5, $6, $7, $8, 'uploaded')
                returning id, state, sha256, size_bytes
                """,
                doc_id, principal.tenant_id, upload.subject_id, upload.filename,
                upload.content_type, sha256, len(upload.data), key,
            )  # fmt: skip
            await conn.execute(
                "insert into document_states (document_id, from_state, to_state, reason)"
                " values ($1, null, 'uploaded', 'upload')",
                doc_id,
            )
            await conn.execute("insert into jobs (document_id) values ($1)", doc_id)
            await _audit(request, conn, principal, doc_id, duplicate=False)
    except BaseException:
        await asyncio.to_thread(ctx.storage.delete, key)
        raise
    return row


async def upload_document(request: Request) -> Response:
    ctx = app_context(request)
    async with ctx.db.connection() as conn:
        principal = await authenticate(request, conn, ctx.settings)
    # The body is read without holding a pool connection: slow clients must not starve it.
    upload = await _parse(request)
    _validate(upload)
    sha256 = hashlib.sha256(upload.data).hexdigest()
    async with ctx.db.connection() as conn:
        existing = await _existing(conn, principal.tenant_id, sha256)
        if existing is None:
            try:
                row = await _store(request, conn, ctx, principal, upload, sha256)
            except asyncpg.UniqueViolationError:
                # The same content raced in from another request and won: answer with it.
                existing = await _existing(conn, principal.tenant_id, sha256)
                if existing is None:
                    raise
            else:
                return _answer(row, duplicate=False)
        return await _duplicate(request, conn, principal, existing)
