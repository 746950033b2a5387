"""PostgreSQL as the platform needs it: reachable and quick, the expected version and schema,
encrypted sessions where it matters, room for more connections, no stuck transactions.

Every query here only reads (the ``db`` pool is read-only on protected environments) and has
the database's configured timeout.

Params (optional): ``max_transaction_age_s`` (default 300), ``max_connection_use_percent``
(default 80).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from pytest_prodval import Baseline, TargetEnv

from .._support import query_timeout

if TYPE_CHECKING:
    import asyncpg

pytestmark = [pytest.mark.infrastructure]

ROUND_TRIPS = 20
# Defaults of the params that tune these checks (params.<name> in prodval.yaml).
MAX_TRANSACTION_AGE_S = 300.0
MAX_CONNECTION_USE_PERCENT = 80.0


def p95(samples: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


@pytest.mark.asyncio(loop_scope="session")
async def test_database_round_trip_p95_is_within_the_db_slo(
    db: asyncpg.Pool, target: TargetEnv, baseline: Baseline
) -> None:
    """20 ``select 1`` round trips from the validation host: p95 within slo.db_p95_ms.

    Guards against: an unreachable database, a saturated server or a slow network path to it.
    """
    timeout = query_timeout(target)
    latencies: list[float] = []
    async with db.acquire(timeout=timeout) as conn:
        for _ in range(ROUND_TRIPS):
            started = time.perf_counter()
            value = await conn.fetchval("select 1", timeout=timeout)
            latencies.append((time.perf_counter() - started) * 1000)
            assert value == 1, f"select 1 returned {value!r}"
    limit = float(target.slo.db_p95_ms)
    observed = p95(latencies)
    baseline.limit(
        "select 1 round trip p95",
        observed,
        below=limit,
        unit="ms",
        source="slo.db_p95_ms in prodval.yaml",
        note=f"{ROUND_TRIPS} queries, median {sorted(latencies)[ROUND_TRIPS // 2]:.1f} ms",
    )


@pytest.mark.asyncio(loop_scope="session")
async def test_database_server_major_version_matches_the_baseline(
    db: asyncpg.Pool, target: TargetEnv, baseline: Baseline
) -> None:
    """The PostgreSQL server's major version equals the baseline's.

    Guards against: a database upgraded or restored onto another major version unnoticed.
    """
    version_num = int(
        await db.fetchval(
            "select current_setting('server_version_num')", timeout=query_timeout(target)
        )
    )
    baseline.exact("server major version", version_num // 10000)


_SESSION_TLS = """
select a.pid, a.pid = pg_backend_pid() as ours, a.usename, a.application_name,
       host(a.client_addr) as client_addr, s.ssl, s.version
from pg_stat_activity a left join pg_stat_ssl s on s.pid = a.pid
where a.backend_type = 'client backend' and (a.client_addr is not null or a.pid = pg_backend_pid())
order by a.pid
"""


@pytest.mark.asyncio(loop_scope="session")
async def test_database_sessions_use_tls_on_protected_environments(
    db: asyncpg.Pool, target: TargetEnv
) -> None:
    """Our own database session and every other TCP client session (the app's) use TLS.

    Guards against: plaintext database traffic (credentials, documents, PHI) on shared or
    production networks, e.g. a client configured with sslmode=disable or prefer falling back.
    Evidences: HIPAA 45 CFR 164.312(e)(1) (transmission security)
    """
    if not target.protected:
        pytest.skip(
            f"environment {target.name!r} is not protected: database TLS is required on "
            "protected environments only (a local database on loopback may run without it)"
        )
    rows = await db.fetch(_SESSION_TLS, timeout=query_timeout(target))
    ours = [row for row in rows if row["ours"]]
    assert ours, "our own session is missing from pg_stat_activity"
    plaintext = [row for row in rows if not row["ssl"]]
    assert not plaintext, (
        f"{len(plaintext)} of {len(rows)} TCP client sessions do not use TLS "
        "(pg_stat_ssl.ssl false): "
        + ", ".join(
            f"pid {row['pid']}{' (ours)' if row['ours'] else ''} "
            f"{row['usename'] or '?'}/{row['application_name'] or '-'} from {row['client_addr']}"
            for row in plaintext[:10]
        )
    )


_CONNECTIONS = """
select (select count(*) from pg_stat_activity where backend_type = 'client backend') as used,
       current_setting('max_connections')::int as max_connections,
       current_setting('superuser_reserved_connections')::int as superuser_reserved,
       coalesce(current_setting('reserved_connections', true), '0')::int as reserved
"""


@pytest.mark.asyncio(loop_scope="session")
async def test_database_connection_use_is_under_the_headroom_limit(
    db: asyncpg.Pool, target: TargetEnv, params: dict[str, Any], baseline: Baseline
) -> None:
    """Client connections in use stay under 80% of those available to non-superusers.

    Guards against: connection leaks or pool growth that will soon refuse new connections
    (the API then answers 503, workers stop claiming jobs).
    """
    row = await db.fetchrow(_CONNECTIONS, timeout=query_timeout(target))
    available = row["max_connections"] - row["superuser_reserved"] - row["reserved"]
    limit = float(params.get("max_connection_use_percent", MAX_CONNECTION_USE_PERCENT))
    use = 100.0 * row["used"] / max(available, 1)
    baseline.limit(
        "client connection use",
        use,
        below=limit,
        unit="%",
        source=f"params.max_connection_use_percent, default {MAX_CONNECTION_USE_PERCENT:g}",
        note=f"{row['used']} client connections of {available} available "
        f"(max_connections {row['max_connections']} - reserved "
        f"{row['superuser_reserved'] + row['reserved']})",
    )


_OLD_TRANSACTIONS = """
select pid, usename, application_name, state, wait_event_type,
       extract(epoch from now() - xact_start)::float8 as age_s
from pg_stat_activity
where backend_type = 'client backend' and pid <> pg_backend_pid()
  and xact_start < now() - make_interval(secs => $1)
order by xact_start
"""


@pytest.mark.asyncio(loop_scope="session")
async def test_no_client_transaction_is_older_than_the_limit(
    db: asyncpg.Pool, target: TargetEnv, params: dict[str, Any]
) -> None:
    """No client session holds a transaction open longer than params.max_transaction_age_s.

    Guards against: stuck or idle-in-transaction sessions that hold locks, block migrations and
    vacuum, and pin old row versions (bloat).
    """
    limit = float(params.get("max_transaction_age_s", MAX_TRANSACTION_AGE_S))
    rows = await db.fetch(_OLD_TRANSACTIONS, limit, timeout=query_timeout(target))
    assert not rows, (
        f"{len(rows)} transactions are open longer than {limit:g} s "
        "(params.max_transaction_age_s): "
        + ", ".join(
            f"pid {row['pid']} {row['usename'] or '?'}/{row['application_name'] or '-'} "
            f"{row['state']} for {row['age_s']:.0f} s"
            + (f" waiting on {row['wait_event_type']}" if row["wait_event_type"] else "")
            for row in rows[:10]
        )
    )


@pytest.mark.asyncio(loop_scope="session")
async def test_schema_version_is_the_one_the_release_expects(
    db: asyncpg.Pool, api: httpx.Client, target: TargetEnv, baseline: Baseline
) -> None:
    """max(version) of schema_migrations equals /version's expected_schema_version and baseline.

    Guards against: a deploy whose migrations did not run or ran partly (`migration_behind`),
    or a database migrated further than the release (a rollback without its down-migration).
    """
    applied = int(
        await db.fetchval(
            "select coalesce(max(version), 0) from schema_migrations",
            timeout=query_timeout(target),
        )
    )
    response = api.get("/version")
    assert response.status_code == 200, (
        f"GET /version answered {response.status_code} (expected 200): {response.text[:200]}"
    )
    version = response.json()
    expected = version.get("expected_schema_version")
    assert applied == expected, (
        f"database schema version {applied} (max(version) of schema_migrations) differs "
        f"from the {expected} release {version.get('release')!r} expects (GET /version)"
    )
    baseline.exact("schema version", applied)
