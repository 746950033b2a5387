"""A fresh, migrated docpipe database per test, on the real PostgreSQL of tests/conftest.py."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import urllib.parse
from collections.abc import Iterator

import asyncpg
import pytest
from docpipe import schema

TENANTS = {"acme": "Acme Health", "globex": "Globex Clinics"}
# api key -> (tenant, role); the tests' own credentials.
API_KEYS = {
    "acme-admin-key-0001": ("acme", "admin"),
    "acme-operator-key-0002": ("acme", "operator"),
    "acme-viewer-key-0003": ("acme", "viewer"),
    "globex-admin-key-0004": ("globex", "admin"),
    "globex-viewer-key-0005": ("globex", "viewer"),
}
APP_PASSWORD = "app-password-test"
MONITOR_PASSWORD = "monitor-password-test"
_numbers = itertools.count()


@dataclasses.dataclass(frozen=True)
class DocpipeDatabase:
    owner_dsn: str
    app_dsn: str
    monitor_dsn: str
    name: str


def with_database(dsn: str, database: str, user: str | None = None, password: str = "") -> str:
    parts = urllib.parse.urlsplit(dsn)
    netloc = parts.netloc
    if user is not None:
        host = netloc.rsplit("@", 1)[-1]
        netloc = f"{user}:{urllib.parse.quote(password, safe='')}@{host}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, path=f"/{database}"))


async def _create(admin_dsn: str, name: str) -> None:
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f"create database {name}")
        await schema.ensure_roles(admin, APP_PASSWORD, MONITOR_PASSWORD)
    finally:
        await admin.close()
    owner = await asyncpg.connect(with_database(admin_dsn, name))
    try:
        await schema.migrate(owner, schema.LATEST)
        await schema.seed_api_keys(owner, TENANTS, API_KEYS)
    finally:
        await owner.close()


async def _drop(admin_dsn: str, name: str) -> None:
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f"drop database if exists {name} with (force)")
    finally:
        await admin.close()


@pytest.fixture
def docpipe_db(postgres_dsn: str) -> Iterator[DocpipeDatabase]:
    name = f"docpipe_test_{next(_numbers)}"
    asyncio.run(_create(postgres_dsn, name))
    try:
        yield DocpipeDatabase(
            owner_dsn=with_database(postgres_dsn, name),
            app_dsn=with_database(postgres_dsn, name, schema.APP_ROLE, APP_PASSWORD),
            monitor_dsn=with_database(postgres_dsn, name, schema.MONITOR_ROLE, MONITOR_PASSWORD),
            name=name,
        )
    finally:
        asyncio.run(_drop(postgres_dsn, name))
