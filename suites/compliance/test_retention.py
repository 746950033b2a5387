"""Storage limitation, both ways: documents are erased when their retention period ends, and
not before.

The database is read through the ``db`` fixture (read-only); the document storage through
``params.storage_dir`` where the environment declares it. One check runs a purge itself and
is ``destructive``: the purge erases whatever has expired in the admin's tenant now rather
than at the next scheduled run.

Parameters read from ``params`` (optional):

- ``retention_days`` (default 30): the retention period the policy sets.
- ``retention_interval_s`` (default 60): how often the retention purge runs. A document may
  outlive its retention by up to two intervals (it expired just after a purge, and the next
  one is running) before it counts as kept too long; the purge must have run within two
  intervals too.
- ``retention_purge_on_worker_start`` (default true): workers purge as they start (docpipe
  does), so a worker that started more than 15 s ago must be followed by a purge.
- ``retention_min_days`` (default ``retention_days``): the shortest time a document may be
  kept; a purge of a document uploaded more recently is a premature erasure.
- ``retention_audit_lookback_s`` (default 86400): how far back the purges in the audit log
  are judged for premature erasures.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from pytest_prodval import Baseline

from .._support import AwaitState
from ._layers import declared_storage, derived_tables, row_counts, storage_key

if TYPE_CHECKING:
    import asyncpg

    from ..conftest import SyntheticDocuments

pytestmark = [pytest.mark.compliance, pytest.mark.asyncio(loop_scope="session")]

# A worker whose heartbeat is older than this is not counted as running.
LIVE_WORKER_S = 30.0
# A starting worker runs its first purge within this long.
FIRST_PURGE_WITHIN_S = 15.0
CLOCK_SKEW = dt.timedelta(seconds=2)  # worker host clock vs database clock
# The upload's audit row is written a moment after the document's creation time, in the same
# transaction: this much younger than the period still counts as expired.
UPLOAD_AUDIT_SLACK_S = 60.0
PREMATURE_SHOWN = 10


def _policy(params: dict[str, Any]) -> tuple[float, float]:
    return float(params.get("retention_days", 30)), float(params.get("retention_interval_s", 60))


def _positive(params: dict[str, Any], name: str, default: float) -> float:
    raw = params.get(name, default)
    try:
        value = float(raw) if not isinstance(raw, bool) else math.nan
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        pytest.fail(f"params.{name}: expected a number > 0, got {raw!r}", pytrace=False)
    return value


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


async def test_no_purge_erased_a_document_before_its_retention_period(
    db: asyncpg.Pool, params: dict[str, Any]
) -> None:
    """No purge in the audit log erased a document uploaded less than the period before.

    Each `retention.purge` row lists the ids it erased; each document's `document.upload`
    audit row says when it came. The purges of this deployment are judged: those since its
    oldest live worker started, and within `retention_audit_lookback_s` (so an earlier,
    rolled-back release's purges are not blamed on this one). A document whose retention
    was overridden (a `document.retention` audit row) before the purge is judged by the
    override, so it is not counted.
    Guards against: a purge that erases too early (a wrong unit or comparison in the expiry
    rule, a shorter period than the policy), which loses documents the tenant is still owed.
    Evidences: GDPR Art.5(1)(e) (retention as the policy sets it, not shorter)
    """
    days, _ = _policy(params)
    min_days = _positive(params, "retention_min_days", days)
    lookback = _positive(params, "retention_audit_lookback_s", 86400.0)
    # Bounded by time first (the audit_log index on at), then joined on the resource index.
    rows = await db.fetch(
        """
        with since as (
            select greatest(
                now() - make_interval(secs => $1),
                (select min(started_at) from worker_heartbeats
                 where status <> 'stopped' and last_seen > now() - make_interval(secs => $3))
            ) as at
        ),
        purged as (
            select p.at as purged_at, erased.id
            from audit_log p
            cross join lateral jsonb_array_elements_text(
                case when jsonb_typeof(p.detail -> 'ids') = 'array'
                     then p.detail -> 'ids' else '[]'::jsonb end
            ) as erased(id)
            where p.at >= (select at from since)
              and p.action = 'retention.purge' and p.outcome = 'success'
        )
        select purged.id, purged.purged_at, min(u.at) as uploaded_at
        from purged
        join audit_log u
          on u.resource_type = 'document' and u.resource_id = purged.id
         and u.action = 'document.upload'
        where not exists (
            -- A retention override (document.retention) set before the purge moved the
            -- document's deadline: erasing it then is the override obeyed, not too early.
            select 1 from audit_log o
            where o.resource_type = 'document' and o.resource_id = purged.id
              and o.action = 'document.retention' and o.outcome = 'success'
              and o.at <= purged.purged_at
        )
        group by purged.id, purged.purged_at
        having min(u.at) > purged.purged_at - make_interval(secs => $2)
        order by purged.purged_at desc
        """,
        lookback,
        min_days * 86400.0 - UPLOAD_AUDIT_SLACK_S,
        LIVE_WORKER_S,
    )
    shown = [
        f"{row['id']} (uploaded {row['uploaded_at']}, purged {row['purged_at']}, "
        f"after {(row['purged_at'] - row['uploaded_at']).total_seconds():.0f} s)"
        for row in rows[:PREMATURE_SHOWN]
    ]
    assert not rows, (
        f"{len(rows)} documents were purged before their retention period of {min_days:g} "
        f"days (params.retention_min_days): {'; '.join(shown)}"
    )


def _processed_upload(
    synthetic: SyntheticDocuments, await_state: AwaitState
) -> tuple[str, dict[str, Any]]:
    """Upload a synthetic document and wait until the pipeline is done with it (completed or
    failed), so that every table it writes is written before a purge: (id, document)."""
    response = synthetic.upload()
    assert response.status_code == 201, f"upload: {response.status_code} {response.text[:300]}"
    document_id: str = response.json()["id"]
    document, _ = await_state(synthetic, document_id, {"completed", "failed"})
    return document_id, document


@pytest.mark.destructive
@pytest.mark.synthetic
async def test_a_purge_keeps_a_synthetic_document_younger_than_the_retention_period(
    synthetic: SyntheticDocuments,
    await_state: AwaitState,
    api_as: Callable[[str], httpx.Client],
    db: asyncpg.Pool,
    params: dict[str, Any],
    pytestconfig: pytest.Config,
) -> None:
    """A purge run now leaves a just-completed synthetic document whole, in database and storage.

    Its rows in every document table stay, and its file where `params.storage_dir` declares
    the storage.

    Guards against: a purge that erases documents before their period ends (an inverted
    comparison, `retain_until` or the period ignored, every document selected).
    Evidences: GDPR Art.5(1)(e) (retention as the policy sets it, not shorter)
    """
    storage = declared_storage(params, pytestconfig.rootpath)
    document_id, document = _processed_upload(synthetic, await_state)
    assert document["state"] == "completed", (
        f"document {document_id} ended {document['state']!r}: {document['failure_reason']}"
    )
    tables = await derived_tables(db)
    before = await row_counts(db, document_id, tables)
    key = await storage_key(db, document_id)
    if storage is not None:
        assert storage.holds(key), (
            f"completed document {document_id} has no file {key!r} in {storage.root} "
            "(is params.storage_dir the platform's storage directory?)"
        )
    tenant = await db.fetchval("select tenant_id from documents where id = $1::uuid", document_id)
    started = await db.fetchval("select now()")
    purge = api_as("admin").post("/admin/retention/purge")
    assert purge.status_code == 200, (
        f"POST /admin/retention/purge answered {purge.status_code}: {purge.text[:300]}"
    )
    # Only a purge of the document's own tenant evidences anything.
    scopes = await db.fetch(
        """
        select distinct tenant_id from audit_log
        where at >= $1 and action = 'retention.purge' and tenant_id is not null
        """,
        started,
    )
    assert tenant in {row["tenant_id"] for row in scopes}, (
        f"the admin's purge left no 'retention.purge' audit row for tenant {tenant!r} of "
        f"{document_id} (rows for {sorted(row['tenant_id'] for row in scopes)})"
    )
    after = await row_counts(db, document_id, tables)
    lost = {
        table: (before[table], after[table]) for table in tables if after[table] != before[table]
    }
    assert not lost, (
        f"a purge erased rows of {document_id}, created {document['created_at']}, well within "
        f"its retention (table: (rows before, after)) {lost}"
    )
    if storage is not None:
        assert storage.holds(key), (
            f"a purge removed the file {storage.path(key)} of {document_id}, created "
            f"{document['created_at']}, well within its retention"
        )
    assert synthetic.uploader.get(f"/documents/{document_id}").status_code == 200, (
        f"after a purge GET /documents/{document_id} no longer answers 200"
    )


def _published_deadline(document: dict[str, Any], document_id: str) -> dt.datetime:
    raw = document.get("retain_until")
    assert isinstance(raw, str), (
        f"GET /documents/{document_id} says nothing of when it is erased: retain_until "
        f"{raw!r}, expected an ISO 8601 time (GDPR Art.13(2)(a): the storage period is told)"
    )
    return dt.datetime.fromisoformat(raw)


@pytest.mark.synthetic
async def test_a_new_document_is_told_the_exact_retention_period_of_the_policy(
    synthetic: SyntheticDocuments, params: dict[str, Any], baseline: Baseline
) -> None:
    """A just-uploaded synthetic document's published `retain_until` is its creation time plus
    exactly `params.retention_days`, and no override is set; the period equals the baseline's.

    The platform publishes the purge's own rule with every document, so a wrong unit or
    factor in the rule shows on a document minutes old, not only on one that has aged.
    Guards against: a retention period converted with the wrong unit (hours for days) or
    factor, erasing documents early or keeping them too long; a default period changed.
    Evidences: GDPR Art.5(1)(e) and Art.13(2)(a)
    """
    days, _ = _policy(params)
    response = synthetic.upload()
    assert response.status_code == 201, f"upload: {response.status_code} {response.text[:300]}"
    document_id: str = response.json()["id"]
    read = synthetic.uploader.get(f"/documents/{document_id}")
    assert read.status_code == 200, f"GET /documents/{document_id}: {read.status_code}"
    document = read.json()
    deadline = _published_deadline(document, document_id)
    period_s = (deadline - dt.datetime.fromisoformat(document["created_at"])).total_seconds()
    override = document.get("retention_override")
    assert override is False, f"a new document {document_id} has a retention override: {override!r}"
    assert period_s == days * 86400.0, (
        f"document {document_id} is to be erased {period_s / 86400.0:g} days after its "
        f"creation ({document['created_at']} -> {document['retain_until']}), the policy says "
        f"{days:g} (params.retention_days)"
    )
    baseline.exact("retention period of a new document (s)", period_s)


@pytest.mark.destructive
@pytest.mark.synthetic
async def test_a_purge_erases_a_synthetic_document_whose_retention_override_has_passed(
    synthetic: SyntheticDocuments,
    await_state: AwaitState,
    api_as: Callable[[str], httpx.Client],
    db: asyncpg.Pool,
    params: dict[str, Any],
    pytestconfig: pytest.Config,
) -> None:
    """A synthetic document whose `retain_until` override is set an hour in the past is gone
    after a purge: from the API (404), from every document table and from the storage.

    The document is minutes old, so only the override makes it expire; the purge run is the
    admin's (its own tenant's expired documents, as the scheduled one would).
    Guards against: a purge that ignores the per-document override (a legal hold lifted, a
    shortened period) and keeps what the override says must go; an override not stored.
    Evidences: GDPR Art.5(1)(e) and Art.17
    """
    storage = declared_storage(params, pytestconfig.rootpath)
    document_id, _ = _processed_upload(synthetic, await_state)
    tables = await derived_tables(db)
    key = await storage_key(db, document_id)
    admin = api_as("admin")
    past = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)).replace(microsecond=0)
    override = admin.put(
        f"/documents/{document_id}/retention", json={"retain_until": past.isoformat()}
    )
    assert override.status_code == 200, (
        f"PUT /documents/{document_id}/retention answered {override.status_code}: "
        f"{override.text[:300]}"
    )
    published = _published_deadline(override.json(), document_id)
    assert (published, override.json().get("retention_override")) == (past, True), (
        f"after the override to {past.isoformat()} document {document_id} publishes "
        f"retain_until {override.json().get('retain_until')!r}, "
        f"override {override.json().get('retention_override')!r}"
    )
    purge = admin.post("/admin/retention/purge")
    assert purge.status_code == 200, (
        f"POST /admin/retention/purge answered {purge.status_code}: {purge.text[:300]}"
    )
    left = {table: n for table, n in (await row_counts(db, document_id, tables)).items() if n}
    assert not left, (
        f"a purge kept document {document_id} whose retain_until ({past.isoformat()}) has "
        f"passed: rows left (table: rows) {left}"
    )
    if storage is not None:
        assert not storage.holds(key), (
            f"a purge kept the file {storage.path(key)} of {document_id}, past its retain_until"
        )
    gone = synthetic.uploader.get(f"/documents/{document_id}")
    assert gone.status_code == 404, (
        f"after a purge GET /documents/{document_id} answers {gone.status_code}, expected 404"
    )
