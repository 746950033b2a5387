"""The database sessions checks get: read-only on protected environments, always bounded.

Read-only on a protected environment is three layers, strongest first:

1. **The role** (the operator's part, docs/configuration.md "database"): production's DSN names a
   role that holds only ``SELECT`` (and ``USAGE`` on its schemas). PostgreSQL then refuses every
   write whatever the session does; it is the only layer a determined check cannot undo.
2. **The server's default**: every connection starts with ``default_transaction_read_only=on``,
   so any transaction a check opens is read-only and a write fails with
   ``ReadOnlySQLTransactionError``.
3. **The plugin's refusal**: a session may change that default (``SET
   default_transaction_read_only = off``, ``SET SESSION CHARACTERISTICS AS TRANSACTION READ
   WRITE``, ``BEGIN READ WRITE``, ``set_config(...)``); every statement of the pool goes
   through :class:`ReadOnlyConnection` first, which refuses, without sending it, any statement
   naming those settings or ``READ WRITE``. It matches text, so it stops the mistakes and the
   obvious bypasses, not SQL written to evade it (built inside a ``DO`` block): layer 1 does.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..errors import ReadOnlyViolation

if TYPE_CHECKING:
    from ..config import TargetEnv

__all__ = ["LEAVES_READ_ONLY", "check_statement", "read_only_connection_class", "session_settings"]

_GAP = r"(?:\s|/\*.*?\*/|--[^\n]*(?:\n|$))+"  # whitespace and comments between two keywords
# What can make a session or a transaction writable again.
LEAVES_READ_ONLY = re.compile(
    rf"transaction_read_only|\bread{_GAP}write\b|\bset_config\s*\(|\bU&[\"']",
    re.IGNORECASE | re.DOTALL,
)
REFUSED = (
    "refusing a database statement on protected environment {env!r}: it would leave the "
    "read-only session (it contains {matched!r}); checks only read there"
)


def session_settings(env: TargetEnv) -> dict[str, str]:
    """PostgreSQL settings for every connection of the ``db`` pool.

    ``default_transaction_read_only`` is enforced by the server for every transaction of the
    connection (layer 2 above); ``statement_timeout`` bounds every query.
    """
    assert env.database is not None
    settings = {"statement_timeout": str(env.database.statement_timeout_ms)}
    if env.protected:
        settings["default_transaction_read_only"] = "on"
    return settings


def check_statement(query: str, env_name: str) -> None:
    """:class:`ReadOnlyViolation` when ``query`` could make the session writable."""
    __tracebackhide__ = True  # the failure shows the check's line, not prodval's
    found = LEAVES_READ_ONLY.search(query)
    if found is not None:
        matched = " ".join(found[0].split())
        raise ReadOnlyViolation(REFUSED.format(env=env_name, matched=matched))


# Connection methods whose first argument is SQL: refused there, before any asyncpg frame.
_PUBLIC = (
    "execute",
    "executemany",
    "fetch",
    "fetchval",
    "fetchrow",
    "fetchmany",
    "prepare",
    "copy_from_query",
)
# What every one of them, and the rest of asyncpg, sends SQL through: the catch-all.
_INTERNAL = ("_get_statement", "_copy_out", "_copy_in")


def _checked(method: Callable[..., Awaitable[Any]], env_name: str) -> Callable[..., Awaitable[Any]]:
    # A coroutine, like the method: it raises when awaited, in the check's own line, not in
    # the frame of the pool's proxy that called it.
    @functools.wraps(method)
    async def checked(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        check_statement(query, env_name)
        return await method(self, query, *args, **kwargs)

    return checked


@functools.cache
def read_only_connection_class(env_name: str) -> type[Any]:
    """An ``asyncpg.Connection`` subclass refusing what :func:`check_statement` refuses.

    ``connection_class=`` of ``asyncpg.create_pool``: the pool's proxies call these methods.
    Every way asyncpg sends SQL passes one of the internal ones: ``execute`` without arguments
    (the simple protocol, several statements at once), ``_get_statement`` (``execute`` with
    arguments, ``fetch*``, ``executemany``, ``prepare``, cursors) and ``_copy_out``/``_copy_in``
    (the ``copy_*`` methods, which build a ``COPY`` statement around a query). The public ones
    are checked too, so that the refusal is the check's own line, with no asyncpg frames.
    """
    import asyncpg

    methods = {
        name: _checked(getattr(asyncpg.Connection, name), env_name)
        for name in (*_PUBLIC, *_INTERNAL)
    }
    return type("ReadOnlyConnection", (asyncpg.Connection,), methods)
