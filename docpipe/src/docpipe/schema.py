"""Database schema: reversible migrations with a recorded version, roles, and seed data.

Roles:
- the owner (the DSN docpipe is given) runs migrations and owns every table;
- ``docpipe_app`` is what the API and workers use: it may INSERT and SELECT the audit log
  but never UPDATE or DELETE it (the log is append-only by grant, not by convention);
- ``docpipe_monitor`` is read-only with ``pg_monitor``, for validation suites.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping

import asyncpg

__all__ = [
    "APP_ROLE",
    "MIGRATIONS",
    "MONITOR_ROLE",
    "Migration",
    "current_version",
    "damage_documents",
    "ensure_roles",
    "hash_key",
    "migrate",
    "seed_api_keys",
]

APP_ROLE = "docpipe_app"
MONITOR_ROLE = "docpipe_monitor"


@dataclasses.dataclass(frozen=True)
class Migration:
    version: int
    description: str
    up: str
    down: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "documents, state history, job queue, results, chunks, heartbeats, audit log",
        """
        create table tenants (
            id text primary key,
            name text not null
        );
        create table api_keys (
            key_hash text primary key,
            tenant_id text not null references tenants(id),
            role text not null check (role in ('admin', 'operator', 'viewer')),
            label text not null,
            created_at timestamptz not null default now()
        );
        create table documents (
            id uuid primary key,
            tenant_id text not null references tenants(id),
            subject_id text not null,
            filename text not null,
            content_type text not null,
            sha256 text not null,
            size_bytes bigint not null,
            storage_key text not null,
            state text not null,
            failure_reason text,
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now(),
            unique (tenant_id, sha256)
        );
        create index documents_subject on documents (tenant_id, subject_id);
        create index documents_created on documents (created_at);
        create table document_states (
            id bigserial primary key,
            document_id uuid not null references documents(id) on delete cascade,
            from_state text,
            to_state text not null,
            reason text,
            worker_id text,
            at timestamptz not null default clock_timestamp()
        );
        create index document_states_document on document_states (document_id, id);
        create table jobs (
            id bigserial primary key,
            document_id uuid not null unique references documents(id) on delete cascade,
            status text not null default 'queued'
                check (status in ('queued', 'running', 'done', 'failed')),
            attempts int not null default 0,
            next_attempt_at timestamptz not null default now(),
            locked_by text,
            locked_at timestamptz,
            last_error text
        );
        create index jobs_ready on jobs (next_attempt_at) where status = 'queued';
        create table results (
            document_id uuid primary key references documents(id) on delete cascade,
            text text not null,
            chunk_count int not null,
            embedding_dimensions int not null
        );
        -- No foreign key: erasure deletes chunks explicitly, and a missed delete must be
        -- visible (the erasure_incomplete fault) rather than silently cascaded.
        create table chunks (
            id bigserial primary key,
            document_id uuid not null,
            seq int not null,
            text text not null,
            embedding real[] not null
        );
        create index chunks_document on chunks (document_id);
        create table worker_heartbeats (
            worker_id text primary key,
            pid int not null,
            host text not null,
            release text not null,
            status text not null,
            current_job bigint,
            started_at timestamptz not null default now(),
            last_seen timestamptz not null default now()
        );
        create table audit_log (
            id bigserial primary key,
            at timestamptz not null default clock_timestamp(),
            tenant_id text,
            actor text not null,
            role text,
            action text not null,
            resource_type text,
            resource_id text,
            outcome text not null,
            remote_addr text,
            detail jsonb not null default '{}'::jsonb
        );
        create index audit_log_at on audit_log (at);
        create index audit_log_resource on audit_log (resource_type, resource_id);
        """,
        """
        drop table audit_log, worker_heartbeats, chunks, results, jobs, document_states,
            documents, api_keys, tenants;
        """,
    ),
    Migration(
        2,
        "documents.retain_until for per-document retention overrides",
        "alter table documents add column retain_until timestamptz;",
        "alter table documents drop column retain_until;",
    ),
    Migration(
        3,
        "documents.language detected by the parser",
        "alter table documents add column language text;",
        "alter table documents drop column language;",
    ),
)

LATEST = MIGRATIONS[-1].version

_BOOKKEEPING = """
create table if not exists schema_migrations (
    version int primary key,
    description text not null,
    applied_at timestamptz not null default now()
);
"""


async def current_version(conn: asyncpg.Connection) -> int:
    exists = await conn.fetchval("select to_regclass('schema_migrations') is not null")
    if not exists:
        return 0
    return int(await conn.fetchval("select coalesce(max(version), 0) from schema_migrations"))


async def migrate(conn: asyncpg.Connection, target: int) -> int:
    """Migrate up or down to ``target``, one transaction per step; return the new version."""
    if not 0 <= target <= LATEST:
        raise ValueError(f"schema version {target} does not exist (latest is {LATEST})")
    await conn.execute(_BOOKKEEPING)
    version = await current_version(conn)
    while version < target:
        step = MIGRATIONS[version]
        async with conn.transaction():
            await conn.execute(step.up)
            await conn.execute(
                "insert into schema_migrations (version, description) values ($1, $2)",
                step.version,
                step.description,
            )
        version = step.version
    while version > target:
        step = MIGRATIONS[version - 1]
        async with conn.transaction():
            await conn.execute(step.down)
            await conn.execute("delete from schema_migrations where version = $1", step.version)
        version -= 1
    await _grant(conn)
    return version


async def ensure_roles(conn: asyncpg.Connection, app_password: str, monitor_password: str) -> None:
    """Create (or re-password) the application and monitoring roles. Needs CREATEROLE."""
    for role, password in ((APP_ROLE, app_password), (MONITOR_ROLE, monitor_password)):
        exists = await conn.fetchval("select 1 from pg_roles where rolname = $1", role)
        verb = "alter" if exists else "create"
        # Identifiers and passwords cannot be bind parameters in DDL; both are ours.
        await conn.execute(f"{verb} role {role} login password {_literal(password)}")
    await conn.execute(f"grant pg_monitor to {MONITOR_ROLE}")
    await _grant(conn)


async def _grant(conn: asyncpg.Connection) -> None:
    roles = await conn.fetch(
        "select rolname from pg_roles where rolname = any($1::text[])", [APP_ROLE, MONITOR_ROLE]
    )
    present = {r["rolname"] for r in roles}
    if APP_ROLE in present:
        await conn.execute(
            f"""
            grant usage on schema public to {APP_ROLE};
            grant select, insert, update, delete on all tables in schema public to {APP_ROLE};
            revoke update, delete, truncate on table audit_log from {APP_ROLE};
            grant usage, select on all sequences in schema public to {APP_ROLE};
            """
            if await conn.fetchval("select to_regclass('audit_log') is not null")
            else f"grant usage on schema public to {APP_ROLE};"
        )
    if MONITOR_ROLE in present:
        await conn.execute(
            f"""
            grant usage on schema public to {MONITOR_ROLE};
            grant select on all tables in schema public to {MONITOR_ROLE};
            """
        )


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def seed_api_keys(
    conn: asyncpg.Connection, tenants: Mapping[str, str], keys: Mapping[str, tuple[str, str]]
) -> None:
    """``tenants``: id -> name; ``keys``: api key -> (tenant id, role). Idempotent."""
    async with conn.transaction():
        for tenant_id, name in tenants.items():
            await conn.execute(
                "insert into tenants (id, name) values ($1, $2) on conflict (id) do nothing",
                tenant_id,
                name,
            )
        for key, (tenant_id, role) in keys.items():
            await conn.execute(
                """
                insert into api_keys (key_hash, tenant_id, role, label) values ($1, $2, $3, $4)
                on conflict (key_hash) do update set tenant_id = $2, role = $3
                """,
                hash_key(key),
                tenant_id,
                role,
                f"{tenant_id}-{role}",
            )


def _share(count: int, share: float) -> int:
    """How many of ``count`` rows a share names: at least one when the share is above 0."""
    if count == 0 or share <= 0:
        return 0
    return min(count, max(1, round(count * share)))


async def damage_documents(
    conn: asyncpg.Connection, lose: float, corrupt: float
) -> tuple[int, int]:
    """The ``lose_rows`` and ``corrupt_rows`` faults: delete share ``lose`` of the documents
    rows (the oldest first) and overwrite the ``sha256`` of share ``corrupt`` (the newest first,
    so that the two sets stay apart); deterministic. Returns (deleted, altered)."""
    async with conn.transaction():
        ids = [
            row["id"]
            for row in await conn.fetch("select id from documents order by created_at, id")
        ]
        lost = ids[: _share(len(ids), lose)]
        kept = ids[len(lost) :]
        altered = kept[len(kept) - _share(len(kept), corrupt) :] if kept else []
        if lost:
            await conn.execute("delete from documents where id = any($1::uuid[])", lost)
        if altered:
            # Still unique per tenant: a digest of the old digest.
            await conn.execute(
                "update documents set sha256 = encode(sha256(convert_to('corrupt:' || sha256, "
                "'UTF8')), 'hex') where id = any($1::uuid[])",
                altered,
            )
        return len(lost), len(altered)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
