"""Prometheus metrics for the API: request counts and latency by route, documents by state,
and the process and host resources an operator checks first when the API degrades.

Each app has its own ``CollectorRegistry`` so several apps (tests, a blue/green pair) in one
process never share counters.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import asyncpg
import psutil
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

from ..states import State
from .context import app_context
from .db import Database

__all__ = ["ApiMetrics", "metrics_endpoint"]

log = logging.getLogger("docpipe.api")

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiMetrics:
    def __init__(self, storage_dir: Path) -> None:
        self.storage_dir = storage_dir
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "docpipe_http_requests",
            "HTTP requests answered, by route template and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.duration = Histogram(
            "docpipe_http_request_duration_seconds",
            "Time from request to the end of the response, by route template",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.jobs = Gauge("docpipe_jobs", "Documents by processing state", ["state"], registry=r)
        self.process_cpu = Gauge(
            "docpipe_process_cpu_percent", "API process CPU use since the last scrape", registry=r
        )
        self.process_memory = Gauge(
            "docpipe_process_memory_bytes", "API process resident memory", registry=r
        )
        self.host_cpu = Gauge(
            "docpipe_host_cpu_percent", "Host CPU use since the last scrape", registry=r
        )
        self.host_memory = Gauge("docpipe_host_memory_percent", "Host memory in use", registry=r)
        self.host_disk = Gauge(
            "docpipe_host_disk_percent", "Use of the disk holding the storage directory", registry=r
        )
        # cpu_percent() measures since its previous call on the same object: keep one, and
        # prime it so the first scrape is meaningful rather than 0.
        self._process = psutil.Process()
        self._process.cpu_percent(interval=None)
        psutil.cpu_percent(interval=None)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(method, route).observe(seconds)

    async def collect(self, db: Database) -> bytes:
        try:
            async with db.connection() as conn:
                rows = await conn.fetch("select state, count(*) as n from documents group by state")
        except (OSError, asyncio.TimeoutError, asyncpg.PostgresError) as exc:
            # Process and host metrics matter most while the database is down: still serve
            # them, without document counts (absent, not stale).
            log.warning("metrics: documents by state unavailable: %s", exc)
            self.jobs.clear()
        else:
            counts = {state.value: 0 for state in State}
            counts.update({str(row["state"]): int(row["n"]) for row in rows})
            for state, n in counts.items():
                self.jobs.labels(state).set(n)
        self.process_cpu.set(self._process.cpu_percent(interval=None))
        self.process_memory.set(self._process.memory_info().rss)
        self.host_cpu.set(psutil.cpu_percent(interval=None))
        self.host_memory.set(psutil.virtual_memory().percent)
        self.host_disk.set(psutil.disk_usage(str(self.storage_dir)).percent)
        return generate_latest(self.registry)


async def metrics_endpoint(request: Request) -> Response:
    ctx = app_context(request)
    body = await ctx.metrics.collect(ctx.db)
    return Response(body, headers={"content-type": CONTENT_TYPE_LATEST})
