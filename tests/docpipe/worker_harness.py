"""Running docpipe workers in tests: documents inserted as the API does, workers in-process or
as real ``python -m docpipe.worker`` processes, and bounded polling of database conditions."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
from docpipe.faults import Faults
from docpipe.runner import WorkerOptions
from docpipe.settings import ComponentSettings
from docpipe.storage import FileStorage
from docpipe.worker import DocumentWorker

from tests.docpipe.conftest import DocpipeDatabase

SERVICE_KEY = "service-key-for-worker-tests"
HEARTBEAT_S = 0.1
POLL_S = 0.05
# ~1,300 characters: three chunks of at most 500.
BODY = " ".join(f"word{n:04d}" for n in range(140))


def document_text(n: int) -> bytes:
    return f"Clinical note {n}.\n{BODY}\n".encode()


@dataclasses.dataclass
class Platform:
    """What workers talk to: the database, the file store and the two service stubs."""

    db: DocpipeDatabase
    storage_dir: Path
    parser_url: str
    embedder_url: str
    logs: Path

    @property
    def storage(self) -> FileStorage:
        return FileStorage(self.storage_dir)

    def settings(self, faults: str = "", *, parser_url: str | None = None) -> ComponentSettings:
        return ComponentSettings(
            app_dsn=self.db.app_dsn,
            release="1",
            faults=Faults.parse([faults]),
            storage_dir=self.storage_dir,
            parser_url=parser_url or self.parser_url,
            embedder_url=self.embedder_url,
            jwt_secret="unused-by-workers",
            jwt_audience="docpipe",
            service_key=SERVICE_KEY,
            retention_days=30.0,
            worker_poll_s=POLL_S,
            heartbeat_s=HEARTBEAT_S,
            http_timeout_s=5.0,
            tls=False,
        )

    def environ(self, **extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            "DOCPIPE_APP_DSN": self.db.app_dsn,
            "DOCPIPE_STORAGE_DIR": str(self.storage_dir),
            "DOCPIPE_PARSER_URL": self.parser_url,
            "DOCPIPE_EMBEDDER_URL": self.embedder_url,
            "DOCPIPE_JWT_SECRET": "unused-by-workers",
            "DOCPIPE_SERVICE_KEY": SERVICE_KEY,
            "DOCPIPE_WORKER_POLL_S": str(POLL_S),
            "DOCPIPE_HEARTBEAT_S": str(HEARTBEAT_S),
            "DOCPIPE_FAULTS": "",
            "PYTHONUNBUFFERED": "1",
        }
        env.update(extra)
        return env

    @contextlib.contextmanager
    def spawn(self, worker_id: str, **env: str) -> Iterator[subprocess.Popen[bytes]]:
        """``python -m docpipe.worker --id worker_id``; killed at the end if still running."""
        log = (self.logs / f"{worker_id}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "docpipe.worker", "--id", worker_id],
            env=self.environ(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            log.close()

    def log_of(self, worker_id: str) -> str:
        return (self.logs / f"{worker_id}.log").read_text()


async def terminate(process: subprocess.Popen[bytes], timeout: float = 20) -> int:
    process.send_signal(signal.SIGTERM)
    return await asyncio.to_thread(process.wait, timeout)


@contextlib.asynccontextmanager
async def in_process(
    platform: Platform,
    worker_id: str = "w-inproc",
    *,
    faults: str = "",
    parser_url: str | None = None,
    **options: Any,
) -> AsyncIterator[DocumentWorker]:
    """A DocumentWorker on the test's event loop; stopped (gracefully) on the way out."""
    worker = DocumentWorker(
        platform.settings(faults, parser_url=parser_url), worker_id, WorkerOptions(**options)
    )
    task = asyncio.create_task(worker.run(handle_signals=False))
    try:
        yield worker
    finally:
        worker.stop()
        assert await asyncio.wait_for(task, 30) == 0


async def add_document(
    conn: Any, storage: FileStorage, data: bytes, *, tenant: str = "acme", name: str = "note.txt"
) -> uuid.UUID:
    """Store the file and insert the rows exactly as the API's upload does."""
    doc_id = uuid.uuid4()
    key = f"{tenant}/{doc_id}"
    storage.put(key, data)
    async with conn.transaction():
        await conn.execute(
            """
            insert into documents (id, tenant_id, subject_id, filename, content_type,
                                   sha256, size_bytes, storage_key, state)
            values ($1, $2, 'subject-1', $3, 'text/plain', $4, $5, $6, 'uploaded')
            """,
            doc_id,
            tenant,
            name,
            hashlib.sha256(data).hexdigest(),
            len(data),
            key,
        )
        await conn.execute(
            "insert into document_states (document_id, from_state, to_state, reason)"
            " values ($1, null, 'uploaded', 'upload')",
            doc_id,
        )
        await conn.execute("insert into jobs (document_id) values ($1)", doc_id)
    return doc_id


async def wait_for(conn: Any, query: str, *args: object, timeout: float = 30) -> Any:
    """Poll ``query`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await conn.fetchval(query, *args)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout}s: {' '.join(query.split())}")
        await asyncio.sleep(0.02)


async def states(conn: Any, doc_id: uuid.UUID) -> list[tuple[str, str | None, datetime.datetime]]:
    """(to_state, worker_id, at) of each history row, oldest first."""
    rows = await conn.fetch(
        "select to_state, worker_id, at from document_states where document_id = $1 order by id",
        doc_id,
    )
    return [(r["to_state"], r["worker_id"], r["at"]) for r in rows]


@contextlib.asynccontextmanager
async def connect(db: DocpipeDatabase) -> AsyncIterator[Any]:
    conn = await asyncpg.connect(db.owner_dsn)
    try:
        yield conn
    finally:
        await conn.close()
