"""The job queue in PostgreSQL, as one worker sees it: claim, fenced steps, settle, recover.

A worker claims one job at a time with ``FOR UPDATE SKIP LOCKED`` in a short transaction, so
concurrent workers never take the same job. Every later write about the job is a ``Step``: a
transaction that first re-checks, under the job's row lock, that the job is still ``running``
and ``locked_by`` this worker. That fence makes processing exactly-once even when a job is
released or recovered while a slow worker still holds it: the slow worker's commit finds the
job gone and rolls back, leaving no second result behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from .faults import Faults
from .lifecycle import resting_state, transition
from .states import State

__all__ = [
    "MAX_ATTEMPTS",
    "Job",
    "JobQueue",
    "LostJob",
    "PermanentError",
    "RetryableError",
    "Step",
    "describe",
]

MAX_ATTEMPTS = 3
MAX_BACKOFF_S = 300.0

log = logging.getLogger("docpipe.worker")


class PermanentError(Exception):
    """A failure no retry will fix (e.g. an unparseable document): the document fails now."""


class RetryableError(Exception):
    """A failure worth another attempt (a 5xx, a timeout); its message goes in the history."""


class LostJob(Exception):
    """The job is no longer this worker's: released, recovered by another worker, or erased."""


@dataclasses.dataclass(frozen=True)
class Job:
    id: int
    document_id: uuid.UUID
    attempts: int  # counting this one
    claimed_from: State  # the document's state when the job was claimed
    # The claim's locked_at: the fence token. A job released and claimed again, even by a
    # worker of the same name, has a new one, so the old claim cannot write.
    claimed_at: datetime.datetime


def describe(exc: BaseException) -> str:
    """A failure, on one line, for ``last_error`` and the state history."""
    text = str(exc) if isinstance(exc, RetryableError) else f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 500 else text[:497] + "..."


class Step:
    """One transaction on a job this worker holds; its state moves are logged after commit."""

    def __init__(self, conn: Any, job: Job, worker_id: str, faults: Faults) -> None:
        self.conn, self.job, self.worker_id, self.faults = conn, job, worker_id, faults
        self.moves: list[tuple[State, State, str | None]] = []

    async def move(self, new: State, reason: str | None = None) -> None:
        old = await transition(
            self.conn,
            self.job.document_id,
            new,
            faults=self.faults,
            reason=reason,
            worker_id=self.worker_id,
        )
        self.moves.append((old, new, reason))

    async def rest(self, reason: str) -> None:
        """Put the document back where the interrupted step started from."""
        state = State(
            await self.conn.fetchval(
                "select state from documents where id = $1", self.job.document_id
            )
        )
        if resting_state(state) is not state:
            await self.move(resting_state(state), reason)

    async def end(self, status: str, error: str | None = None, *, delay_s: float = 0.0) -> None:
        """Let go of the job: ``queued`` again (after ``delay_s``), ``done`` or ``failed``."""
        await self.conn.execute(
            """
            update jobs set status = $2, last_error = coalesce($3, last_error),
                next_attempt_at = now() + make_interval(secs => $4),
                locked_by = null, locked_at = null
            where id = $1
            """,
            self.job.id,
            status,
            error,
            delay_s,
        )

    def log(self) -> None:
        for old, new, reason in self.moves:
            log.info(
                "%s: document %s %s -> %s%s",
                self.worker_id,
                self.job.document_id,
                old.value,
                new.value,
                f" ({reason})" if reason else "",
            )


class JobQueue:
    """The ``jobs`` and ``worker_heartbeats`` tables, for the worker ``worker_id``."""

    def __init__(self, pool: Any, worker_id: str, faults: Faults) -> None:
        self.pool, self.worker_id, self.faults = pool, worker_id, faults

    async def claim(self) -> Job | None:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """
                select j.id, j.document_id, j.attempts, d.state from jobs j
                join documents d on d.id = j.document_id
                where j.status = 'queued' and j.next_attempt_at <= now()
                order by j.next_attempt_at, j.id
                limit 1
                for update of j skip locked
                """
            )
            if row is None:
                return None
            state = State(row["state"])
            if state in (State.COMPLETED, State.FAILED):
                # Nothing left to do (a job queued again by hand): close it, do not process it.
                outcome = "done" if state is State.COMPLETED else "failed"
                await conn.execute("update jobs set status = $2 where id = $1", row["id"], outcome)
                return None
            claimed_at = await conn.fetchval(
                """
                update jobs set status = 'running', locked_by = $2, locked_at = clock_timestamp(),
                    attempts = attempts + 1
                where id = $1
                returning locked_at
                """,
                row["id"],
                self.worker_id,
            )
        return Job(row["id"], row["document_id"], row["attempts"] + 1, state, claimed_at)

    @contextlib.asynccontextmanager
    async def owned(self, job: Job) -> AsyncIterator[Step]:
        """A transaction in which the job is locked and still this worker's, else ``LostJob``."""
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                # The document first, then the job: the order erasure locks them in.
                await conn.execute(
                    "select 1 from documents where id = $1 for update", job.document_id
                )
                held = await conn.fetchval(
                    """
                    select 1 from jobs
                    where id = $1 and status = 'running' and locked_by = $2 and locked_at = $3
                    for update
                    """,
                    job.id,
                    self.worker_id,
                    job.claimed_at,
                )
                if held is None:
                    raise LostJob(f"job {job.id} is no longer held by {self.worker_id}")
                step = Step(conn, job, self.worker_id, self.faults)
                yield step
            step.log()

    async def finish(self, job: Job) -> None:
        """Mark the job done, unless ``process`` already ended it in its last step."""
        await self.pool.execute(
            """
            update jobs set status = 'done', locked_by = null, locked_at = null
            where id = $1 and status = 'running' and locked_by = $2 and locked_at = $3
            """,
            job.id,
            self.worker_id,
            job.claimed_at,
        )

    async def settle(
        self,
        job: Job,
        error: str,
        *,
        outcome: Literal["release", "fail", "retry"],
        backoff_s: float = 0,
    ) -> None:
        """After an attempt did not finish. ``outcome``: ``release`` hands the job back as it
        was; ``fail`` fails the document now; ``retry`` queues the job again after exponential
        backoff, or fails the document once it has had ``MAX_ATTEMPTS``."""
        try:
            async with self.owned(job) as step:
                if outcome == "release":
                    await step.rest(error)
                    # Being stopped is not the job's fault: it does not use up an attempt.
                    await step.conn.execute(
                        "update jobs set attempts = attempts - 1 where id = $1", job.id
                    )
                    await step.end("queued")
                elif outcome == "fail" or job.attempts >= MAX_ATTEMPTS:
                    if outcome != "fail":
                        error = f"gave up after {job.attempts} attempts: {error}"
                    await step.move(State.FAILED, error)
                    await step.end("failed", error)
                else:
                    delay = min(backoff_s * 2 ** (job.attempts - 1), MAX_BACKOFF_S)
                    await step.rest(f"attempt {job.attempts} failed, retry in {delay:g}s: {error}")
                    await step.end("queued", error, delay_s=delay)
        except LostJob as exc:
            log.warning("%s: %s", self.worker_id, exc)

    async def recover(self, lease_s: float, stale_s: float) -> int:
        """Re-queue running jobs held past ``lease_s`` by a worker that is gone: its heartbeat
        is older than ``stale_s``, missing or stopped. Between jobs, a job this worker still
        holds is an orphan of a failed write, and is re-queued too. Returns how many."""
        steps: list[Step] = []
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """
                select j.id, j.document_id, j.attempts, j.locked_by, j.locked_at from jobs j
                where j.status = 'running' and j.locked_at < now() - make_interval(secs => $1)
                  and (j.locked_by = $2 or not exists (
                    select 1 from worker_heartbeats h
                    where h.worker_id = j.locked_by and h.status <> 'stopped'
                      and h.last_seen > now() - make_interval(secs => $3)))
                for update of j skip locked
                """,
                lease_s,
                self.worker_id,
                stale_s,
            )
            for row in rows:
                job = Job(
                    row["id"], row["document_id"], row["attempts"], State.UPLOADED, row["locked_at"]
                )
                step = Step(conn, job, self.worker_id, self.faults)
                steps.append(step)
                error = f"lease expired: worker {row['locked_by']} stopped responding"
                log.warning("%s: recovering job %d: %s", self.worker_id, job.id, error)
                if job.attempts >= MAX_ATTEMPTS:
                    await step.move(State.FAILED, f"gave up after {job.attempts} attempts: {error}")
                    await step.end("failed", error)
                else:
                    await step.rest(error)
                    await step.end("queued", error)
        for step in steps:
            step.log()
        return len(steps)

    async def beat(
        self, status: str, *, release: str, current: Job | None, started: datetime.datetime
    ) -> None:
        await self.pool.execute(
            """
            insert into worker_heartbeats
                (worker_id, pid, host, release, status, current_job, started_at, last_seen)
            values ($1, $2, $3, $4, $5, $6, $7, now())
            on conflict (worker_id) do update set
                pid = excluded.pid, host = excluded.host, release = excluded.release,
                status = excluded.status, current_job = excluded.current_job,
                started_at = excluded.started_at, last_seen = excluded.last_seen
            """,
            self.worker_id,
            os.getpid(),
            socket.gethostname(),
            release,
            status,
            None if current is None else current.id,
            started,
        )
