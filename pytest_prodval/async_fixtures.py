"""The async public fixtures, ``async_api`` and ``db``: they need the ``db`` extra.

plugin.py loads this module only when pytest-asyncio can be imported, so that installing the
plugin alone never imports pytest-asyncio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from .extras import available, missing_extra

if TYPE_CHECKING:
    import asyncpg
    import httpx

    from .config import TargetEnv

__all__ = ["NO_DATABASE", "async_api", "db"]

NO_DATABASE = "environment {env!r} has no database configured (prodval.yaml: {path})"


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
