"""The document worker against real PostgreSQL, real HTTP stubs and real worker processes."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from docpipe.jobs import MAX_ATTEMPTS
from docpipe.lifecycle import history
from docpipe.services import split_text
from docpipe.states import HAPPY_PATH, State
from docpipe.stubs import running
from docpipe.stubs.embedder import EmbedderConfig
from docpipe.stubs.embedder import create_app as embedder_app
from docpipe.stubs.parser import ParserConfig
from docpipe.stubs.parser import create_app as parser_app

from tests.docpipe.conftest import DocpipeDatabase
from tests.docpipe.worker_harness import (
    SERVICE_KEY,
    Platform,
    add_document,
    connect,
    document_text,
    in_process,
    states,
    terminate,
    wait_for,
)

HAPPY = [s.value for s in HAPPY_PATH]
STATE_OF = "select state from documents where id = $1"


def slow_parser(latency_s: float) -> ParserConfig:
    return ParserConfig(service_key=SERVICE_KEY, latency_s=latency_s)


@pytest.fixture
def platform(docpipe_db: DocpipeDatabase, tmp_path: Path) -> Iterator[Platform]:
    parser = parser_app(ParserConfig(service_key=SERVICE_KEY))
    embedder = embedder_app(EmbedderConfig(service_key=SERVICE_KEY))
    with running(parser) as parser_url, running(embedder) as embedder_url:
        logs = tmp_path / "logs"
        logs.mkdir()
        yield Platform(docpipe_db, tmp_path / "files", parser_url, embedder_url, logs)


async def assert_completed_once(conn: asyncpg.Connection, doc_id: object, text: bytes) -> None:
    """One result, its chunks exactly once each, the job done."""
    result = await conn.fetchrow("select * from results where document_id = $1", doc_id)
    assert result["text"] == text.decode().strip()
    chunks = await conn.fetch(
        "select seq, text, embedding from chunks where document_id = $1 order by seq", doc_id
    )
    assert [c["seq"] for c in chunks] == list(range(result["chunk_count"]))
    assert [c["text"] for c in chunks] == split_text(result["text"])
    assert {len(c["embedding"]) for c in chunks} == {result["embedding_dimensions"]} == {64}
    job = await conn.fetchrow("select status, locked_by from jobs where document_id = $1", doc_id)
    assert (job["status"], job["locked_by"]) == ("done", None)


@pytest.mark.asyncio
async def test_a_document_goes_through_every_state_to_completed(platform: Platform) -> None:
    async with connect(platform.db) as conn:
        doc_id = await add_document(conn, platform.storage, document_text(1))
        with platform.spawn("w1") as worker:
            await wait_for(conn, "select state = 'completed' from documents where id = $1", doc_id)
            first_beat = await conn.fetchval(
                "select last_seen from worker_heartbeats where worker_id = 'w1'"
            )
            # The heartbeat keeps moving while the worker idles.
            await wait_for(
                conn,
                "select last_seen > $1 from worker_heartbeats where worker_id = 'w1'",
                first_beat,
            )
            assert await terminate(worker) == 0
        history_rows = await states(conn, doc_id)
        assert [s for s, _, _ in history_rows] == HAPPY
        assert [w for _, w, _ in history_rows] == [None, "w1", "w1", "w1", "w1"]
        times = [at for _, _, at in history_rows]
        assert times == sorted(times) and len(set(times)) == len(times)
        await assert_completed_once(conn, doc_id, document_text(1))
        assert (
            await conn.fetchval("select count(*) from chunks where document_id = $1", doc_id) == 3
        )
        beat = await conn.fetchrow("select * from worker_heartbeats where worker_id = 'w1'")
        assert (beat["status"], beat["release"], beat["current_job"]) == ("stopped", "1", None)
    log = platform.log_of("w1")
    assert f"document {doc_id} parsed -> embedding" in log
    assert log.count(f"document {doc_id}") == 4  # one line per transition


@pytest.mark.asyncio
async def test_two_workers_process_each_of_a_hundred_documents_exactly_once(
    platform: Platform,
) -> None:
    async with connect(platform.db) as conn:
        with platform.spawn("w1") as w1, platform.spawn("w2") as w2:
            await wait_for(conn, "select count(*) = 2 from worker_heartbeats")
            texts = {
                await add_document(conn, platform.storage, document_text(n)): n for n in range(100)
            }
            await wait_for(
                conn, "select count(*) = 100 from documents where state = 'completed'", timeout=60
            )
            assert await terminate(w1) == 0
            assert await terminate(w2) == 0
        per_document = await conn.fetch(
            """
            select document_id, array_agg(to_state order by id) as path from document_states
            group by document_id
            """
        )
        assert len(per_document) == 100
        assert all(row["path"] == HAPPY for row in per_document)
        duplicates = await conn.fetchval(
            "select count(*) from (select 1 from chunks group by document_id, seq"
            " having count(*) > 1) d"
        )
        assert duplicates == 0
        assert await conn.fetchval("select count(*) from results") == 100
        assert await conn.fetchval("select count(*) from chunks") == 300
        assert await conn.fetchval("select bool_and(attempts = 1 and status = 'done') from jobs")
        done_by = dict(
            await conn.fetch(
                "select worker_id, count(*) from document_states where to_state = 'completed'"
                " group by worker_id"
            )
        )
        assert set(done_by) == {"w1", "w2"} and sum(done_by.values()) == 100
        for doc_id, n in list(texts.items())[:5]:
            await assert_completed_once(conn, doc_id, document_text(n))


@pytest.mark.asyncio
async def test_sigterm_releases_a_job_that_outlasts_the_grace_period_for_another_worker(
    platform: Platform,
) -> None:
    async with connect(platform.db) as conn:
        doc_id = await add_document(conn, platform.storage, document_text(1))
        with running(parser_app(slow_parser(5.0))) as slow_url:
            env = {"DOCPIPE_PARSER_URL": slow_url, "DOCPIPE_WORKER_GRACE_S": "0.3"}
            with platform.spawn("w1", **env) as w1:
                await wait_for(
                    conn, "select state = 'parsing' from documents where id = $1", doc_id
                )
                assert await terminate(w1) == 0
        job = await conn.fetchrow("select * from jobs where document_id = $1", doc_id)
        assert (job["status"], job["locked_by"], job["attempts"]) == ("queued", None, 0)
        assert await conn.fetchval(STATE_OF, doc_id) == "uploaded"
        released = (await history(conn, doc_id))[-1]
        assert (released.from_state, released.to_state) == (State.PARSING, State.UPLOADED)
        assert released.reason == "released: w1 stopped before the job finished"
        assert await conn.fetchval(
            "select status from worker_heartbeats where worker_id = 'w1'"
        ) == ("stopped")

        with platform.spawn("w2") as w2:
            await wait_for(conn, "select state = 'completed' from documents where id = $1", doc_id)
            assert await terminate(w2) == 0
        path = [(s, w) for s, w, _ in await states(conn, doc_id)]
        assert path == [
            ("uploaded", None),
            ("parsing", "w1"),
            ("uploaded", "w1"),
            ("parsing", "w2"),
            ("parsed", "w2"),
            ("embedding", "w2"),
            ("completed", "w2"),
        ]
        await assert_completed_once(conn, doc_id, document_text(1))


@pytest.mark.asyncio
async def test_sigterm_lets_the_job_in_flight_finish_within_the_grace_period_and_claims_no_more(
    platform: Platform,
) -> None:
    async with connect(platform.db) as conn:
        first = await add_document(conn, platform.storage, document_text(1))
        with running(parser_app(slow_parser(1.0))) as slow_url:
            env = {"DOCPIPE_PARSER_URL": slow_url, "DOCPIPE_WORKER_GRACE_S": "20"}
            with platform.spawn("w1", **env) as w1:
                await wait_for(conn, "select state = 'parsing' from documents where id = $1", first)
                second = await add_document(conn, platform.storage, document_text(2))
                assert await terminate(w1) == 0
        assert [s for s, _, _ in await states(conn, first)] == HAPPY
        await assert_completed_once(conn, first, document_text(1))
        assert await conn.fetchval(STATE_OF, second) == "uploaded"
        job = await conn.fetchrow(
            "select status, attempts from jobs where document_id = $1", second
        )
        assert (job["status"], job["attempts"]) == ("queued", 0)


@pytest.mark.asyncio
async def test_a_parser_5xx_is_retried_after_a_backoff_and_then_succeeds(
    platform: Platform,
) -> None:
    async with connect(platform.db) as conn:
        doc_id = await add_document(conn, platform.storage, document_text(1))
        flaky = ParserConfig(service_key=SERVICE_KEY, error_rate=0.5)  # the first upload fails
        with running(parser_app(flaky)) as flaky_url:
            async with in_process(platform, parser_url=flaky_url, retry_backoff_s=0.3):
                await wait_for(
                    conn, "select state = 'completed' from documents where id = $1", doc_id
                )
        changes = await history(conn, doc_id)
        assert [c.to_state.value for c in changes] == [
            "uploaded", "parsing", "uploaded", "parsing", "parsed", "embedding", "completed"
        ]  # fmt: skip
        assert changes[2].reason == "attempt 1 failed, retry in 0.3s: parser answered 503"
        # The backoff runs from the settle's transaction, which precedes the row of the
        # state change by a moment: a few ms of it are not in this difference.
        assert changes[3].at - changes[2].at >= datetime.timedelta(seconds=0.3 - 0.05)
        job = await conn.fetchrow("select * from jobs where document_id = $1", doc_id)
        assert (job["status"], job["attempts"], job["last_error"]) == (
            "done", 2, "parser answered 503"
        )  # fmt: skip
        await assert_completed_once(conn, doc_id, document_text(1))


@pytest.mark.asyncio
async def test_an_embedder_failure_resumes_from_parsed_on_the_next_attempt(
    platform: Platform,
) -> None:
    async with connect(platform.db) as conn:
        doc_id = await add_document(conn, platform.storage, document_text(1))
        flaky = EmbedderConfig(service_key=SERVICE_KEY, error_rate=0.5)
        with running(embedder_app(flaky)) as flaky_url:
            platform.embedder_url = flaky_url
            async with in_process(platform, retry_backoff_s=0.05):
                await wait_for(
                    conn, "select state = 'completed' from documents where id = $1", doc_id
                )
        assert [s for s, _, _ in await states(conn, doc_id)] == [
            "uploaded", "parsing", "parsed", "embedding", "parsed", "embedding", "completed"
        ]  # fmt: skip
        await assert_completed_once(conn, doc_id, document_text(1))


@pytest.mark.asyncio
async def test_a_document_fails_with_the_reason_after_the_last_attempt(
    platform: Platform,
) -> None:
    async with connect(platform.db) as conn:
        doc_id = await add_document(conn, platform.storage, document_text(1))
        down = ParserConfig(service_key=SERVICE_KEY, error_rate=1.0)
        with running(parser_app(down)) as down_url:
            async with in_process(platform, parser_url=down_url, retry_backoff_s=0.2):
                await wait_for(conn, "select state = 'failed' from documents where id = $1", doc_id)
        changes = await history(conn, doc_id)
        assert [c.to_state.value for c in changes] == [
            "uploaded", "parsing", "uploaded", "parsing", "uploaded", "parsing", "failed"
        ]  # fmt: skip
        # Exponential backoff: 0.2 s, then 0.4 s between an attempt and the next.
        assert changes[3].at - changes[2].at >= datetime.timedelta(seconds=0.2)
        assert changes[5].at - changes[4].at >= datetime.timedelta(seconds=0.4)
        reason = f"gave up after {MAX_ATTEMPTS} attempts: parser answered 503"
        assert changes[-1].reason == reason
        assert await conn.fetchval(
            "select failure_reason from documents where id = $1", doc_id
        ) == (reason)
        job = await conn.fetchrow(
            "select status, attempts from jobs where document_id = $1", doc_id
        )
        assert (job["status"], job["attempts"]) == ("failed", MAX_ATTEMPTS)
        assert await conn.fetchval("select count(*) from results") == 0
        assert await conn.fetchval("select count(*) from chunks") == 0


@pytest.mark.asyncio
async def test_an_unparseable_document_fails_at_once_and_leaves_no_partial_results(
    platform: Platform,
) -> None:
    async with connect(platform.db) as conn:
        doc_id = await add_document(conn, platform.storage, b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
        async with in_process(platform):
            await wait_for(conn, "select state = 'failed' from documents where id = $1", doc_id)
        assert [s for s, _, _ in await states(conn, doc_id)] == ["uploaded", "parsing", "failed"]
        reason = await conn.fetchval("select failure_reason from documents where id = $1", doc_id)
        assert reason == "unparseable document: not UTF-8 text"
        job = await conn.fetchrow(
            "select status, attempts from jobs where document_id = $1", doc_id
        )
        assert (job["status"], job["attempts"]) == ("failed", 1)
        assert await conn.fetchval("select count(*) from results") == 0
        assert await conn.fetchval("select count(*) from chunks") == 0


@pytest.mark.asyncio
async def test_state_skip_completes_documents_without_the_embedding_step(
    platform: Platform,
) -> None:
    async with connect(platform.db) as conn:
        doc_id = await add_document(conn, platform.storage, document_text(1))
        async with in_process(platform, faults="state_skip"):
            await wait_for(conn, "select state = 'completed' from documents where id = $1", doc_id)
        assert [s for s, _, _ in await states(conn, doc_id)] == [
            "uploaded", "parsing", "parsed", "completed"
        ]  # fmt: skip
        result = await conn.fetchrow("select * from results where document_id = $1", doc_id)
        assert (result["chunk_count"], result["embedding_dimensions"]) == (0, 0)
        assert await conn.fetchval("select count(*) from chunks") == 0


@pytest.mark.asyncio
async def test_worker_stalled_takes_no_jobs_and_its_heartbeat_goes_stale(
    platform: Platform,
) -> None:
    async with connect(platform.db) as conn:
        doc_id = await add_document(conn, platform.storage, document_text(1))
        with platform.spawn("w1", DOCPIPE_FAULTS="worker_stalled") as worker:
            registered = await wait_for(
                conn, "select last_seen from worker_heartbeats where worker_id = 'w1'"
            )
            # Ten heartbeat intervals pass (measured by the database) without a beat.
            await wait_for(conn, "select now() - $1 > interval '1 second'", registered)
            assert worker.poll() is None
            beat = await conn.fetchrow("select * from worker_heartbeats where worker_id = 'w1'")
            assert beat["last_seen"] == registered
            job = await conn.fetchrow(
                "select status, attempts from jobs where document_id = $1", doc_id
            )
            assert (job["status"], job["attempts"]) == ("queued", 0)
            assert await conn.fetchval(STATE_OF, doc_id) == "uploaded"
            assert await terminate(worker) == 0


@pytest.mark.asyncio
async def test_a_job_held_by_a_vanished_worker_is_recovered_but_a_live_ones_is_not(
    platform: Platform,
) -> None:
    async with connect(platform.db) as conn:
        lost = await add_document(conn, platform.storage, document_text(1))
        held = await add_document(conn, platform.storage, document_text(2))
        for doc_id, owner in ((lost, "ghost"), (held, "alive")):
            await conn.execute("update documents set state = 'parsing' where id = $1", doc_id)
            await conn.execute(
                """
                update jobs set status = 'running', locked_by = $2, attempts = 1,
                    locked_at = now() - interval '1 hour'
                where document_id = $1
                """,
                doc_id,
                owner,
            )
        await conn.execute(
            "insert into worker_heartbeats (worker_id, pid, host, release, status, last_seen)"
            " values ('ghost', 1, 'h', '1', 'busy', now() - interval '1 hour'),"
            " ('alive', 2, 'h', '1', 'busy', now() + interval '1 hour')"
        )
        async with in_process(platform, "w2", lease_s=60):
            await wait_for(conn, "select state = 'completed' from documents where id = $1", lost)
        last = await history(conn, lost)
        recovered = last[1]
        assert (recovered.from_state, recovered.to_state, recovered.worker_id) == (
            State.PARSING, State.UPLOADED, "w2"
        )  # fmt: skip
        assert recovered.reason == "lease expired: worker ghost stopped responding"
        assert await conn.fetchval("select attempts from jobs where document_id = $1", lost) == 2
        job = await conn.fetchrow("select status, locked_by from jobs where document_id = $1", held)
        assert (job["status"], job["locked_by"]) == ("running", "alive")


@pytest.mark.asyncio
async def test_a_queued_job_of_a_finished_document_is_closed_without_processing(
    platform: Platform,
) -> None:
    async with connect(platform.db) as conn:
        doc_id = await add_document(conn, platform.storage, document_text(1))
        await conn.execute("update documents set state = 'completed' where id = $1", doc_id)
        async with in_process(platform):
            await wait_for(conn, "select status = 'done' from jobs where document_id = $1", doc_id)
        assert [s for s, _, _ in await states(conn, doc_id)] == ["uploaded"]
        assert await conn.fetchval("select attempts from jobs where document_id = $1", doc_id) == 0


@pytest.mark.asyncio
async def test_the_worker_runs_the_retention_purge(platform: Platform) -> None:
    async with connect(platform.db) as conn:
        old = await add_document(conn, platform.storage, document_text(1))
        await conn.execute(
            "update documents set created_at = now() - interval '40 days' where id = $1", old
        )
        async with in_process(platform):
            await wait_for(conn, "select count(*) = 0 from documents where id = $1", old)
            await wait_for(
                conn, "select count(*) > 0 from audit_log where action = 'retention.purge'"
            )
        assert not platform.storage.exists(f"acme/{old}")


@pytest.mark.asyncio
async def test_retention_off_means_the_scheduled_purge_never_runs(platform: Platform) -> None:
    async with connect(platform.db) as conn:
        old = await add_document(conn, platform.storage, document_text(1))
        await conn.execute(
            "update documents set created_at = now() - interval '40 days' where id = $1", old
        )
        await conn.execute("update jobs set status = 'done' where document_id = $1", old)
        fresh = await add_document(conn, platform.storage, document_text(2))
        async with in_process(platform, faults="retention_off"):
            # The purge is due at start-up, before the first claim: once a job is done, a
            # purge that was going to run has run.
            await wait_for(conn, "select state = 'completed' from documents where id = $1", fresh)
        assert await conn.fetchval("select count(*) from documents where id = $1", old) == 1
        audits = "select count(*) from audit_log where action = 'retention.purge'"
        assert await conn.fetchval(audits) == 0


def test_text_is_split_into_chunks_of_at_most_500_characters_between_words() -> None:
    text = "alpha " * 200 + "x" * 1200 + " omega\n\nend"
    chunks = split_text(text)
    assert all(0 < len(chunk) <= 500 for chunk in chunks)
    assert "".join("".join(chunks).split()) == "".join(text.split())  # nothing lost
    assert chunks[0].endswith("alpha") and chunks[-1].endswith("omega\n\nend")
    assert split_text("  \n ") == []


@pytest.mark.asyncio
async def test_the_heartbeat_outlives_a_connection_left_mid_operation_by_a_database_restart(
    platform: Platform,
) -> None:
    # asyncpg raised "cannot switch to state 12; another operation is in progress" on a pooled
    # connection after the database came back: the heartbeat task died of it, and the worker
    # went on taking jobs without beating, so its jobs were taken from it as from a dead one.
    async with connect(platform.db) as conn, in_process(platform, "w-beat") as worker:
        await wait_for(conn, "select 1 from worker_heartbeats where worker_id = 'w-beat'")
        queue = worker.queue
        real_beat = queue.beat
        failed = asyncio.Event()

        async def beat_once_broken(*args: Any, **kwargs: Any) -> None:
            if not failed.is_set():
                failed.set()
                raise asyncpg.InternalClientError("cannot switch to state 12")
            await real_beat(*args, **kwargs)

        queue.beat = beat_once_broken  # type: ignore[method-assign]
        await asyncio.wait_for(failed.wait(), 30)
        broken_at = await conn.fetchval("select now()")
        await wait_for(
            conn,
            "select last_seen > $1 from worker_heartbeats where worker_id = 'w-beat'",
            broken_at,
        )
