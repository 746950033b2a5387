"""The one middleware every request passes: request id, headers, metrics, clean 500s, and the
request-level faults (``slow_api``, ``error_rate``, ``leaky_errors``, ``weak_headers``).

It is plain ASGI (no BaseHTTPMiddleware) so that response bodies stream through untouched and
the timing it records is the time the client actually waits.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
import uuid
from typing import Any

import asyncpg
from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..faults import Faults
from .errors import REQUEST_ID_KEY
from .metrics import ApiMetrics
from .security import LEAKY_SERVER_BANNER, security_headers

__all__ = ["CLIENT_OVERHEAD_S", "ApiMiddleware", "route_template", "slow_api_delay"]

log = logging.getLogger("docpipe.api")

# slow_api=V makes what a client observes about V slower: the handler's time plus what the
# server and the client spend outside it (TLS, HTTP parsing, loopback), about this much per
# request on a 2-core machine (measured by benchmarks/slow_api.py: client medians of 1.2 ms
# for /health, 3.2 ms for GET /documents/{id}).
CLIENT_OVERHEAD_S = 0.001
# asyncio.sleep overshoots by up to about a millisecond (epoll's timeout is in whole ms): the
# last stretch of a delay is waited out exactly, on the clock.
_SLEEP_SLACK_S = 0.0015
# Probes and scrapes stay reliable under error_rate: the fault models failing business
# requests, and an API whose health checks fail would just be restarted by its supervisor.
_EXEMPT_FROM_ERRORS = frozenset({"/health", "/ready", "/metrics"})
UNMATCHED = "<unmatched>"
_UNAVAILABLE = (
    ConnectionError,  # refused or reset while connecting
    asyncio.TimeoutError,  # pool acquire or command timeout
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.TooManyConnectionsError,
)


async def slow_api_delay(started: float, value: float) -> None:
    """Hold the answer so that the client waits ``value`` longer than it would have."""
    now = time.perf_counter()
    until = now + value * (now - started + CLIENT_OVERHEAD_S)
    if until - now > _SLEEP_SLACK_S:
        await asyncio.sleep(until - now - _SLEEP_SLACK_S)
    while time.perf_counter() < until:  # at most _SLEEP_SLACK_S of the loop's time
        await asyncio.sleep(0)


def route_template(routes: list[BaseRoute], scope: Scope) -> str:
    """The path template (``/documents/{document_id}``) a request matches: a bounded label."""
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return str(getattr(route, "path", UNMATCHED))
        if match is Match.PARTIAL and partial is None:
            partial = str(getattr(route, "path", UNMATCHED))
    return partial or UNMATCHED


class InjectedFault(RuntimeError):
    """Raised by ``error_rate``: travels the same path as any unexpected exception."""


class ApiMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: list[BaseRoute],
        metrics: ApiMetrics,
        faults: Faults,
        tls: bool,
    ) -> None:
        self.app = app
        self.routes = routes
        self.metrics = metrics
        self.faults = faults
        self.leaky = "leaky_errors" in faults
        self.headers = security_headers(tls=tls, weak="weak_headers" in faults)
        if self.leaky:
            self.headers.append(("server", LEAKY_SERVER_BANNER))
        self._counted = 0  # requests seen by error_rate

    def _inject_error(self, path: str) -> bool:
        """Deterministic error_rate: of every n requests, floor(n * share) fail, evenly spread."""
        if "error_rate" not in self.faults or path in _EXEMPT_FROM_ERRORS:
            return False
        share = self.faults.value("error_rate")
        self._counted += 1
        n = self._counted
        return int(n * share + 1e-9) > int((n - 1) * share + 1e-9)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = uuid.uuid4().hex
        scope[REQUEST_ID_KEY] = request_id
        method, path = scope["method"], scope["path"]
        route = route_template(self.routes, scope)
        status = 500
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                if "slow_api" in self.faults:
                    await slow_api_delay(started, self.faults.value("slow_api"))
                headers = MutableHeaders(scope=message)
                for name, value in self.headers:
                    headers[name] = value
                headers["x-request-id"] = request_id
            await send(message)

        try:
            if self._inject_error(path):
                raise InjectedFault("injected fault: error_rate")
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            # Logged in full here, server-side; the client gets an id to quote, nothing more.
            log.exception("unhandled error in %s %s (request %s)", method, path, request_id)
            if response_started:
                raise
            await self._internal_error(exc, request_id)(scope, receive, send_wrapper)
        finally:
            self.metrics.observe(method, route, status, time.perf_counter() - started)

    def _internal_error(self, exc: Exception, request_id: str) -> JSONResponse:
        # A database that cannot be reached is an outage to retry, not a bug: 503.
        unavailable = isinstance(exc, _UNAVAILABLE)
        error = "service_unavailable" if unavailable else "internal_error"
        body: dict[str, Any] = {"error": error, "request_id": request_id}
        if self.leaky:
            body["traceback"] = traceback.format_exception(exc)
            body["server"] = LEAKY_SERVER_BANNER
        if unavailable:
            return JSONResponse(body, status_code=503, headers={"retry-after": "5"})
        return JSONResponse(body, status_code=500)
