"""Workers: as many as expected, alive, beating, and running the expected release.

Params: ``expected_workers`` (required), ``expected_release``, ``max_heartbeat_age_s``
(default 10: how long a live worker may go without writing its heartbeat).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import pytest

from pytest_prodval import TargetEnv

from .._support import query_timeout

if TYPE_CHECKING:
    import asyncpg

    from .conftest import ReadyReport

pytestmark = [pytest.mark.application]

# Default limit for params.max_heartbeat_age_s: how long a live worker may go without a beat.
MAX_HEARTBEAT_AGE_S = 10.0
POLL_S = 0.25


def _expected_workers(params: dict[str, Any], target: TargetEnv) -> int:
    if "expected_workers" not in params:
        pytest.fail(
            f"params.expected_workers is not set (prodval.yaml: "
            f"environments.{target.name}.params.expected_workers)"
        )
    return int(params["expected_workers"])


def test_ready_reports_the_expected_number_of_live_workers(
    ready_report: ReadyReport, params: dict[str, Any], target: TargetEnv
) -> None:
    """The /ready workers component counts exactly params.expected_workers live workers.

    Guards against: workers that crashed or stopped beating (`worker_stalled`), a deploy that
    started too few workers or left the previous release's running.
    """
    expected = _expected_workers(params, target)
    workers = ready_report.components.get("workers")
    assert isinstance(workers, dict), (
        f"GET /ready ({ready_report.status_code}) has no workers component: "
        f"{sorted(ready_report.components)}"
    )
    alive = workers.get("alive")
    assert alive == expected, (
        f"/ready reports {alive} live workers ({workers.get('stale')} stale); "
        f"expected {expected} (params.expected_workers)"
        + (f"; error: {workers['error']}" if workers.get("error") else "")
    )


_HEARTBEATS = """
select worker_id, release, status, last_seen,
       extract(epoch from now() - last_seen)::float8 as age_s
from worker_heartbeats
where status <> 'stopped' and last_seen >= now() - make_interval(secs => $1)
order by worker_id
"""


def _stuck(rows: list[Any], seen: dict[str, Any]) -> list[str]:
    """Workers whose heartbeat has not moved since the first read."""
    return [
        row["worker_id"]
        for row in rows
        if row["worker_id"] in seen and row["last_seen"] <= seen[row["worker_id"]]
    ]


@pytest.mark.asyncio(loop_scope="session")
async def test_worker_heartbeats_are_fresh_advancing_and_on_the_expected_release(
    db: asyncpg.Pool, params: dict[str, Any], target: TargetEnv
) -> None:
    """Each expected worker's heartbeat row is recent, advances, and names the expected release.

    Guards against: workers alive but not working (`worker_stalled`: one beat at start, then
    none), fewer or more workers than expected, workers of the previous release still running.
    """
    expected = _expected_workers(params, target)
    limit = float(params.get("max_heartbeat_age_s", MAX_HEARTBEAT_AGE_S))
    timeout = query_timeout(target)
    first = await db.fetch(_HEARTBEATS, limit * 3, timeout=timeout)
    # Only rows fresh at the first read are worth waiting for; older ones fail below anyway.
    seen = {row["worker_id"]: row["last_seen"] for row in first if row["age_s"] <= limit}
    # A stalled worker may still look fresh right after a deploy; a live one beats again within
    # its interval. Wait (at most the age limit) until every recent row has moved on.
    deadline = time.monotonic() + limit
    rows = first
    while rows and _stuck(rows, seen) and time.monotonic() < deadline:
        await asyncio.sleep(POLL_S)
        rows = await db.fetch(_HEARTBEATS, limit * 3, timeout=timeout)
    described = ", ".join(
        f"{row['worker_id']} (release {row['release']}, {row['status']}, "
        f"last beat {row['age_s']:.1f} s ago)"
        for row in rows
    )
    stuck = _stuck(rows, seen)
    assert not stuck, (
        f"heartbeats of {', '.join(stuck)} did not advance within {limit:g} s "
        f"(params.max_heartbeat_age_s); workers: {described}"
    )
    fresh = [row for row in rows if row["age_s"] <= limit]
    assert len(fresh) == expected, (
        f"{len(fresh)} workers beat within {limit:g} s, expected {expected} "
        f"(params.expected_workers); workers: {described or 'none'}"
    )
    release = str(params.get("expected_release", ""))
    wrong = [row["worker_id"] for row in fresh if release and row["release"] != release]
    assert not wrong, (
        f"workers {', '.join(wrong)} run another release than {release!r} "
        f"(params.expected_release); workers: {described}"
    )
