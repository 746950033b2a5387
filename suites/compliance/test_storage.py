"""The document storage keeps nothing the database does not account for (read-only).

A file without a ``documents`` row has no retention period, no subject to export it for and
no erasure that will ever reach it: personal data kept with no basis. The storage is read
through ``params.storage_dir`` (docs/configuration.md, "Data layers"); without it the check
skips.

Parameters read from ``params`` (optional):

- ``storage_orphan_grace_s`` (default 30): files younger than this are not judged; an upload
  writes its file a moment before its row commits (well within the API's request timeout).
- ``storage_scan_max_files`` (default 100000): at most this many files are judged per run.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import asyncpg

    from ._layers import StoredFiles

pytestmark = [pytest.mark.compliance, pytest.mark.asyncio(loop_scope="session")]

# The platform's own readiness probe writes and deletes files here.
PROBE_DIR = ".probe"
ORPHANS_SHOWN = 10


def _number(params: dict[str, Any], name: str, default: float, *, minimum: float) -> float:
    raw = params.get(name, default)
    try:
        value = float(raw) if not isinstance(raw, bool) else math.nan
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value < minimum:
        pytest.fail(f"params.{name}: expected a number >= {minimum:g}, got {raw!r}", pytrace=False)
    return value


def _files(root: Path, older_than: float) -> Iterator[str]:
    """Storage keys (relative POSIX paths) of the files last changed before ``older_than``."""
    pending = [root]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if not (entry.name == PROBE_DIR and Path(entry.path).parent == root):
                        pending.append(Path(entry.path))
                elif entry.stat(follow_symlinks=False).st_mtime < older_than:
                    yield Path(entry.path).relative_to(root).as_posix()


async def test_every_stored_file_belongs_to_a_document(
    db: asyncpg.Pool, storage: StoredFiles, params: dict[str, Any]
) -> None:
    """Every file in the document storage is some document's `storage_key`.

    Guards against: erasure or a retention purge that deletes the rows and leaves the file;
    uploads that fail after storing the file (or its temporary copy) and never remove it.
    Evidences: GDPR Art.5(1)(e) and Art.17
    """
    grace = _number(params, "storage_orphan_grace_s", 30.0, minimum=0)
    most = int(_number(params, "storage_scan_max_files", 100_000, minimum=1))
    keys: list[str] = []
    for key in _files(storage.root, time.time() - grace):
        if len(keys) == most:
            break
        keys.append(key)
    # One anti-join, one pass over documents (storage_key has no index of its own).
    rows = await db.fetch(
        """
        select key from unnest($1::text[]) as stored(key)
        where not exists (select 1 from documents d where d.storage_key = stored.key)
        order by key
        """,
        keys,
    )
    orphans = [str(row["key"]) for row in rows]
    shown = ", ".join(orphans[:ORPHANS_SHOWN]) + (", ..." if len(orphans) > ORPHANS_SHOWN else "")
    assert not orphans, (
        f"{len(orphans)} of {len(keys)} files older than {grace:g} s in {storage.root} belong "
        f"to no document: {shown}"
    )
