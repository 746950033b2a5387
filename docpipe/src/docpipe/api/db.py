"""The API's access to PostgreSQL: one pool, and the single place every query passes through.

Funnelling queries through ``Conn`` is what lets the ``slow_db`` fault delay every query the
API makes (as a saturated or distant database would) without touching the handlers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import asyncpg

__all__ = ["ACQUIRE_TIMEOUT_S", "Conn", "Database"]

ACQUIRE_TIMEOUT_S = 5.0


class Conn:
    """An ``asyncpg`` connection whose queries wait ``delay`` seconds first (``slow_db``)."""

    def __init__(self, raw: asyncpg.Connection, delay: float) -> None:
        self._raw = raw
        self._delay = delay

    async def _pause(self) -> None:
        if self._delay > 0:
            await asyncio.sleep(self._delay)

    async def execute(self, query: str, *args: object) -> str:
        await self._pause()
        return str(await self._raw.execute(query, *args))

    async def fetch(self, query: str, *args: object) -> list[Any]:
        await self._pause()
        return list(await self._raw.fetch(query, *args))

    async def fetchrow(self, query: str, *args: object) -> Any:
        await self._pause()
        return await self._raw.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: object) -> Any:
        await self._pause()
        return await self._raw.fetchval(query, *args)

    def transaction(self) -> AbstractAsyncContextManager[Any]:
        transaction: AbstractAsyncContextManager[Any] = self._raw.transaction()
        return transaction


class Database:
    def __init__(self, pool: asyncpg.Pool, delay: float = 0.0) -> None:
        self.pool = pool
        self.delay = delay

    @classmethod
    async def open(cls, dsn: str, delay: float = 0.0) -> Database:
        # min_size=0: the API starts (and /ready reports the database) even when PostgreSQL
        # is down; connections are made on first use.
        pool = await asyncpg.create_pool(
            dsn,
            min_size=0,
            max_size=10,
            command_timeout=30,
            server_settings={"application_name": "docpipe-api"},
        )
        return cls(pool, delay)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        async with self.pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as raw:
            yield Conn(raw, self.delay)

    async def close(self) -> None:
        await self.pool.close()
