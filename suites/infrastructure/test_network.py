"""The network path to the API: name resolution, TCP connect and TLS handshake, each timed.

Each phase is measured a few times and judged by its median, so one slow packet on a shared
network does not fail a deploy. The baseline records the numbers for the summary with an
absolute allowance equal to the limit, so a faster or slower network never fails by itself.

Params (optional): ``network_phase_limit_ms`` (default 1000).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import socket
import ssl
import statistics
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_prodval import Baseline, TargetEnv, connection_error

pytestmark = [pytest.mark.infrastructure]

ROUNDS = 3
# Default of params.network_phase_limit_ms: the longest each phase may take (median).
PHASE_LIMIT_MS = 1000.0
# Protocol versions as numbers, so that tls.min_version is a limit: TLSv1.1 is 1.1.
TLS_VERSION_NUMBERS = {"TLSv1": 1.0, "TLSv1.1": 1.1, "TLSv1.2": 1.2, "TLSv1.3": 1.3}


@dataclasses.dataclass
class Endpoint:
    host: str
    port: int
    https: bool


@dataclasses.dataclass
class Timings:
    dns_ms: list[float] = dataclasses.field(default_factory=list)
    connect_ms: list[float] = dataclasses.field(default_factory=list)
    tls_ms: list[float] = dataclasses.field(default_factory=list)
    address: str = ""
    tls_version: str | None = None
    cert: dict[str, Any] = dataclasses.field(default_factory=dict)
    error: str | None = None  # the first phase that failed, and why


def _endpoint(base_url: str) -> Endpoint:
    parts = urllib.parse.urlsplit(base_url)
    https = parts.scheme == "https"
    return Endpoint(str(parts.hostname), parts.port or (443 if https else 80), https)


def _resolve(endpoint: Endpoint, timeout: float) -> list[str]:
    # getaddrinfo has no timeout of its own: bound it with a worker thread.
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        future = pool.submit(
            socket.getaddrinfo, endpoint.host, endpoint.port, type=socket.SOCK_STREAM
        )
        infos = future.result(timeout=timeout)
    finally:
        pool.shutdown(wait=False)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _connect(addresses: list[str], port: int, timeout: float) -> tuple[socket.socket, str]:
    """Connect to the first address that accepts, in resolver order (as clients do)."""
    error: OSError = OSError(f"no address to connect to (resolved {addresses})")
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout=timeout), address
        except OSError as exc:
            error = exc
    raise error


def _tls_context(target: TargetEnv) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=target.api.ca_file)
    if not target.api.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


@pytest.fixture(scope="module")
def network(target: TargetEnv) -> Timings:
    """Resolve, connect and (for https) handshake ``ROUNDS`` times with the API's host."""
    endpoint = _endpoint(target.api.base_url)
    timeout = float(target.api.timeout)
    timings = Timings()
    context = _tls_context(target) if endpoint.https else None
    phase = "dns"
    try:
        for _ in range(ROUNDS):
            phase = "dns"
            started = time.perf_counter()
            addresses = _resolve(endpoint, timeout)
            timings.dns_ms.append((time.perf_counter() - started) * 1000)
            phase = "connect"
            started = time.perf_counter()
            sock, timings.address = _connect(addresses, endpoint.port, timeout)
            timings.connect_ms.append((time.perf_counter() - started) * 1000)
            with sock:
                if context is None:
                    continue
                phase = "tls"
                sock.settimeout(timeout)
                started = time.perf_counter()
                with context.wrap_socket(sock, server_hostname=endpoint.host) as tls:
                    timings.tls_ms.append((time.perf_counter() - started) * 1000)
                    timings.tls_version = tls.version()
                    timings.cert = tls.getpeercert() or {}
    except (OSError, concurrent.futures.TimeoutError) as exc:
        scheme = "https" if endpoint.https else "http"
        who = f"api ({scheme}://{endpoint.host}:{endpoint.port})"
        timings.error = f"{connection_error(exc, who, timeout)} (in the {phase} phase)"
    return timings


def _phases(timings: Timings) -> Iterator[tuple[str, list[float]]]:
    yield "dns", timings.dns_ms
    yield "connect", timings.connect_ms
    if timings.tls_ms:
        yield "tls", timings.tls_ms


@pytest.mark.parametrize("phase", ["dns", "connect", "tls"])
def test_api_network_phase_is_faster_than_the_limit(
    phase: str, network: Timings, target: TargetEnv, params: dict[str, Any], baseline: Baseline
) -> None:
    """DNS resolution, TCP connect and TLS handshake to the API host each take under 1 s.

    Guards against: a slow or failing resolver, an overloaded load balancer or TLS terminator,
    a network path that degraded with the deploy.
    """
    if network.error:
        pytest.fail(network.error)
    samples = dict(_phases(network)).get(phase)
    if samples is None:
        pytest.skip(f"{target.api.base_url} is not https: no TLS handshake to time")
    median = statistics.median(samples)
    limit = float(params.get("network_phase_limit_ms", PHASE_LIMIT_MS))
    baseline.number(f"{phase} median", median, abs=limit, direction="higher_is_worse", unit="ms")
    baseline.limit(
        f"{phase} median (limit)",
        median,
        below=limit,
        unit="ms",
        source=f"params.network_phase_limit_ms, default {PHASE_LIMIT_MS:g}",
        note=f"{phase} to {network.address or target.api.base_url}, {len(samples)} tries: "
        + ", ".join(f"{s:.1f}" for s in samples)
        + " ms",
    )


def test_api_tls_certificate_is_valid_long_enough_with_a_modern_protocol(
    network: Timings, target: TargetEnv, baseline: Baseline
) -> None:
    """The API's certificate verifies and stays valid tls.cert_min_days more; TLS >= min_version.

    Guards against: a certificate about to expire (`cert_expiring`), a downgraded TLS setup.
    """
    if network.error:
        pytest.fail(network.error)
    if not network.tls_ms:
        if target.tls.required:
            pytest.fail(f"tls.required is true but the API is {target.api.base_url}")
        pytest.skip(f"{target.api.base_url} is not https")
    negotiated = network.tls_version or "none"
    assert negotiated in TLS_VERSION_NUMBERS, f"the API negotiated {negotiated}"
    baseline.limit(
        "tls version",
        TLS_VERSION_NUMBERS[negotiated],
        at_least=TLS_VERSION_NUMBERS[target.tls.min_version],
        source=f"tls.min_version {target.tls.min_version} in prodval.yaml",
        note=f"the API negotiated {negotiated}",
    )
    if not network.cert:
        pytest.skip("api.verify_tls is false: the certificate is not verified, nor its expiry")
    expires = dt.datetime.fromtimestamp(
        ssl.cert_time_to_seconds(network.cert["notAfter"]), dt.timezone.utc
    )
    days_left = (expires - dt.datetime.now(dt.timezone.utc)).total_seconds() / 86400
    baseline.limit(
        "certificate validity",
        round(days_left, 1),
        at_least=target.tls.cert_min_days,
        unit="days",
        source="tls.cert_min_days in prodval.yaml",
        note=f"the API's certificate expires {expires:%Y-%m-%d %H:%M} UTC",
    )
