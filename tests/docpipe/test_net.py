"""docpipe.net: free ports and bounded waiting for services."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from docpipe.net import free_port, wait_for_http, wait_for_port


def _closed_port() -> int:
    # Nothing listens on a port we just freed (barring a race with another process).
    return free_port()


def test_a_free_port_can_be_bound() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", free_port()))


def test_a_free_port_is_never_one_the_kernel_may_hand_to_another_bind() -> None:
    # bind(0) and outgoing connections draw from the ephemeral range; a port picked there and
    # released could be another process's listener by the time the caller's server binds it.
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = {free_port() for _ in range(20)}
    assert all(port < low for port in ports), sorted(ports)


def test_wait_for_port_returns_once_something_listens() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        wait_for_port("127.0.0.1", listener.getsockname()[1], timeout=5)


def test_wait_for_port_gives_up_after_its_timeout() -> None:
    port = _closed_port()
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=f"127.0.0.1:{port}"):
        wait_for_port("127.0.0.1", port, timeout=0.3)
    assert time.monotonic() - started < 3


def test_wait_for_http_gives_up_after_its_timeout() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/health"
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="ConnectError"):
        wait_for_http(url, timeout=0.3)
    assert time.monotonic() - started < 3
