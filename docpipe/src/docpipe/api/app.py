"""The docpipe API as a Starlette app: routes, the middleware stack, and the lifespan that
opens (and closes) the database pool and the HTTP client for readiness probes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from .. import __version__
from ..faults import Faults
from ..settings import ComponentSettings
from ..storage import FileStorage
from . import admin, documents, health
from .auth import ROLES
from .context import AppContext
from .db import Database
from .errors import exception_handlers
from .metrics import ApiMetrics, metrics_endpoint
from .middleware import ApiMiddleware
from .routes import Operation, RouteInventory, api_route
from .upload import upload_document

__all__ = ["create_app"]


# The one declaration of every operation (routes.py): authenticate() enforces its role,
# handlers take their audit action from it, and GET /openapi.json publishes it.
def _routes(faults: Faults) -> list[BaseRoute]:
    doc = {"personal_data": True, "tenant_scoped": True}
    routes: list[BaseRoute] = [
        api_route("/health", GET=Operation(health.health, "liveness")),
        api_route("/ready", GET=Operation(health.ready, "readiness of every dependency")),
        api_route("/version", GET=Operation(health.version, "release and schema version")),
        api_route("/metrics", GET=Operation(metrics_endpoint, "Prometheus metrics")),
        api_route("/openapi.json", GET=Operation(_inventory, "this route inventory")),
        api_route(
            "/documents",
            GET=Operation(documents.list_documents, "the tenant's documents", "viewer",
                          audit_action="document.list", **doc),
            POST=Operation(upload_document, "upload a document", "operator",
                           personal_data=True, audit_action="document.upload"),
        ),
        api_route(
            "/documents/{document_id}",
            GET=Operation(documents.get_document, "a document", "viewer",
                          audit_action="document.read", **doc),
            DELETE=Operation(documents.delete_document, "erase a document", "operator",
                             audit_action="document.erase", **doc),
        ),
        api_route(
            "/documents/{document_id}/retention",
            PUT=Operation(documents.set_retention, "override a document's retention", "admin",
                          audit_action="document.retention", **doc),
        ),
        api_route(
            "/documents/{document_id}/result",
            GET=Operation(documents.get_result, "a document's result", "viewer",
                          audit_action="document.result.read", **doc),
        ),
        api_route(
            "/documents/{document_id}/content",
            GET=Operation(documents.get_content, "a document's original content", "viewer",
                          audit_action="document.content.read", **doc),
        ),
        api_route(
            "/subjects/{subject_id}/export",
            GET=Operation(admin.export_subject, "a data subject's export (GDPR Art. 20)",
                          "admin", audit_action="subject.export", **doc),
        ),
        api_route(
            "/audit",
            GET=Operation(admin.read_audit, "the tenant's audit log", "admin",
                          audit_action="audit.read", **doc),
        ),
        api_route(
            "/admin/retention/purge",
            POST=Operation(admin.purge_retention, "erase what is past retention", "admin",
                           audit_action="retention.purge", **doc),
        ),
    ]  # fmt: skip
    if "unlisted_route" in faults:
        # A debug route left in the release: public, and in no baseline.
        routes.append(api_route("/debug/routes", GET=Operation(_debug_routes, "debug")))
    return routes


async def _inventory(request: Request) -> Response:
    generator = RouteInventory(__version__, sorted(ROLES, key=ROLES.__getitem__))
    return JSONResponse(generator.get_schema(request.app.routes))


async def _debug_routes(request: Request) -> Response:
    return JSONResponse({"routes": [getattr(r, "path", "?") for r in request.app.routes]})


def create_app(settings: ComponentSettings) -> Starlette:
    ctx = AppContext(settings, FileStorage(settings.storage_dir), ApiMetrics(settings.storage_dir))
    routes = _routes(settings.faults)

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
