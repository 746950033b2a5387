"""The baseline-diff assertions and a limit. docs/assertions.md includes this file; tests run it."""

import json
import time

import pytest


def status_payload() -> dict[str, object]:
    # In a real suite: api.get("/ready").json()
    return {"status": "ok", "components": {"database": {"ok": True, "latency_ms": 1.2}}}


@pytest.mark.application
def test_ready_contract(baseline):
    body = status_payload()
    baseline.exact("status", body["status"])
    baseline.shape("body", body, optional=["$.components.storage"])


@pytest.mark.infrastructure
def test_connection_count(baseline):
    # In a real suite: await db.fetchval("select count(*) from pg_stat_activity")
    open_connections = 12
    baseline.number(
        "open connections", open_connections, rel=0.5, abs=5, direction="higher_is_worse"
    )


@pytest.mark.performance
def test_serialisation_latency(baseline):
    samples = []
    for _ in range(200):
        start = time.perf_counter()
        json.dumps(status_payload())
        samples.append((time.perf_counter() - start) * 1000)
    baseline.distribution("json.dumps", samples, unit="ms", tolerance=5.0)


@pytest.mark.performance
def test_ready_latency_is_within_the_slo(baseline):
    p95_ms = 12.5  # In a real suite: the p95 of timed api.get("/ready") calls
    baseline.limit("p95", p95_ms, below=200, unit="ms", source="slo.api_p95_ms in prodval.yaml")
