"""Transmission security: the API never serves data over unencrypted HTTP.

Parameters read from ``params`` (optional):

- ``plain_http_port``: a further port to probe with plain HTTP (for example 80, where a load
  balancer may redirect to HTTPS); the API's own port is always probed.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pytest_prodval import ResponseTooLarge, TargetEnv, bounded_transport

pytestmark = [pytest.mark.compliance]

PROBE_PATH = "/health"
PROBE_BODY_BYTES = 64 * 1024


def _probe(url: str, timeout: float) -> str | None:
    """None when plain HTTP at ``url`` is refused or redirected to HTTPS, else what it did."""
    try:
        # No credentials: a probe must not send them in clear text.
        transport = bounded_transport(max_body_bytes=PROBE_BODY_BYTES, default_total_s=timeout)
        with httpx.Client(transport=transport, timeout=timeout) as client:
            response = client.get(url)
    except ResponseTooLarge:
        return f"answered over plain HTTP with a body over {PROBE_BODY_BYTES // 1024} KiB"
    except httpx.TransportError:
        return None  # connection refused, reset or closed without an answer: refused
    status = response.status_code
    if 300 <= status < 400:
        location = response.headers.get("location", "")
        if location.startswith("https://"):
            return None
        return f"redirected with {status} to {location!r}, not to https://"
    if 400 <= status < 500:
        return None  # e.g. nginx's 400 "plain HTTP request was sent to HTTPS port"
    return f"answered {status} over plain HTTP: {response.text[:200]!r}"


def test_plain_http_to_the_api_is_refused_or_redirected_to_https(
    target: TargetEnv, params: dict[str, Any]
) -> None:
    """A plain-HTTP request to the API's host and port gets no data (refused, 4xx, or -> https).

    Guards against: a listener that also answers unencrypted HTTP (TLS switched off or a
    plaintext fallback), a redirect that stays on http://.
    Evidences: HIPAA 45 CFR 164.312(e)(1)
    """
    url = httpx.URL(target.api.base_url)
    if url.scheme != "https":
        if target.tls.required:
            pytest.fail(
                f"api.base_url {target.api.base_url} is plain HTTP but tls.required is true"
            )
        pytest.skip(f"tls.required is false and {target.name} is configured over plain HTTP")
    ports = [url.port or 443]
    if params.get("plain_http_port") is not None:
        ports.append(int(params["plain_http_port"]))
    problems = []
    for port in ports:
        probe_url = f"http://{url.host}:{port}{PROBE_PATH}"
        problem = _probe(probe_url, float(target.api.timeout))
        if problem is not None:
            problems.append(f"{probe_url} {problem}")
    assert not problems, "; ".join(problems)
