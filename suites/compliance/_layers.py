"""Where a document's data lives below the API: database rows and the stored file.

The database is read through the ``db`` fixture (the read-only monitoring role). The document
storage is read through ``params.storage_dir``, the directory the platform keeps its files in,
mounted read-only on the validation host (docs/configuration.md, "Data layers"); relative to
the project's root directory when not absolute. A file's key is the document's
``documents.storage_key``, a path relative to that directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import asyncpg

__all__ = [
    "DOCUMENT_TABLES",
    "NO_STORAGE",
    "StoredFiles",
    "declared_storage",
    "derived_tables",
    "row_counts",
    "storage_key",
]

# Every place a document's data lives in the database (chunks have no foreign key). Tables a
# later release adds with a ``document_id`` column are found in the schema (``derived_tables``).
DOCUMENT_TABLES = {
    "documents": "id",
    "document_states": "document_id",
    "jobs": "document_id",
    "results": "document_id",
    "chunks": "document_id",
}


async def derived_tables(db: asyncpg.Pool) -> dict[str, str]:
    """``DOCUMENT_TABLES`` and every other table of the schema with a ``document_id`` column."""
    found = await db.fetch(
        """
        select table_name from information_schema.columns
        where table_schema = current_schema() and column_name = 'document_id'
        order by table_name
        """
    )
    tables = dict(DOCUMENT_TABLES)
    for row in found:
        tables.setdefault(str(row["table_name"]), "document_id")
    return tables


async def row_counts(db: asyncpg.Pool, document_id: str, tables: dict[str, str]) -> dict[str, int]:
    """Rows of the document per table."""
    counts = {}
    for table, column in tables.items():
        # Names come from DOCUMENT_TABLES or the schema itself, quoted: not input.
        counts[table] = int(
            await db.fetchval(
                f'select count(*) from "{table}" where "{column}" = $1::uuid', document_id
            )
        )
    return counts


async def storage_key(db: asyncpg.Pool, document_id: str) -> str:
    """The document's storage key, read before it is erased (the row goes with it)."""
    key = await db.fetchval("select storage_key from documents where id = $1::uuid", document_id)
    assert isinstance(key, str) and key, f"document {document_id} has no storage_key: {key!r}"
    return key


@dataclasses.dataclass(frozen=True)
class StoredFiles:
    """The platform's document storage, read-only: ``params.storage_dir``."""

    root: Path

    def path(self, key: str) -> Path:
        relative = PurePosixPath(key)
        if not key or relative.is_absolute() or ".." in relative.parts:
            pytest.fail(f"storage key {key!r} is not a relative path inside the storage")
        return self.root.joinpath(*relative.parts)

    def holds(self, key: str) -> bool:
        return self.path(key).is_file()

    def sha256(self, key: str) -> str:
        return hashlib.sha256(self.path(key).read_bytes()).hexdigest()


def declared_storage(params: dict[str, Any], root_dir: Path) -> StoredFiles | None:
    """The storage ``params.storage_dir`` declares, or None when it declares none."""
    raw = params.get("storage_dir")
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw.strip():
        pytest.fail(f"params.storage_dir: expected a directory path, got {raw!r}", pytrace=False)
    root = Path(raw)
    root = root if root.is_absolute() else root_dir / root
    if not root.is_dir():
        pytest.fail(
            f"params.storage_dir: {root} is not a directory this host can read", pytrace=False
        )
    return StoredFiles(root)


NO_STORAGE = (
    "params.storage_dir is not set: the document storage is not reachable from here "
    "(docs/configuration.md, Data layers)"
)
