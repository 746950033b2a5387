"""Every exchange with the target is bounded: one total deadline, a capped body (exchange.py).

Real servers on loopback that misbehave at the socket level (tests/fake_servers.py): a head
or a body trickled a byte at a time (each read succeeds, so per-read timeouts never fire), an
HTTP/1.0 answer that never ends, bodies larger than the cap, declared or not.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpcore
import httpx
import pytest

from pytest_prodval import ExchangeTimeout, ResponseTooLarge
from pytest_prodval.exchange import bounded_async_transport, bounded_transport

from .fake_servers import Respond, http_server, never_ending, raw_server, trickle

TOTAL_S = 1.0
# Start-up of a thread, the event loop, a slow CI machine: what the deadline may overrun by.
SLACK_S = 1.5
OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
ENDLESS_HEAD = b"HTTP/1.1 200 OK\r\n" + b"X-Padding: a\r\n" * 10_000 + b"\r\n"
HTTP10_BODY = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + b" " * 10_000


def client(base_url: str, max_body_bytes: int = 1 << 20) -> httpx.Client:
    transport = bounded_transport(max_body_bytes=max_body_bytes, default_total_s=TOTAL_S)
    return httpx.Client(base_url=base_url, timeout=TOTAL_S, transport=transport)


@pytest.mark.parametrize(
    "respond",
    [
        pytest.param(trickle(ENDLESS_HEAD, 0.05), id="trickled head"),
        pytest.param(
            never_ending(b"HTTP/1.1 200 OK\r\nContent-Length: 99999\r\n\r\n"), id="trickled body"
        ),
        pytest.param(never_ending(b"HTTP/1.0 200 OK\r\n\r\n"), id="HTTP/1.0 body that never ends"),
    ],
)
def test_an_exchange_ends_at_its_total_deadline_however_the_target_trickles(
    respond: Respond,
) -> None:
    with raw_server(respond) as url, client(url) as api:
        started = time.monotonic()
        with pytest.raises(ExchangeTimeout, match=f"no complete answer within {TOTAL_S:g} s"):
            api.get("/version")
        took = time.monotonic() - started
    assert TOTAL_S * 0.9 <= took < TOTAL_S + SLACK_S


def test_a_request_timeout_is_the_total_of_that_exchange() -> None:
    with raw_server(never_ending(b"HTTP/1.0 200 OK\r\n\r\n")) as url, client(url) as api:
        started = time.monotonic()
        with pytest.raises(ExchangeTimeout, match=r"within 0\.3 s"):
            api.get("/", timeout=0.3)
        assert time.monotonic() - started < 0.3 + SLACK_S


def test_the_async_client_has_the_same_total_deadline() -> None:
    async def fetch(url: str) -> None:
        transport = bounded_async_transport(max_body_bytes=1 << 20, default_total_s=TOTAL_S)
        async with httpx.AsyncClient(base_url=url, timeout=TOTAL_S, transport=transport) as api:
            await api.get("/")

    with raw_server(never_ending(b"HTTP/1.0 200 OK\r\n\r\n")) as url:
        started = time.monotonic()
        with pytest.raises(ExchangeTimeout):
            asyncio.run(fetch(url))
        assert time.monotonic() - started < TOTAL_S + SLACK_S


def test_a_complete_http10_answer_without_content_length_is_read_to_its_end() -> None:
    def respond(connection: socket.socket, stopped: threading.Event) -> None:
        connection.sendall(b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"a": 1}')

    with raw_server(respond) as url, client(url) as api:
        assert api.get("/").json() == {"a": 1}


@pytest.mark.parametrize("declared", [True, False], ids=["declared", "chunked"])
def test_a_body_over_the_cap_is_refused_not_read(declared: bool) -> None:
    size = 64 << 20  # 64 MiB; the cap is 1 MiB

    def respond(connection: socket.socket, stopped: threading.Event) -> None:
        if declared:
            connection.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
            block = b"x" * 65536
            for _ in range(size // len(block)):
                if stopped.is_set():
                    return
                connection.sendall(block)
        else:
            connection.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"10000\r\n" + b"x" * 65536 + b"\r\n"
            for _ in range(size // 65536):
                if stopped.is_set():
                    return
                connection.sendall(chunk)

    with raw_server(respond) as url, client(url) as api:
        with pytest.raises(ResponseTooLarge, match=r"answer body over 1 MiB: not read further"):
            api.get("/")


def test_answers_within_the_limits_pass_and_the_connection_is_reused() -> None:
    with (
        http_server(lambda method, path: (200, b'{"ok": true}')) as url,
        client(url) as api,
    ):
        for _ in range(3):
            assert api.get("/").json() == {"ok": True}


def test_httpx_still_has_the_pool_attribute_the_deadline_is_installed_through() -> None:
    # exchange.py swaps the network backend of httpx's pool; a new httpx that moves either
    # attribute must fail here, not quietly lose the deadline.
    transport = bounded_transport(max_body_bytes=1, default_total_s=1)
    backend = transport._pool._network_backend
    assert isinstance(backend, httpcore.NetworkBackend)
    assert type(backend).__module__ == "pytest_prodval.exchange"


def test_a_shorter_connect_timeout_does_not_shorten_the_exchange() -> None:
    # Timeout(1, connect=0.2): the exchange has 1 s in all, of which at most 0.2 to connect.
    with raw_server(never_ending(b"HTTP/1.0 200 OK\r\n\r\n")) as url, client(url) as api:
        started = time.monotonic()
        with pytest.raises(ExchangeTimeout, match=f"within {TOTAL_S:g} s"):
            api.get("/", timeout=httpx.Timeout(TOTAL_S, connect=0.2))
        assert time.monotonic() - started >= TOTAL_S * 0.9
