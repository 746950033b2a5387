"""Production guards that hold: the database session of a protected environment stays read-only.

Against a real PostgreSQL server (``postgres_dsn``): the checks try every way to make their
session writable again, then write into a table the test made; the table must stay empty.
"""

from __future__ import annotations

import asyncio
import fnmatch

import asyncpg
import pytest

from pytest_prodval.errors import ReadOnlyViolation
from pytest_prodval.safety.database import check_statement

PROBE = "prodval_guard_probe"

# Each: how a check could leave the read-only default before it writes.
BYPASSES = {
    "set-default-off": "await c.execute('SET default_transaction_read_only = off')",
    "set-session-characteristics": (
        "await c.execute('SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE')"
    ),
    "begin-read-write": "await c.execute('BEGIN READ WRITE')",
    "begin-with-a-comment": "await c.execute('begin isolation level serializable, read/**/write')",
    "set-transaction-off": "await c.execute('BEGIN; SET transaction_read_only = off')",
    "set-config-with-args": (
        "await c.fetchval('select set_config($1, $2, false)', "
        "'default_transaction_read_only', 'off')"
    ),
    "set-config-in-copy": (
        "await c.copy_from_query(\"select set_config('default_transaction_read_only', 'off', "
        'false)", output=__import__("io").BytesIO())'
    ),
    "prepared": "await (await c.prepare('SET default_transaction_read_only TO off')).fetch()",
}

CHECKS = f"""
import pytest

BYPASSES = {BYPASSES!r}


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize("how", sorted(BYPASSES))
async def test_leave_read_only_then_write(db, how):
    async with db.acquire() as c:
        exec("async def bypass(c):\\n    " + BYPASSES[how], globals())
        await bypass(c)
        await c.execute("insert into {PROBE} values (1)")
"""


def config(dsn: str, protected: bool) -> str:
    return f"""
environments:
  local:
    protected: {str(protected).lower()}
    api:
      base_url: http://127.0.0.1:9
    database:
      dsn: {dsn}
"""


async def _sql(dsn: str, query: str) -> object:
    connection = await asyncpg.connect(dsn)
    try:
        if query.startswith("select"):
            return await connection.fetchval(query)
        return await connection.execute(query)
    finally:
        await connection.close()


def sql(dsn: str, query: str) -> object:
    return asyncio.run(_sql(dsn, query))


@pytest.fixture
def probe_table(postgres_dsn: str) -> str:
    sql(postgres_dsn, f"drop table if exists {PROBE}; create table {PROBE} (x int)")
    return postgres_dsn


def test_a_protected_database_session_cannot_be_made_writable(
    pytester: pytest.Pytester, probe_table: str
) -> None:
    # Before: default_transaction_read_only=on was only the session's default, and each of
    # these bypasses followed by an INSERT wrote a row on a protected environment.
    pytester.makefile(".yaml", prodval=config(probe_table, protected=True))
    pytester.makepyfile(test_db_writes=CHECKS)
    result = pytester.runpytest("--target-env=local", "-p", "no:cacheprovider", "-rf")
    result.assert_outcomes(failed=len(BYPASSES))
    refused = (
        "E   pytest_prodval.ReadOnlyViolation: refusing a database statement on protected "
        "environment 'local': it would leave the read-only session (it contains '*'); checks "
        "only read there"
    )
    lines = [line for line in result.outlines if fnmatch.fnmatch(line, refused)]
    assert len(lines) == len(BYPASSES), result.stdout.str()
    # The check's own frames only: none of prodval's or asyncpg's.
    assert "safety/database.py" not in result.stdout.str()
    assert "asyncpg/" not in result.stdout.str()
    assert sql(probe_table, f"select count(*) from {PROBE}") == 0


def test_an_unprotected_database_session_is_unchanged(
    pytester: pytest.Pytester, probe_table: str
) -> None:
    pytester.makefile(".yaml", prodval=config(probe_table, protected=False))
    pytester.makepyfile(test_db_writes=CHECKS.replace("BEGIN; SET", "SET"))
    result = pytester.runpytest("--target-env=local", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=len(BYPASSES))
    # Every write succeeded; the pool rolls back what the two BEGIN checks left open.
    opened = [how for how in BYPASSES if how.startswith("begin")]
    assert len(opened) == 2
    assert sql(probe_table, f"select count(*) from {PROBE}") == len(BYPASSES) - len(opened)


def test_the_default_still_refuses_a_plain_write_on_a_protected_environment(
    pytester: pytest.Pytester, probe_table: str
) -> None:
    pytester.makefile(".yaml", prodval=config(probe_table, protected=True))
    pytester.makepyfile(
        f"""
        import asyncpg
        import pytest

        @pytest.mark.asyncio(loop_scope="session")
        async def test_write(db):
            with pytest.raises(asyncpg.exceptions.ReadOnlySQLTransactionError):
                await db.execute("insert into {PROBE} values (1)")
            async with db.acquire() as c, c.transaction():
                with pytest.raises(asyncpg.exceptions.ReadOnlySQLTransactionError):
                    await c.execute("insert into {PROBE} values (2)")
            assert await db.fetchval("select 41 + 1") == 42
        """
    )
    pytester.runpytest("--target-env=local", "-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert sql(probe_table, f"select count(*) from {PROBE}") == 0


@pytest.mark.parametrize(
    "query",
    [
        "select 1",
        "select * from pg_settings where name = 'statement_timeout'",
        "begin read only",
        "select 'read the write-up' as note",
        "show default_transaction_isolation",
    ],
)
def test_reading_statements_pass_the_check(query: str) -> None:
    check_statement(query, "production")


def test_the_refusal_is_one_line_naming_the_environment_and_the_match() -> None:
    with pytest.raises(ReadOnlyViolation) as raised:
        check_statement("BEGIN\n  READ --why\n  WRITE; insert into t values (1)", "production")
    message = str(raised.value)
    assert "\n" not in message
    assert "protected environment 'production'" in message
    assert "(it contains 'READ --why WRITE')" in message
