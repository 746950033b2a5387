"""Local networking helpers: pick a free port, and wait (boundedly) for a service to answer."""

from __future__ import annotations

import random
import socket
import ssl
import time
from pathlib import Path

import httpx

__all__ = ["free_port", "wait_for_http", "wait_for_port"]

# Polling starts fast (services usually come up within tens of ms) and backs off to this.
_MAX_POLL_INTERVAL = 0.2


# Below the kernel's ephemeral range: the ports it hands to bind(0) and to outgoing
# connections. A port picked there, released and bound again a moment later by a server, could
# meanwhile be handed to any other process's bind(0) (a test's fake server, seen in CI: the
# API's health check then reached someone else's plain-HTTP server for 30 s).
_LOW_PORTS = range(20000, 32768)
_PICKS = 50


def _ephemeral_low() -> int:
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return _LOW_PORTS.stop
    return low


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago, outside the ephemeral range.

    Still racy against another process picking the same port the same way (rare: one in a
    few thousand per pick), so callers that start a server on it must still report a bind
    failure clearly. Falls back to the kernel's pick when no low port is free.
    """
    ports = range(_LOW_PORTS.start, min(_LOW_PORTS.stop, _ephemeral_low()))
    for port in random.sample(ports, min(_PICKS, len(ports))):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        picked: int = sock.getsockname()[1]
        return picked


def _time_left(deadline: float) -> bool:
    """Whether there is time left before ``deadline`` (monotonic)."""
    return time.monotonic() < deadline


def _pause(interval: float, deadline: float) -> float:
    """Sleep until the next poll, never past the deadline; return the next interval."""
    time.sleep(max(0.0, min(interval, deadline - time.monotonic())))
    return min(interval * 2, _MAX_POLL_INTERVAL)


def wait_for_port(host: str, port: int, timeout: float) -> None:
    """Return once something accepts TCP connections on host:port; TimeoutError after timeout."""
    deadline = time.monotonic() + timeout
    interval = 0.01
    last_error: OSError | None = None
    while True:
        remaining = deadline - time.monotonic()
        try:
            with socket.create_connection((host, port), timeout=max(remaining, 0.05)):
                return
        except OSError as exc:
            last_error = exc
        if not _time_left(deadline):
            raise TimeoutError(
                f"nothing accepted connections on {host}:{port} within {timeout:g}s "
                f"(last error: {last_error})"
            )
        interval = _pause(interval, deadline)


def _verify_arg(verify: bool | str | Path | ssl.SSLContext) -> bool | ssl.SSLContext:
    # httpx deprecates a CA path as ``verify`` (and warnings are errors here): build a context.
    if isinstance(verify, (str, Path)):
        return ssl.create_default_context(cafile=str(verify))
    return verify


def wait_for_http(
    url: str,
    timeout: float,
    *,
    verify: bool | str | Path | ssl.SSLContext = True,
) -> httpx.Response:
    """GET ``url`` until it answers with a status below 500; return that response.

    Connection errors and 5xx answers (a service still starting, or a proxy in front of one) are
    retried until ``timeout``, then TimeoutError names the last outcome. ``verify`` is a bool, a
    CA bundle path, or an SSLContext.
    """
    deadline = time.monotonic() + timeout
    interval = 0.01
    last: str = "no attempt"
    with httpx.Client(verify=_verify_arg(verify)) as client:
        while True:
            remaining = deadline - time.monotonic()
            try:
                response = client.get(url, timeout=max(min(remaining, 5.0), 0.05))
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 500:
                    return response
                last = f"HTTP {response.status_code}"
            if not _time_left(deadline):
                raise TimeoutError(f"{url} did not answer within {timeout:g}s (last: {last})")
            interval = _pause(interval, deadline)
