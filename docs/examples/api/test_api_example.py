"""Checks written against the public API. docs/api.md includes this file; tests run it."""

from __future__ import annotations

import socket

import httpx
import pytest

from pytest_prodval import (
    Baseline,
    ExchangeTimeout,
    LoadRunner,
    Status,
    TargetEnv,
    bounded_transport,
    connection_error,
)


def test_the_environment_and_its_slo(target: TargetEnv, baseline: Baseline) -> None:
    baseline.exact("environment", target.name)
    p95_ms = 12.5  # In a real suite: measured, e.g. from api.get("/health") timings
    verdict = baseline.limit(
        "health p95",
        p95_ms,
        below=target.slo.api_p95_ms,
        unit="ms",
        source="slo.api_p95_ms in prodval.yaml",
    )
    assert verdict.status is Status.PASSED


def test_a_refused_port_is_one_clear_line() -> None:
    try:
        socket.create_connection(("127.0.0.1", 9), timeout=2).close()
    except OSError as exc:
        line = connection_error(exc, "discard service (127.0.0.1:9)", 2)
    else:
        pytest.skip("something listens on port 9 here")
    assert line == "cannot connect to discard service (127.0.0.1:9): connection refused"


def test_a_client_of_ones_own_is_bounded_too() -> None:
    transport = bounded_transport(max_body_bytes=64 * 1024, default_total_s=5)
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        with httpx.Client(transport=transport, timeout=0.5) as client:
            with pytest.raises(ExchangeTimeout, match=r"no complete answer within 0\.5 s"):
                client.get(url)


def test_the_load_profile_is_the_capped_one(prodval_load: LoadRunner, target: TargetEnv) -> None:
    profile = prodval_load.profile  # what every prodval_load(...) run of the session uses
    assert profile.users <= target.load.users
    assert profile.capped == () or target.protected
