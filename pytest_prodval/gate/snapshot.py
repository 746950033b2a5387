"""``python -m pytest_prodval.gate.snapshot take|check``: the data snapshot and its check.

Run by the gate as a supervised phase (``phases.py``: own process group, deadline), so asyncpg
is imported here and nowhere in the plugin's start-up. Both read every table declared under
the environment's ``integrity:`` in one ``REPEATABLE READ READ ONLY`` transaction (one
consistent view of all tables) through ``database.dsn``, the read-only role, with
``default_transaction_read_only=on`` and a statement timeout of the phase's limit.

- ``take --rows FILE --summary FILE``: each row's key and an MD5 of its declared columns into
  ``--rows`` (the gate's private work dir: it is the run's, not the record's), the counts and
  checksums into ``--summary`` (the run directory, for the record).
- ``check --rows FILE --summary FILE``: the same read, compared with the snapshot
  (``integrity.compare``); the report into ``--summary``.

Exit 0 when the summary was written (whatever the comparison found), 1 with one line on
stderr (and in the summary's ``error``) when the tables could not be read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .integrity import IN_FLIGHT_S, checksum, compare

if TYPE_CHECKING:
    import asyncpg

    from ..config import TargetEnv
    from ..safety.redaction import Redactor

__all__ = ["SnapshotError", "main", "read_tables"]

Rows = dict[str, str]
Created = dict[str, float | None]


class SnapshotError(Exception):
    """The tables could not be read; str() is one line."""


def _iso(epoch: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat(timespec="milliseconds")


async def read_tables(
    env: TargetEnv, timeout_s: float, erased_since: float | None = None
) -> tuple[float, dict[str, Rows], dict[str, Created | None], dict[str, set[str]]]:
    """(the transaction's time on the database's clock, table -> key -> digest, table -> key ->
    created_at or None when the table declares none, table -> keys its ``erased`` query names
    since ``erased_since``: only for the tables that declare one, when ``erased_since`` is
    given)."""
    import asyncpg

    assert env.database is not None and env.integrity is not None
    redactor = env.redactor()
    settings = {
        "default_transaction_read_only": "on",
        "statement_timeout": str(max(1, int(timeout_s * 1000))),
        "application_name": "prodval-gate data snapshot",
    }
    try:
        conn = await asyncpg.connect(
            env.database.dsn,
            timeout=env.database.timeout,
            command_timeout=timeout_s,
            server_settings=settings,
        )
    except (OSError, asyncio.TimeoutError, asyncpg.PostgresError) as exc:
        line = _line(exc, env, redactor, "cannot connect to the database", connecting=True)
        raise SnapshotError(line) from None
    rows: dict[str, Rows] = {}
    created: dict[str, Created | None] = {}
    erased: dict[str, set[str]] = {}
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            taken_at = float(await conn.fetchval("select extract(epoch from now())::float8"))
            for name, table in env.integrity.tables.items():
                try:
                    count = int(await conn.fetchval(f"select count(*) from {name}"))
                    if count > env.integrity.max_rows:
                        raise SnapshotError(
                            f"{name}: {count} rows, more than integrity.max_rows "
                            f"({env.integrity.max_rows})"
                        )
                    columns = ", ".join(table.columns)
                    when = (
                        f", extract(epoch from {table.created_at})::float8"
                        if table.created_at
                        else ", null::float8"
                    )
                    fetched = await conn.fetch(
                        f"select {table.key}::text, md5(row({columns})::text){when} from {name}"
                    )
                except asyncpg.PostgresError as exc:
                    hint = ""
                    if isinstance(exc, asyncpg.InsufficientPrivilegeError):
                        hint = " (the read-only role needs SELECT on it: docs/configuration.md)"
                    raise SnapshotError(
                        _line(exc, env, redactor, f"cannot read {name}") + hint
                    ) from None
                rows[name] = {str(row[0]): str(row[1]) for row in fetched}
                created[name] = (
                    {str(row[0]): (None if row[2] is None else float(row[2])) for row in fetched}
                    if table.created_at
                    else None
                )
                if table.erased and erased_since is not None:
                    # An erasure in flight as the snapshot was taken still had its row in it,
                    # though its audit entry is a little older than the snapshot.
                    since = erased_since - IN_FLIGHT_S
                    erased[name] = await _erased(conn, env, name, table.erased, since, redactor)
    except asyncio.TimeoutError:  # asyncpg's command_timeout, before the statement_timeout
        raise SnapshotError(
            f"reading the tables failed: no answer within {timeout_s:g} s"
        ) from None
    except (OSError, asyncpg.InterfaceError) as exc:
        # InterfaceError: the connection dropped half-way (asyncpg's ConnectionDoesNotExist).
        raise SnapshotError(_line(exc, env, redactor, "reading the tables failed")) from None
    finally:
        conn.terminate()
    return taken_at, rows, created, erased


def _line(
    exc: BaseException, env: TargetEnv, redactor: Redactor, what: str, *, connecting: bool = False
) -> str:
    """``exc`` as one redacted line: the plugin's words for a database that did not answer
    (``unreachable.database_error``), else ``what`` and the error itself."""
    from ..unreachable import database_error

    line = database_error(exc, env, connecting=connecting)
    return redactor.redact_url(line or f"{what}: {type(exc).__name__}: {exc}")


async def _erased(
    conn: asyncpg.Connection,
    env: TargetEnv,
    name: str,
    query: str,
    since: float,
    redactor: Redactor,
) -> set[str]:
    """The keys ``query`` names as erased on purpose since ``since`` (epoch seconds)."""
    import datetime as dt

    import asyncpg

    when = dt.datetime.fromtimestamp(since, dt.timezone.utc)
    try:
        return {str(row[0]) for row in await conn.fetch(query, when)}
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        what = f"cannot run integrity.tables.{name}.erased"
        raise SnapshotError(_line(exc, env, redactor, what)) from None


def _write(path: Path, data: Any) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)


def _environment(config: str, env: str) -> TargetEnv:
    from ..config import load_config
    from ..errors import ConfigError

    try:
        target = load_config(Path(config)).environment(env)
    except ConfigError as exc:
        raise SnapshotError(str(exc)) from None
    if target.integrity is None:
        raise SnapshotError(
            f"environment {env!r} declares no integrity tables (prodval.yaml: "
            f"environments.{env}.integrity)"
        )
    return target


def take(config: str, env: str, rows_path: Path, summary: Path, timeout_s: float) -> None:
    started = time.monotonic()
    target = _environment(config, env)
    taken_at, rows, _, _ = asyncio.run(read_tables(target, timeout_s))
    _write(rows_path, {"taken_at": taken_at, "tables": rows})
    _write(
        summary,
        {
            "taken_at": _iso(taken_at),
            "seconds": round(time.monotonic() - started, 3),
            "tables": {
                name: {"rows": len(table), "checksum": checksum(table)}
                for name, table in rows.items()
            },
            "error": None,
        },
    )


def check(config: str, env: str, rows_path: Path, summary: Path, timeout_s: float) -> None:
    started = time.monotonic()
    try:
        snapshot = json.loads(rows_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SnapshotError(f"the snapshot is unreadable: {exc}") from None
    target = _environment(config, env)
    taken_at = float(snapshot["taken_at"])
    checked_at, now, created, erased = asyncio.run(read_tables(target, timeout_s, taken_at))
    report = compare(snapshot["tables"], now, created, taken_at, erased)
    _write(
        summary,
        {
            "snapshot_taken_at": _iso(float(snapshot["taken_at"])),
            "checked_at": _iso(checked_at),
            "seconds": round(time.monotonic() - started, 3),
            **report.to_json(),
            "error": None,
        },
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_prodval.gate.snapshot")
    parser.add_argument("action", choices=("take", "check"))
    parser.add_argument("--config", required=True)
    parser.add_argument("--env", required=True)
    parser.add_argument("--rows", type=Path, required=True)
    parser.add_argument("--summary", type=Path, required=True)
    parser.add_argument("--timeout", type=float, required=True)
    args = parser.parse_args(argv)
    run = take if args.action == "take" else check
    try:
        run(args.config, args.env, args.rows, args.summary, args.timeout)
    except SnapshotError as exc:
        _write(args.summary, {"error": str(exc)})
        print(
            f"prodval-gate: data {'snapshot' if args.action == 'take' else 'check'}: {exc}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
