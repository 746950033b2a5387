"""The append-only audit log: who did what to which resource, and whether it was allowed.

HIPAA wants every access to protected data and every change recorded; GDPR wants erasure and
export provable. Rows are only ever inserted: the application role has no UPDATE or DELETE
grant on ``audit_log`` (see ``docpipe.schema``), so a compromised API cannot rewrite history.
Callers pass the connection that makes the change, so the audit row commits or rolls back
together with it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

__all__ = ["Connection", "write_audit"]


class Connection(Protocol):
    """The part of ``asyncpg.Connection`` docpipe uses (the API wraps it for ``slow_db``)."""

    async def execute(self, query: str, *args: object) -> str: ...
    async def fetch(self, query: str, *args: object) -> list[Any]: ...
    async def fetchrow(self, query: str, *args: object) -> Any: ...
    async def fetchval(self, query: str, *args: object) -> Any: ...
    def transaction(self) -> AbstractAsyncContextManager[Any]: ...


async def write_audit(
    conn: Connection,
    *,
    actor: str,
    action: str,
    outcome: str,
    tenant_id: str | None = None,
    role: str | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
    remote_addr: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Insert one audit row. ``detail`` must never carry credentials or document content."""
    await conn.execute(
        """
        insert into audit_log
            (tenant_id, actor, role, action, resource_type, resource_id, outcome,
             remote_addr, detail)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)
        """,
        tenant_id,
        actor,
        role,
        action,
        resource_type,
        resource_id,
        outcome,
        remote_addr,
        json.dumps(dict(detail or {}), default=str),
    )
