"""What every handler needs: settings, storage, metrics, and the resources the lifespan opens.

Held on ``app.state.docpipe`` rather than in lifespan state so that an app driven in-process
(tests entering ``router.lifespan_context``) sees the same thing as one served by uvicorn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
from starlette.requests import Request

from ..settings import ComponentSettings
from ..storage import FileStorage
from .db import Database

if TYPE_CHECKING:
    from .metrics import ApiMetrics

__all__ = ["AppContext", "app_context"]


class AppContext:
    def __init__(
        self, settings: ComponentSettings, storage: FileStorage, metrics: ApiMetrics
    ) -> None:
        self.settings = settings
        self.faults = settings.faults
        self.storage = storage
        self.metrics = metrics
        self._db: Database | None = None
        self._http: httpx.AsyncClient | None = None

    def open(self, db: Database, http: httpx.AsyncClient) -> None:
        self._db, self._http = db, http

    def close(self) -> None:
        self._db = self._http = None

    @property
    def db(self) -> Database:
        if self._db is None:
            raise RuntimeError("the API's lifespan has not started: no database pool")
        return self._db

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            raise RuntimeError("the API's lifespan has not started: no HTTP client")
        return self._http


def app_context(request: Request) -> AppContext:
    ctx = request.app.state.docpipe
    assert isinstance(ctx, AppContext)
    return ctx
