"""The HTTP latency recipe of docs/statistics.md, as a check module; tests run it."""

from __future__ import annotations

import httpx

from pytest_prodval import Baseline, time_requests


def test_get_health_is_not_slower_than_the_baseline(api: httpx.Client, baseline: Baseline) -> None:
    # 200 GETs one after another, a TCP connect to the same host:port between each two.
    timings = time_requests(api, "GET", "/health", n=200, deadline_s=30)
    baseline.distribution(
        "latency of GET /health",
        timings,  # the latencies, their time windows and the control, calibrated by ratio
        unit="ms",
        decision="interval",  # fail only when the whole 99% CI is above 1.10x
    )


def test_get_ready_is_not_slower_than_a_static_file(api: httpx.Client, baseline: Baseline) -> None:
    # The control: a static file on the same host, which no release of the API serves.
    timings = time_requests(api, "GET", "/ready", control="/static/ping.txt", deadline_s=30)
    baseline.distribution("latency of GET /ready", timings, unit="ms", decision="interval")
