"""Storage limitation: documents are erased when their retention period ends (read-only).

Parameters read from ``params`` (optional):

- ``retention_days`` (default 30): the retention period the policy sets.
- ``retention_interval_s`` (default 60): how often the retention purge runs. A document may
  outlive its retention by up to two intervals (it expired just after a purge, and the next
  one is running) before it counts as kept too long; the purge must have run within two
  intervals too.
- ``retention_purge_on_worker_start`` (default true): workers purge as they start (docpipe
  does), so a worker that started more than 15 s ago must be followed by a purge.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

import pytest

from pytest_prodval import Baseline

if TYPE_CHECKING:
    import asyncpg

pytestmark = [pytest.mark.compliance, pytest.mark.asyncio(loop_scope="session")]

# A worker whose heartbeat is older than this is not counted as running.
LIVE_WORKER_S = 30.0
# A starting worker runs its first purge within this long.
FIRST_PURGE_WITHIN_S = 15.0
CLOCK_SKEW = dt.timedelta(seconds=2)  # worker host clock vs database clock


def _policy(params: dict[str, Any]) -> tuple[float, float]:
    return float(params.get("retention_days", 30)), float(params.get("retention_interval_s", 60))


async def test_no_document_is_kept_past_its_retention_period(
    db: asyncpg.Pool, params: dict[str, Any]
) -> None:
    """No document outlives its `retain_until`, or `retention_days` after its creation.

    Guards against: a retention purge that deletes nothing (`retention_off`, once documents
    have aged past the period), a purge job that stopped, a period configured longer than the
    policy, a schema without `retain_until` (`migration_behind`).
    Evidences: GDPR Art.5(1)(e)
    """
    days, interval = _policy(params)
    columns = await db.fetchval(
        "select count(*) from information_schema.columns"
        " where table_schema = current_schema() and table_name = 'documents'"
        " and column_name = any($1::text[])",
        ["created_at", "retain_until"],
    )
    assert columns == 2, (
        "documents.created_at or documents.retain_until is missing (schema behind the release?):"
        " the purge cannot select expired documents"
    )
    row = await db.fetchrow(
        """
        select count(*) as kept, min(created_at) as oldest from documents
        where coalesce(retain_until, created_at + make_interval(secs => $1))
              < now() - make_interval(secs => $2)
        """,
        days * 86400.0,
        2 * interval,
    )
    assert row["kept"] == 0, (
        f"{row['kept']} documents are kept past their retention (retain_until, or "
        f"{days:g} days after creation: params.retention_days), the oldest created "
        f"{row['oldest']}; allowed grace {2 * interval:g} s (2 x params.retention_interval_s)"
    )


async def test_the_retention_purge_has_run_within_its_interval(
    db: asyncpg.Pool, params: dict[str, Any], baseline: Baseline
) -> None:
    """The scheduled retention purge left a recent `retention.purge` audit row, within policy.

    Guards against: a retention job that no longer runs (workers down, purging switched off,
    or failing: `migration_behind`), a purge configured with a longer period than
    `params.retention_days`.
    Evidences: GDPR Art.5(1)(e) and Art.5(2)
    """
    days, interval = _policy(params)
    # Bounded by time first, so that the audit_log index does the work on a large log.
    row = await db.fetchrow(
        """
        select at, actor, detail::text as detail,
               extract(epoch from now() - at) as age_s
        from audit_log
        where at >= now() - make_interval(secs => $1)
          and action = 'retention.purge' and tenant_id is null
        order by at desc
        limit 1
        """,
        2 * interval,
    )
    assert row is not None, (
        f"no scheduled 'retention.purge' audit row in the last {2 * interval:g} s "
        "(2 x params.retention_interval_s): the retention job is not running"
    )
    if params.get("retention_purge_on_worker_start", True):
        # Workers purge as they start: the newest worker (e.g. this release's) must have.
        newest = await db.fetchval(
            """
            select max(started_at) from worker_heartbeats
            where status <> 'stopped' and last_seen > now() - make_interval(secs => $1)
              and started_at < now() - make_interval(secs => $2)
            """,
            LIVE_WORKER_S,
            FIRST_PURGE_WITHIN_S,
        )
        assert newest is None or row["at"] >= newest - CLOCK_SKEW, (
            f"the latest scheduled purge ran at {row['at']}, before the newest worker started "
            f"at {newest} (over {FIRST_PURGE_WITHIN_S:g} s ago): the workers of this release "
            "have not purged (params.retention_purge_on_worker_start)"
        )
    detail = json.loads(row["detail"])
    baseline.shape("purge detail", detail)
    configured = detail.get("retention_days")
    assert isinstance(configured, (int, float)) and not isinstance(configured, bool), (
        f"the purge at {row['at']} reports retention_days {configured!r}, not a number"
    )
    baseline.limit(
        "purge retention_days",
        configured,
        at_most=days,
        unit="days",
        source="params.retention_days",
        note=f"the purge at {row['at']}",
    )
    count, ids = detail.get("count"), detail.get("ids")
    assert isinstance(ids, list) and count == len(ids), (
        f"the purge at {row['at']} reports count {count!r} but lists {ids!r}"
    )
