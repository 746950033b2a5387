"""``BaseWorker``: the life of a worker process around the job queue (``docpipe.jobs``).

One job at a time: claim, ``process``, then done, retried with backoff, or failed. Between
jobs it re-queues jobs stuck with a vanished worker and, every retention interval, runs the
retention purge. A heartbeat task keeps ``worker_heartbeats`` fresh throughout. On SIGTERM or
SIGINT it stops claiming, gives the job in flight ``grace_s`` to finish, else releases it
(document back to its resting state, job queued) for another worker, marks its heartbeat
``stopped`` and returns 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import logging
import os
import signal
from collections.abc import AsyncIterator, Mapping
from typing import Any

import asyncpg

from .jobs import Job, JobQueue, LostJob, PermanentError, Step, describe
from .settings import ComponentSettings
from .storage import FileStorage

__all__ = ["STALE_HEARTBEATS", "BaseWorker", "WorkerOptions"]

# A heartbeat older than this many intervals means its worker is gone (or stalled).
STALE_HEARTBEATS = 5
COMMAND_TIMEOUT_S = 60.0
# InternalClientError: a pooled connection left mid-operation by a database restart
# ("cannot switch to state 12; another operation is in progress").
_DB_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)

log = logging.getLogger("docpipe.worker")


def _env_seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise SystemExit(f"docpipe: {name} must be a number of seconds, got {raw!r}") from None
    if not value >= 0:
        raise SystemExit(f"docpipe: {name} must not be negative, got {raw!r}")
    return value


@dataclasses.dataclass(frozen=True)
class WorkerOptions:
    grace_s: float = 10.0  # DOCPIPE_WORKER_GRACE_S: how long a stopping worker waits for its job
    lease_s: float = 120.0  # DOCPIPE_JOB_LEASE_S: a running job older than this may be stuck
    retention_interval_s: float = 60.0  # DOCPIPE_RETENTION_INTERVAL_S
    retry_backoff_s: float = 2.0  # DOCPIPE_RETRY_BACKOFF_S: first retry delay, then doubling
    parse_deadline_s: float = 60.0  # DOCPIPE_PARSE_DEADLINE_S: longest wait for a parse job

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WorkerOptions:
        env = os.environ if environ is None else environ
        return cls(
            grace_s=_env_seconds(env, "DOCPIPE_WORKER_GRACE_S", cls.grace_s),
            lease_s=_env_seconds(env, "DOCPIPE_JOB_LEASE_S", cls.lease_s),
            retention_interval_s=_env_seconds(
                env, "DOCPIPE_RETENTION_INTERVAL_S", cls.retention_interval_s
            ),
            retry_backoff_s=_env_seconds(env, "DOCPIPE_RETRY_BACKOFF_S", cls.retry_backoff_s),
            parse_deadline_s=_env_seconds(env, "DOCPIPE_PARSE_DEADLINE_S", cls.parse_deadline_s),
        )


class BaseWorker:
    """Runs ``process(job)`` for queued jobs, one at a time, until told to stop.

    Subclasses implement ``process`` and make every database write about the job inside
    ``async with self.owned(job) as step``. ``process`` raising ``PermanentError`` fails the
    document; any other exception is retried with backoff.
    """

    def __init__(
        self, settings: ComponentSettings, worker_id: str, options: WorkerOptions | None = None
    ) -> None:
        self.settings = settings
        self.worker_id = worker_id
        self.options = WorkerOptions() if options is None else options
        self.storage = FileStorage(settings.storage_dir)
        self.processed = 0
        self._stop = asyncio.Event()
        self._pool: Any = None
        self._queue: JobQueue | None = None
        self._status = "starting"
        self._current: Job | None = None
        self._started = datetime.datetime.now(datetime.timezone.utc)
        self._next_purge = 0.0

    async def process(self, job: Job) -> None:
        raise NotImplementedError

    async def open(self) -> None:
        """Acquire what ``process`` needs (HTTP clients, …); called once, before any job."""

    async def close(self) -> None:
        """Release what ``open`` acquired."""

    def stop(self) -> None:
        """Stop claiming; the job in flight gets ``grace_s`` to finish. Safe from a signal."""
        self._stop.set()

    @property
    def pool(self) -> Any:
        if self._pool is None:
            raise RuntimeError("the worker is not running")
        return self._pool

    @property
    def queue(self) -> JobQueue:
        if self._queue is None:
            raise RuntimeError("the worker is not running")
        return self._queue

    def owned(self, job: Job) -> contextlib.AbstractAsyncContextManager[Step]:
        return self.queue.owned(job)

    async def run(self, *, handle_signals: bool = True) -> int:
        """The worker's life; returns 0 after a graceful stop."""
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
        for signum in signals:
            loop.add_signal_handler(signum, self.stop)
        # command_timeout: a hung query must fail (and be retried), not hang the worker.
        self._pool = await asyncpg.create_pool(
            self.settings.app_dsn, min_size=1, max_size=4, command_timeout=COMMAND_TIMEOUT_S
        )
        self._queue = JobQueue(self._pool, self.worker_id, self.settings.faults)
        try:
            await self.open()
            # Ready for jobs: every later beat says so until one is taken (it said "starting").
            self._status = "idle"
            await self._beat(self._status)
            if "worker_stalled" in self.settings.faults:
                # The regression: alive and registered, but never claims or beats again.
                log.warning("%s: stalled (fault worker_stalled)", self.worker_id)
                await self._stop.wait()
            else:
                async with self._beating():
                    await self._loop()
            try:
                await self._beat("stopped")
            except _DB_ERRORS as exc:
                log.warning("%s: could not record the stop: %s", self.worker_id, exc)
        finally:
            await self.close()
            await self._pool.close()
            self._pool = self._queue = None
            for signum in signals:
                loop.remove_signal_handler(signum)
        log.info("%s: stopped after %d jobs", self.worker_id, self.processed)
        return 0

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                await self.queue.recover(
                    self.options.lease_s, STALE_HEARTBEATS * self.settings.heartbeat_s
                )
                await self._purge()
                job = await self.queue.claim()
                if job is not None and self._stop.is_set():  # the signal came during the claim
                    await self.queue.settle(job, "released: stopping", outcome="release")
                    return
            except _DB_ERRORS as exc:
                log.warning("%s: database unavailable: %s", self.worker_id, exc)
                job = None
            if job is None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.settings.worker_poll_s)
            else:
                await self._run(job)

    async def _run(self, job: Job) -> None:
        self._current, self._status = job, "busy"
        work = asyncio.create_task(self._attempt(job))
        stopping = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not work.done():
                grace = self.options.grace_s
                log.info("%s: stopping; job %d has %gs to finish", self.worker_id, job.id, grace)
                await asyncio.wait({work}, timeout=grace)
            if not work.done():
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
                reason = f"released: {self.worker_id} stopped before the job finished"
                await self.queue.settle(job, reason, outcome="release")
            elif not work.cancelled() and work.exception() is not None:
                log.error("%s: job %d: %r", self.worker_id, job.id, work.exception())
        finally:
            stopping.cancel()
            work.cancel()  # a no-op once done; matters only if we are cancelled ourselves
            self._current, self._status = None, "idle"

    async def _attempt(self, job: Job) -> None:
        try:
            await self.process(job)
            await self.queue.finish(job)
            self.processed += 1
        except LostJob as exc:
            log.warning("%s: %s", self.worker_id, exc)
        except PermanentError as exc:
            await self.queue.settle(job, str(exc), outcome="fail")
        except Exception as exc:
            await self.queue.settle(
                job, describe(exc), outcome="retry", backoff_s=self.options.retry_backoff_s
            )

    async def _purge(self) -> None:
        now = asyncio.get_running_loop().time()
        if now < self._next_purge:
            return
        if "retention_off" in self.settings.faults:
            # The regression as it happens in production: the scheduled purge never runs.
            return
        self._next_purge = now + self.options.retention_interval_s
        from .erasure import purge_expired

        async with self.pool.acquire() as conn:
            purged = await purge_expired(
                conn, self.storage, self.settings.retention_days, self.settings.faults
            )
        if purged:
            log.info("%s: retention purge erased %d documents", self.worker_id, purged)

    @contextlib.asynccontextmanager
    async def _beating(self) -> AsyncIterator[None]:
        # A beat stuck on a dead connection must not silence every later one.
        limit = max(1.0, 2 * self.settings.heartbeat_s)

        async def beat_forever() -> None:
            while True:
                await asyncio.sleep(self.settings.heartbeat_s)
                status = "stopping" if self._stop.is_set() else self._status
                try:
                    await asyncio.wait_for(self._beat(status), limit)
                except (*_DB_ERRORS, asyncio.TimeoutError) as exc:
                    log.warning("%s: heartbeat failed: %r", self.worker_id, exc)
                except Exception:  # the heartbeat outlives any one failure, and says so
                    log.exception("%s: heartbeat failed", self.worker_id)

        task = asyncio.create_task(beat_forever())
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _beat(self, status: str) -> None:
        await self.queue.beat(
            status, release=self.settings.release, current=self._current, started=self._started
        )
