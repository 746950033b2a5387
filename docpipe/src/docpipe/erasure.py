"""GDPR erasure (Art. 17) and the retention purge: removing a document and everything derived.

A document's personal data lives in six places: the stored file, the documents row, its state
history, its job, its result and its chunks. Erasure removes all of them explicitly rather
than relying on cascades, so that a missed table is a visible bug (``erasure_incomplete``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

from .audit import Connection, write_audit
from .faults import Faults
from .storage import Storage

__all__ = ["erase_document", "purge_expired"]


def _as_uuid(document_id: uuid.UUID | str) -> uuid.UUID | None:
    if isinstance(document_id, uuid.UUID):
        return document_id
    try:
        return uuid.UUID(document_id)
    except ValueError:
        return None


async def erase_document(
    conn: Connection,
    storage: Storage,
    document_id: uuid.UUID | str,
    faults: Faults,
    *,
    tenant_id: str | None = None,
) -> bool:
    """Delete the document, its derived data and its file; False if there is no such document.

    ``tenant_id`` restricts the erasure to one tenant's document (the API passes it).
    """
    doc_id = _as_uuid(document_id)
    if doc_id is None:
        return False
    async with conn.transaction():
        # The row lock makes a concurrent erase of the same document wait, then find nothing.
        storage_key = await conn.fetchval(
            """
            select storage_key from documents
            where id = $1 and ($2::text is null or tenant_id = $2)
            for update
            """,
            doc_id,
            tenant_id,
        )
        if storage_key is None:
            return False
        if "erasure_incomplete" not in faults:
            await conn.execute("delete from chunks where document_id = $1", doc_id)
        await conn.execute("delete from results where document_id = $1", doc_id)
        await conn.execute("delete from document_states where document_id = $1", doc_id)
        await conn.execute("delete from jobs where document_id = $1", doc_id)
        await conn.execute("delete from documents where id = $1", doc_id)
        # Last, so that a failing delete above leaves the file with its (still present) row.
        await asyncio.to_thread(storage.delete, str(storage_key))
    return True


def retention_window_s(retention_days: float) -> float:
    """How long a document is kept after its creation when it has no ``retain_until``."""
    return retention_days * 86400.0


def expires_at(
    created_at: dt.datetime, retain_until: dt.datetime | None, retention_days: float
) -> dt.datetime:
    """When the purge erases a document: its ``retain_until`` override, or the period after
    its creation (the purge's own rule, published with the document)."""
    if retain_until is not None:
        return retain_until
    return created_at + dt.timedelta(seconds=retention_window_s(retention_days))


async def purge_expired(
    conn: Connection,
    storage: Storage,
    retention_days: float,
    faults: Faults,
    *,
    tenant_id: str | None = None,
    actor: str = "system:retention",
    role: str | None = None,
    action: str = "retention.purge",
) -> int:
    """Erase every document past retention; write one audit row (``action``).

    A document expires when ``retain_until`` has passed or, where it is not set (it is a
    per-document override), ``retention_days`` after ``created_at``. ``tenant_id`` limits the
    purge to one tenant (an admin's request through the API); workers purge every tenant.
    """
    if "retention_off" in faults:
        expired: list[uuid.UUID] = []
    else:
        rows = await conn.fetch(
            """
            select id from documents
            where coalesce(retain_until, created_at + make_interval(secs => $1)) < now()
              and ($2::text is null or tenant_id = $2)
            order by created_at
            """,
            retention_window_s(retention_days),
            tenant_id,
        )
        expired = [row["id"] for row in rows]
    purged: list[str] = []
    for doc_id in expired:
        # One transaction per document: a failure part-way keeps what was already erased.
        if await erase_document(conn, storage, doc_id, faults, tenant_id=tenant_id):
            purged.append(str(doc_id))
    await write_audit(
        conn,
        actor=actor,
        role=role,
        tenant_id=tenant_id,
        action=action,
        outcome="success",
        resource_type="document",
        detail={"count": len(purged), "ids": purged, "retention_days": retention_days},
    )
    return len(purged)
