"""The database sessions checks get: read-only on protected environments, always bounded."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import TargetEnv

__all__ = ["session_settings"]


def session_settings(env: TargetEnv) -> dict[str, str]:
    """PostgreSQL settings for every connection of the ``db`` pool.

    ``default_transaction_read_only`` is enforced by the server for every transaction of the
    connection, so a check that tries to write on a protected environment fails there,
    whatever SQL it sends; ``statement_timeout`` bounds every query.
    """
    assert env.database is not None
    settings = {"statement_timeout": str(env.database.statement_timeout_ms)}
    if env.protected:
        settings["default_transaction_read_only"] = "on"
    return settings
