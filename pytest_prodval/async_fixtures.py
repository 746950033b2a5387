"""The async public fixtures, ``async_api`` and ``db``: they need the ``db`` extra.

plugin.py loads this module only when pytest-asyncio can be imported, so that installing the
plugin alone never imports pytest-asyncio.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from .extras import available, missing_extra

if TYPE_CHECKING:
    import asyncpg
    import httpx

    from .config import TargetEnv

__all__ = ["LOOP_MISMATCH", "NO_DATABASE", "async_api", "db"]

NO_DATABASE = "environment {env!r} has no database configured (prodval.yaml: {path})"
LOOP_MISMATCH = (
    "the db fixture's pool lives on the session's event loop and this check runs on a "
    '{scope}-scoped one: mark it @pytest.mark.asyncio(loop_scope="session") (or set '
    "asyncio_default_test_loop_scope = session in the ini file)"
)


def _loop_scope(item: pytest.Item) -> str:
    """The event loop scope pytest-asyncio runs ``item`` in: its ``asyncio`` marker's
    ``loop_scope``, else the ini's ``asyncio_default_test_loop_scope`` (its own rule)."""
    marker = item.get_closest_marker("asyncio")
    scope = (
        None if marker is None else marker.kwargs.get("loop_scope") or marker.kwargs.get("scope")
    )
    return str(scope or item.config.getini("asyncio_default_test_loop_scope") or "function")


def _uses_our_db(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    defs: Sequence[Any] = getattr(info, "name2fixturedefs", {}).get("db") or []
    return bool(defs) and getattr(defs[-1].func, "__module__", "") == __name__


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A coroutine check on another loop than the pool's: say so, before asyncpg fails with
    "another operation is in progress" (a connection used from a second event loop)."""
    if not inspect.iscoroutinefunction(getattr(item, "obj", None)) or not _uses_our_db(item):
        return
    scope = _loop_scope(item)
    if scope != "session":
        pytest.fail(LOOP_MISMATCH.format(scope=scope), pytrace=False)


@pytest_asyncio.fixture
async def async_api(target: TargetEnv) -> AsyncIterator[httpx.AsyncClient]:
    """Async httpx client for the target's API, authenticated as the default role."""
    from .target import async_client

    async with async_client(target) as client:
        yield client


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def db(target: TargetEnv) -> AsyncIterator[asyncpg.Pool]:
    """asyncpg pool to the target's database; read-only transactions on protected targets."""
    if not available("asyncpg"):  # pytest-asyncio came from elsewhere, the db extra did not
        pytest.fail(missing_extra("db"), pytrace=False)
    if target.database is None:
        pytest.skip(
            NO_DATABASE.format(env=target.name, path=f"environments.{target.name}.database")
        )
    from .target import close_pool, create_pool

    pool = await create_pool(target)
    try:
        yield pool
    finally:
        await close_pool(pool, target)
