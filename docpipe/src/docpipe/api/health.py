"""Liveness, readiness and version: what a load balancer, a supervisor and a deploy check ask.

``/health`` touches nothing (a live process answers it). ``/ready`` checks every dependency
concurrently, each with its own timeout, and reports each one so that a failing deploy says
which component is at fault. ``/version`` lets a deploy check that code and schema agree.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .context import AppContext, app_context

__all__ = ["health", "ready", "version"]

PROBE_TIMEOUT_S = 2.0
# A worker that has not written its heartbeat for this many intervals counts as stale.
STALE_HEARTBEATS = 5


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _timed(check: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result = await asyncio.wait_for(check, PROBE_TIMEOUT_S)
    except asyncio.TimeoutError:
        result = {"ok": False, "error": f"timed out after {PROBE_TIMEOUT_S:g} s"}
    except Exception as exc:
        # The message, not the traceback: this body is unauthenticated.
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:200]}
    return {"ok": result.pop("ok"), "latency_ms": (time.perf_counter() - started) * 1000, **result}


async def _database(ctx: AppContext) -> dict[str, Any]:
    async with ctx.db.connection() as conn:
        value = await conn.fetchval("select 1")
    return {"ok": value == 1}


async def _storage(ctx: AppContext) -> dict[str, Any]:
    await asyncio.to_thread(ctx.storage.check)
    return {"ok": True}


async def _workers(ctx: AppContext) -> dict[str, Any]:
    async with ctx.db.connection() as conn:
        row = await conn.fetchrow(
            """
            select count(*) filter (where last_seen >= now() - make_interval(secs => $1))
                       as alive,
                   count(*) filter (where last_seen < now() - make_interval(secs => $1))
                       as stale
            from worker_heartbeats
            where status <> 'stopped'
            """,
            STALE_HEARTBEATS * ctx.settings.heartbeat_s,
        )
    alive, stale = int(row["alive"]), int(row["stale"])
    result: dict[str, Any] = {"ok": alive >= 1, "alive": alive, "stale": stale}
    if not alive:
        result["error"] = (
            f"no worker heartbeat in the last {STALE_HEARTBEATS * ctx.settings.heartbeat_s:g} s"
        )
    return result


async def _service(ctx: AppContext, base_url: str) -> dict[str, Any]:
    if not base_url:
        return {"ok": False, "error": "not configured"}
    try:
        response = await ctx.http.get(f"{base_url.rstrip('/')}/health")
    except httpx.HTTPError as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:200]}
    if response.status_code != 200:
        return {"ok": False, "error": f"HTTP {response.status_code}"}
    return {"ok": True}


async def ready(request: Request) -> Response:
    ctx = app_context(request)
    names = ("database", "storage", "workers", "parser", "embedder")
    results = await asyncio.gather(
        _timed(_database(ctx)),
        _timed(_storage(ctx)),
        _timed(_workers(ctx)),
        _timed(_service(ctx, ctx.settings.parser_url)),
        _timed(_service(ctx, ctx.settings.embedder_url)),
    )
    components = dict(zip(names, results, strict=True))
    ok = all(component["ok"] for component in components.values())
    return JSONResponse(
        {"status": "ready" if ok else "not_ready", "components": components},
        status_code=200 if ok else 503,
    )


async def version(request: Request) -> Response:
    ctx = app_context(request)
    async with ctx.db.connection() as conn:
        schema_version = await conn.fetchval(
            "select coalesce(max(version), 0) from schema_migrations"
        )
    return JSONResponse(
        {
            "release": ctx.settings.release,
            "schema_version": int(schema_version),
            "expected_schema_version": ctx.settings.expected_schema,
            "service": "docpipe-api",
        }
    )
