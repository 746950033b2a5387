"""Document endpoints: list, read, result, original content, and erasure; plus the row-to-JSON
helpers the subject export shares. Upload lives in ``upload``.

Reads by id are tenant-scoped in SQL (``tenant_leak`` removes that), and every attempt is
audited with its outcome (``no_audit`` removes that). The list is always tenant-scoped and
audited like a read.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..erasure import erase_document, expires_at
from .auth import Principal, audit_request, authenticate, has_credentials
from .context import AppContext, app_context
from .db import Conn
from .errors import ApiError, not_found

__all__ = [
    "DEFAULT_LIST_ROWS",
    "MAX_LIST_ROWS",
    "delete_document",
    "document_columns",
    "document_json",
    "fetch_history",
    "get_content",
    "get_document",
    "get_result",
    "list_documents",
    "set_retention",
]

DEFAULT_LIST_ROWS = 100
MAX_LIST_ROWS = 1000
# The same bound as an upload's subject_id: a longer prefix can match nothing.
MAX_SUBJECT_PREFIX = 200

_COLUMNS = (
    "id", "tenant_id", "subject_id", "filename", "content_type", "sha256", "size_bytes",
    "storage_key", "state", "failure_reason", "created_at", "updated_at", "retain_until",
)  # fmt: skip


def document_columns(alias: str = "") -> str:
    """The documents columns ``document_json`` needs, optionally qualified by a table alias."""
    return ", ".join(f"{alias}.{c}" if alias else c for c in _COLUMNS)


def _parse_id(request: Request) -> uuid.UUID | None:
    try:
        return uuid.UUID(request.path_params["document_id"])
    except ValueError:
        return None


async def fetch_history(conn: Conn, doc_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """
        select from_state, to_state, at, reason from document_states
        where document_id = $1 order by id
        """,
        doc_id,
    )
    return [
        {
            "from": r["from_state"],
            "to": r["to_state"],
            "at": r["at"].isoformat(),
            "reason": r["reason"],
        }
        for r in rows
    ]


def document_json(row: Any, history: list[dict[str, Any]], retention_days: float) -> dict[str, Any]:
    """A document's metadata, with when it will be erased (GDPR Art. 13(2)(a): the storage
    period is told, and it is the purge's own rule)."""
    erase_at = expires_at(row["created_at"], row["retain_until"], retention_days)
    return {
        "id": str(row["id"]),
        "tenant_id": row["tenant_id"],
        "subject_id": row["subject_id"],
        "filename": row["filename"],
        "content_type": row["content_type"],
        "sha256": row["sha256"],
        "size_bytes": row["size_bytes"],
        "state": row["state"],
        "failure_reason": row["failure_reason"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
        "retain_until": erase_at.isoformat(),
        "retention_override": row["retain_until"] is not None,
        "history": history,
    }


async def _read(
    request: Request, conn: Conn, ctx: AppContext, *, anonymous_ok: bool = False
) -> tuple[Principal, Any]:
    """Authenticate, then load the document; 404 for unknown, malformed or foreign ids.

    ``anonymous_ok`` is only ever true under ``auth_bypass``: a request without credentials
    is then served as if made by the document's own tenant.
    """
    bypass = anonymous_ok and not has_credentials(request)
    principal = None if bypass else await authenticate(request, conn, ctx.settings)
    # The tenant filter is what keeps tenants apart; tenant_leak (and auth_bypass, which has
    # no tenant to filter by) drop it.
    tenant = None if principal is None or "tenant_leak" in ctx.faults else principal.tenant_id
    doc_id = _parse_id(request)
    row = None
    if doc_id is not None:
        row = await conn.fetchrow(
            f"""
            select {document_columns()} from documents
            where id = $1 and ($2::text is null or tenant_id = $2)
            """,
            doc_id,
            tenant,
        )
    if principal is None:
        if row is None:
            raise not_found()
        principal = Principal(actor="anonymous", tenant_id=row["tenant_id"], role="viewer")
    if row is None:
        await _audit_read(request, conn, ctx, principal, doc_id, "not_found")
        raise not_found()
    return principal, row


async def _audit_read(
    request: Request,
    conn: Conn,
    ctx: AppContext,
    principal: Principal,
    doc_id: uuid.UUID | None,
    outcome: str,
    detail: Mapping[str, Any] | None = None,
) -> None:
    if "no_audit" in ctx.faults:
        return
    await audit_request(
        request,
        conn,
        principal,
        outcome=outcome,
        resource_type="document",
        resource_id=str(doc_id) if doc_id is not None else None,
        detail=detail,
    )


def _bad(detail: str) -> ApiError:
    return ApiError(400, "bad_request", detail=detail)


def _subject_prefix(raw: str | None) -> str | None:
    if not raw:
        return None
    if len(raw) > MAX_SUBJECT_PREFIX or not raw.isprintable():
        raise _bad(f"subject_prefix: expected 1-{MAX_SUBJECT_PREFIX} printable characters")
    return raw


def _iso_time(raw: str | None, key: str) -> dt.datetime | None:
    """An ISO 8601 time; without an offset it is UTC. ``Z`` is accepted on every Python."""
    if not raw:
        return None
    text = raw[:-1] + "+00:00" if raw[-1:] in ("Z", "z") else raw
    try:
        moment = dt.datetime.fromisoformat(text)
        if moment.tzinfo is None:
            return moment.replace(tzinfo=dt.timezone.utc)
        return moment.astimezone(dt.timezone.utc)  # OverflowError at the ends of time
    except (ValueError, OverflowError):
        raise _bad(f"{key}: expected an ISO 8601 time, e.g. 2024-05-01T12:00:00Z") from None


def _list_limit(raw: str | None) -> int:
    try:
        limit = int(raw) if raw else DEFAULT_LIST_ROWS
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIST_ROWS:
        raise _bad(f"limit: expected 1-{MAX_LIST_ROWS}")
    return limit


async def list_documents(request: Request) -> Response:
    """The tenant's documents, oldest first: ``subject_prefix``, ``created_before``, ``limit``.

    Metadata only (id, subject, state, creation time), enough to find and erase documents,
    e.g. a validation run's synthetic ones left behind by an interrupted run.
    """
    ctx = app_context(request)
    query = request.query_params
    async with ctx.db.connection() as conn:
        # Authenticate first: an anonymous caller learns nothing, not even about parameters.
        principal = await authenticate(request, conn, ctx.settings)
        prefix = _subject_prefix(query.get("subject_prefix"))
        before = _iso_time(query.get("created_before"), "created_before")
        limit = _list_limit(query.get("limit"))
        rows = await conn.fetch(
            """
            select id, subject_id, state, created_at from documents
            where tenant_id = $1 and ($2::text is null or starts_with(subject_id, $2))
              and ($3::timestamptz is null or created_at < $3)
            order by created_at, id
            limit $4
            """,
            principal.tenant_id,
            prefix,
            before,
            limit,
        )
        detail = {
            "documents": len(rows),
            "subject_prefix": prefix,
            "created_before": before.isoformat() if before else None,
            "limit": limit,
        }
        await _audit_read(request, conn, ctx, principal, None, "success", detail)
    return JSONResponse(
        {
            "documents": [
                {
                    "id": str(row["id"]),
                    "subject_id": row["subject_id"],
                    "state": row["state"],
                    "created_at": row["created_at"].isoformat(),
                }
                for row in rows
            ]
        }
    )


async def get_document(request: Request) -> Response:
    ctx = app_context(request)
    async with ctx.db.connection() as conn:
        principal, row = await _read(request, conn, ctx, anonymous_ok="auth_bypass" in ctx.faults)
        history = await fetch_history(conn, row["id"])
        body = document_json(row, history, ctx.settings.retention_days)
        await _audit_read(request, conn, ctx, principal, row["id"], "success")
    return JSONResponse(body)


async def get_result(request: Request) -> Response:
    ctx = app_context(request)
    async with ctx.db.connection() as conn:
        principal, row = await _read(request, conn, ctx)
        result = await conn.fetchrow(
            "select text, chunk_count, embedding_dimensions from results where document_id = $1",
            row["id"],
        )
        ready = row["state"] == "completed" and result is not None
        outcome = "success" if ready else "not_ready"
        await _audit_read(request, conn, ctx, principal, row["id"], outcome)
    if not ready:
        raise ApiError(409, "not_ready", state=row["state"])
    count_field = "chunks" if "schema_drift" in ctx.faults else "chunk_count"
    return JSONResponse(
        {
            "id": str(row["id"]),
            "text": result["text"],
            count_field: result["chunk_count"],
            "embedding_dimensions": result["embedding_dimensions"],
        }
    )


async def get_content(request: Request) -> Response:
    ctx = app_context(request)
    async with ctx.db.connection() as conn:
        principal, row = await _read(request, conn, ctx)
        # A row whose file is gone is a real integrity failure: StorageError -> 500.
        data = await asyncio.to_thread(ctx.storage.get, row["storage_key"])
        await _audit_read(request, conn, ctx, principal, row["id"], "success")
    return Response(
        data,
        headers={
            "content-type": row["content_type"],
            # Never rendered inline: an uploaded HTML file must not run in the API's origin.
            "content-disposition": "attachment",
            "x-content-sha256": row["sha256"],
        },
    )


async def delete_document(request: Request) -> Response:
    ctx = app_context(request)
    async with ctx.db.connection() as conn:
        principal = await authenticate(request, conn, ctx.settings)
        doc_id = _parse_id(request)
        async with conn.transaction():
            erased = doc_id is not None and await erase_document(
                conn, ctx.storage, doc_id, ctx.faults, tenant_id=principal.tenant_id
            )
            await audit_request(
                request,
                conn,
                principal,
                outcome="success" if erased else "not_found",
                resource_type="document",
                resource_id=str(doc_id) if doc_id is not None else None,
            )
    if not erased:
        raise not_found()
    return Response(status_code=204)


async def set_retention(request: Request) -> Response:
    """``PUT {"retain_until": "<ISO 8601>"}``: a per-document retention override (a legal hold
    keeps a document longer; a time in the past has the next purge erase it)."""
    ctx = app_context(request)
    async with ctx.db.connection() as conn:
        principal, row = await _read(request, conn, ctx)
        try:
            body = await request.json()
        except ValueError:
            body = None
        raw = body.get("retain_until") if isinstance(body, dict) else None
        until = _iso_time(raw, "retain_until") if isinstance(raw, str) else None
        if until is None:
            raise _bad('expected a JSON object {"retain_until": "<ISO 8601 time>"}')
        async with conn.transaction():
            row = await conn.fetchrow(
                f"""
                update documents set retain_until = $2, updated_at = now() where id = $1
                returning {document_columns()}
                """,
                row["id"],
                until,
            )
            await audit_request(
                request,
                conn,
                principal,
                outcome="success",
                resource_type="document",
                resource_id=str(row["id"]),
                detail={"retain_until": until.isoformat()},
            )
        history = await fetch_history(conn, row["id"])
    return JSONResponse(document_json(row, history, ctx.settings.retention_days))
