"""The docpipe API as a Starlette app: routes, the middleware stack, and the lifespan that
opens (and closes) the database pool and the HTTP client for readiness probes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route

from ..settings import ComponentSettings
from ..storage import FileStorage
from . import admin, documents, health
from .context import AppContext
from .db import Database
from .errors import exception_handlers
from .metrics import ApiMetrics, metrics_endpoint
from .middleware import ApiMiddleware

__all__ = ["create_app"]


def _routes() -> list[BaseRoute]:
    return [
        Route("/health", health.health, methods=["GET"]),
        Route("/ready", health.ready, methods=["GET"]),
        Route("/version", health.version, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/documents", documents.collection, methods=["GET", "POST"]),
        Route("/documents/{document_id}", documents.document, methods=["GET", "DELETE"]),
        Route("/documents/{document_id}/result", documents.get_result, methods=["GET"]),
        Route("/documents/{document_id}/content", documents.get_content, methods=["GET"]),
        Route("/subjects/{subject_id}/export", admin.export_subject, methods=["GET"]),
        Route("/audit", admin.read_audit, methods=["GET"]),
        Route("/admin/retention/purge", admin.purge_retention, methods=["POST"]),
    ]


def create_app(settings: ComponentSettings) -> Starlette:
    ctx = AppContext(settings, FileStorage(settings.storage_dir), ApiMetrics(settings.storage_dir))
    routes = _routes()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        delay = settings.faults.value("slow_db") if "slow_db" in settings.faults else 0.0
        db = await Database.open(settings.app_dsn, delay)
        try:
            timeout = httpx.Timeout(health.PROBE_TIMEOUT_S)
            async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as http:
                ctx.open(db, http)
                try:
                    yield
                finally:
                    ctx.close()
        finally:
            await db.close()

    middleware = [
        Middleware(
            ApiMiddleware, routes=routes, metrics=ctx.metrics, faults=settings.faults,
            tls=settings.tls,
        )
    ]  # fmt: skip
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
    )
    app.state.docpipe = ctx
    return app
