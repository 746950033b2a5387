"""Admin endpoints: GDPR subject export (Art. 20), the tenant's audit log, retention purge."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..erasure import purge_expired
from .auth import audit_request, authenticate
from .context import app_context
from .documents import document_columns, document_json, fetch_history
from .errors import ApiError
from .routes import audit_action

__all__ = ["export_subject", "purge_retention", "read_audit"]

MAX_AUDIT_ROWS = 1000


async def export_subject(request: Request) -> Response:
    ctx = app_context(request)
    subject_id = request.path_params["subject_id"]
    async with ctx.db.connection() as conn:
        principal = await authenticate(request, conn, ctx.settings)
        rows = await conn.fetch(
            f"""
            select {document_columns("d")}, r.text as result_text, r.chunk_count,
                   r.embedding_dimensions
            from documents d left join results r on r.document_id = d.id
            where d.tenant_id = $1 and d.subject_id = $2
            order by d.created_at, d.id
            """,
            principal.tenant_id,
            subject_id,
        )
        documents: list[dict[str, Any]] = []
        for row in rows:
            history = await fetch_history(conn, row["id"])
            doc = document_json(row, history, ctx.settings.retention_days)
            doc["result"] = (
                None
                if row["chunk_count"] is None
                else {
                    "text": row["result_text"],
                    "chunk_count": row["chunk_count"],
                    "embedding_dimensions": row["embedding_dimensions"],
                }
            )
            documents.append(doc)
        await audit_request(
            request,
            conn,
            principal,
            outcome="success",
            resource_type="subject",
            resource_id=subject_id,
            detail={"documents": len(documents)},
        )
    exported_at = dt.datetime.now(dt.timezone.utc).isoformat()
    return JSONResponse(
        {"subject_id": subject_id, "exported_at": exported_at, "documents": documents}
    )


def _since(raw: str | None) -> dt.datetime | None:
    if not raw:
        return None
    try:
        since = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, "bad_request", detail="since: expected an ISO 8601 time") from None
    return since if since.tzinfo else since.replace(tzinfo=dt.timezone.utc)


def _limit(raw: str | None) -> int:
    try:
        limit = int(raw) if raw else 100
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_AUDIT_ROWS:
        raise ApiError(400, "bad_request", detail=f"limit: expected 1-{MAX_AUDIT_ROWS}")
    return limit


async def read_audit(request: Request) -> Response:
    ctx = app_context(request)
    query = request.query_params
    action = query.get("action") or None
    async with ctx.db.connection() as conn:
        # Authenticate first: an anonymous caller learns nothing, not even about parameters.
        principal = await authenticate(request, conn, ctx.settings)
        since, limit = _since(query.get("since")), _limit(query.get("limit"))
        rows = await conn.fetch(
            """
            select id, at, tenant_id, actor, role, action, resource_type, resource_id, outcome,
                   remote_addr, detail::text as detail
            from audit_log
            where tenant_id = $1 and ($2::timestamptz is null or at >= $2)
              and ($3::text is null or action = $3)
            order by at desc, id desc
            limit $4
            """,
            principal.tenant_id,
            since,
            action,
            limit,
        )
        # Written after the read, so a page never contains its own audit.read row.
        await audit_request(
            request,
            conn,
            principal,
            outcome="success",
            resource_type="audit_log",
            detail={"rows": len(rows), "action": action, "since": since},
        )
    entries = [
        {
            **{k: row[k] for k in ("tenant_id", "actor", "role", "action", "outcome")},
            **{k: row[k] for k in ("resource_type", "resource_id", "remote_addr")},
            "id": row["id"],
            "at": row["at"].isoformat(),
            "detail": json.loads(row["detail"]),
        }
        for row in rows
    ]
    return JSONResponse({"entries": entries})


async def purge_retention(request: Request) -> Response:
    ctx = app_context(request)
    async with ctx.db.connection() as conn:
        principal = await authenticate(request, conn, ctx.settings)
        # Scoped to the admin's tenant: one tenant's admin never erases another's data.
        purged = await purge_expired(
            conn,
            ctx.storage,
            ctx.settings.retention_days,
            ctx.faults,
            tenant_id=principal.tenant_id,
            actor=principal.actor,
            role=principal.role,
            action=audit_action(request),
        )
    return JSONResponse({"purged": purged})
