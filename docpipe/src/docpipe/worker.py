"""The document worker: uploaded -> parsing -> parsed -> embedding -> completed.

    python -m docpipe.worker [--id NAME]

Reads ``ComponentSettings.from_env`` and ``WorkerOptions.from_env``; logs one line per state
change to stderr; exits 0 after SIGTERM/SIGINT. The queue mechanics (claiming, retries,
release, recovery, heartbeats, retention) are ``docpipe.runner.BaseWorker``'s.

Each step commits its state change before the slow call it announces, so the history shows
where a document is while it is there. The results and chunks are written in the same
transaction as the move to completed: a document is never completed without them, and never
has them without being completed. The parsed text is not kept between steps (it would be a
partial result), so a job released during embedding parses the document again when resumed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
from collections.abc import Sequence

from .jobs import MAX_ATTEMPTS, Job, PermanentError, Step
from .runner import BaseWorker, WorkerOptions
from .services import ParsedDocument, ServiceClient, split_text
from .settings import ComponentSettings
from .states import State
from .storage import StorageError

__all__ = ["MAX_ATTEMPTS", "BaseWorker", "DocumentWorker", "WorkerOptions", "main"]


class DocumentWorker(BaseWorker):
    """Parses a document's file, embeds its text in chunks, stores the result."""

    _services: ServiceClient | None = None

    async def open(self) -> None:
        for name, url in (
            ("DOCPIPE_PARSER_URL", self.settings.parser_url),
            ("DOCPIPE_EMBEDDER_URL", self.settings.embedder_url),
        ):
            if not url:
                raise SystemExit(f"docpipe: environment variable {name} is not set")
        self._services = ServiceClient(
            self.settings.parser_url,
            self.settings.embedder_url,
            service_key=self.settings.service_key,
            timeout_s=self.settings.http_timeout_s,
            parse_deadline_s=self.options.parse_deadline_s,
        )

    async def close(self) -> None:
        if self._services is not None:
            await self._services.aclose()
            self._services = None

    @property
    def services(self) -> ServiceClient:
        if self._services is None:
            raise RuntimeError("the worker is not running")
        return self._services

    async def process(self, job: Job) -> None:
        row = await self.pool.fetchrow(
            "select filename, content_type, storage_key from documents where id = $1",
            job.document_id,
        )
        if row is None:
            raise PermanentError(f"document {job.document_id} no longer exists")
        try:
            data = await asyncio.to_thread(self.storage.get, row["storage_key"])
        except StorageError as exc:
            raise PermanentError(f"stored file missing: {exc}") from None

        if job.claimed_from is State.UPLOADED:
            async with self.owned(job) as step:
                await step.move(State.PARSING)
            parsed = await self.services.parse(row["filename"], row["content_type"], data)
            async with self.owned(job) as step:
                await step.move(State.PARSED)
        elif job.claimed_from is State.PARSED:
            parsed = await self.services.parse(row["filename"], row["content_type"], data)
        else:
            raise PermanentError(f"a job for a document in state {job.claimed_from.value}")

        if "state_skip" in self.settings.faults:
            # The regression: straight to completed, a result with no chunks or embeddings.
            async with self.owned(job) as step:
                await self._store(step, parsed, [], [])
            return

        async with self.owned(job) as step:
            await step.move(State.EMBEDDING)
        chunks = split_text(parsed.text)
        vectors = await self.services.embed(chunks) if chunks else []
        async with self.owned(job) as step:
            await self._store(step, parsed, chunks, vectors)

    async def _store(
        self, step: Step, parsed: ParsedDocument, chunks: list[str], vectors: list[list[float]]
    ) -> None:
        """The result, its chunks, completed, and the job done: all or nothing."""
        document_id = step.job.document_id
        await step.conn.execute(
            """
            insert into results (document_id, text, chunk_count, embedding_dimensions)
            values ($1, $2, $3, $4)
            """,
            document_id,
            parsed.text,
            len(chunks),
            len(vectors[0]) if vectors else 0,
        )
        await step.conn.executemany(
            "insert into chunks (document_id, seq, text, embedding) values ($1, $2, $3, $4)",
            [(document_id, seq, text, vectors[seq]) for seq, text in enumerate(chunks)],
        )
        await step.move(State.COMPLETED)
        await step.end("done")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="docpipe-worker", description="docpipe document worker")
    parser.add_argument(
        "--id",
        dest="worker_id",
        default=f"{socket.gethostname()}-{os.getpid()}",
        help="this worker's name in heartbeats and the state history (default: host-pid)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    settings = ComponentSettings.from_env()
    worker = DocumentWorker(settings, args.worker_id, WorkerOptions.from_env())
    return asyncio.run(worker.run())


if __name__ == "__main__":
    raise SystemExit(main())
