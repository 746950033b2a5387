"""The document state machine in the database, and the fence that keeps a job exactly-once."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import pytest
from docpipe.faults import Faults
from docpipe.jobs import JobQueue, LostJob
from docpipe.lifecycle import DocumentNotFound, history, transition
from docpipe.states import TRANSITIONS, IllegalTransition, State, allowed
from docpipe.storage import FileStorage

from tests.docpipe.conftest import DocpipeDatabase
from tests.docpipe.worker_harness import add_document, connect, document_text, states

STATE_OF = "select state from documents where id = $1"


@pytest.fixture
def storage(tmp_path: Path) -> FileStorage:
    return FileStorage(tmp_path / "files")


@pytest.mark.asyncio
async def test_a_worker_that_lost_its_job_cannot_write_about_it(
    docpipe_db: DocpipeDatabase, storage: FileStorage
) -> None:
    async with connect(docpipe_db) as conn:
        doc_id = await add_document(conn, storage, document_text(1))
        pool = await asyncpg.create_pool(docpipe_db.app_dsn, min_size=1, max_size=2)
        try:
            queue = JobQueue(pool, "slow-worker", Faults())
            job = await queue.claim()
            assert job is not None and job.document_id == doc_id
            assert await queue.claim() is None  # one job, claimed once
            # Meanwhile the job was recovered and handed to someone else.
            await conn.execute(
                "update jobs set status = 'queued', locked_by = null where id = $1", job.id
            )
            with pytest.raises(LostJob):
                async with queue.owned(job) as step:
                    await step.move(State.PARSING)
            # Claimed again under the same worker name: only the new claim may write.
            again = await queue.claim()
            assert again is not None and again.id == job.id
            with pytest.raises(LostJob):
                async with queue.owned(job):
                    pass
            async with queue.owned(again) as step:
                await step.move(State.PARSING)
        finally:
            await pool.close()
        assert [s for s, _, _ in await states(conn, doc_id)] == ["uploaded", "parsing"]


@pytest.mark.parametrize(
    ("current", "new"),
    [
        ("uploaded", "completed"),
        ("uploaded", "embedding"),
        ("parsing", "completed"),
        ("parsed", "completed"),
        ("embedding", "uploaded"),
        ("completed", "parsing"),
        ("failed", "uploaded"),
    ],
)
@pytest.mark.asyncio
async def test_the_state_machine_rejects_an_illegal_transition_and_writes_nothing(
    docpipe_db: DocpipeDatabase, storage: FileStorage, current: str, new: str
) -> None:
    async with connect(docpipe_db) as conn:
        doc_id = await add_document(conn, storage, document_text(1))
        await conn.execute("update documents set state = $2 where id = $1", doc_id, current)
        with pytest.raises(IllegalTransition, match=f"{current} -> {new}"):
            await transition(conn, doc_id, State(new))
        assert await conn.fetchval(STATE_OF, doc_id) == current
        assert len(await history(conn, doc_id)) == 1


@pytest.mark.asyncio
async def test_a_transition_records_history_and_the_failure_reason(
    docpipe_db: DocpipeDatabase, storage: FileStorage
) -> None:
    async with connect(docpipe_db) as conn:
        doc_id = await add_document(conn, storage, document_text(1))
        assert await transition(conn, doc_id, State.PARSING, worker_id="w") is State.UPLOADED
        await transition(conn, doc_id, State.FAILED, reason="broken", worker_id="w")
        row = await conn.fetchrow(
            "select state, failure_reason from documents where id = $1", doc_id
        )
        assert (row["state"], row["failure_reason"]) == ("failed", "broken")
        changes = await history(conn, doc_id)
        assert [(c.from_state, c.to_state, c.reason) for c in changes[1:]] == [
            (State.UPLOADED, State.PARSING, None),
            (State.PARSING, State.FAILED, "broken"),
        ]
        with pytest.raises(DocumentNotFound):
            await transition(conn, uuid.UUID(int=0), State.PARSING)


def test_state_skip_widens_the_state_machine_by_parsed_to_completed_only() -> None:
    skip = Faults.parse(["state_skip"])
    for state in State:
        extra = {State.COMPLETED} if state is State.PARSED else set()
        assert allowed(state, skip) == TRANSITIONS[state] | extra
        assert allowed(state) == allowed(state, Faults()) == TRANSITIONS[state]
