"""HTTP exchanges bounded in time and size: one total deadline each, and a cap on the body.

httpx's timeouts apply to each network operation, not to the exchange: a target that
trickles a byte a second never trips a 5 s read timeout, and a 100 MB body is read whole and
then copied into every message that quotes it (httpx has no total timeout: encode/httpx#1450).
Here each request gets one deadline, its timeout counted from the start, and it covers
connecting, TLS, sending, the answer's head and every byte of its body. It is enforced below
httpx, in the network backend, where each socket operation's timeout is cut to the time left.
The body is counted as it arrives and refused past a cap (a declared Content-Length over the
cap is refused before reading).

``unreadable_answer`` turns the JSON error of an answer that is not JSON into a line naming
the request, instead of a decoder traceback that names nothing.

Not bounded here: name resolution (``getaddrinfo`` takes no timeout); the checks' time
budgets (budget.py) are the net for it.
"""

from __future__ import annotations

import contextvars
import json
import ssl
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, TypeVar

import httpcore
import httpx

__all__ = [
    "ExchangeTimeout",
    "ResponseTooLarge",
    "bounded_async_transport",
    "bounded_transport",
    "unreadable_answer",
]

# When the exchange running in this context (thread or task) must be over.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "prodval_exchange_deadline", default=None
)
_Timeout = TypeVar("_Timeout", bound=Exception)
# A socket timeout cut to the deadline may fire a hair before the monotonic clock says so.
_CLOCK_SLACK_S = 0.005


class ExchangeTimeout(httpx.TimeoutException):
    """The exchange did not complete (last byte of the answer) within its total deadline."""

    def __init__(self, total_s: float, request: httpx.Request) -> None:
        super().__init__(f"no complete answer within {total_s:g} s", request=request)
        self.total_s = total_s


class ResponseTooLarge(httpx.RequestError):
    """The answer's body is larger than the cap; what arrived is dropped."""

    def __init__(self, limit: int, request: httpx.Request) -> None:
        super().__init__(f"answer body over {_size(limit)}: not read further", request=request)
        self.limit = limit


def _size(count: int) -> str:
    return f"{count / 2**20:g} MiB" if count >= 2**20 else f"{count / 2**10:g} KiB"


def _left(timeout: float | None, expired: type[_Timeout]) -> float | None:
    """``timeout`` cut to what is left of the current exchange's deadline."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("the exchange's total deadline has passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_tcp(host, port, left, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_unix_socket(path, left, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _AsyncStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _AsyncStream(await self._inner.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _AsyncBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        stream = await self._inner.connect_tcp(host, port, left, local_address, socket_options)
        return _AsyncStream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _AsyncStream(await self._inner.connect_unix_socket(path, left, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _Exchange:
    """One request's limits: its deadline, its body cap, and the errors that say so."""

    def __init__(self, request: httpx.Request, default_total_s: float, max_body: int) -> None:
        timeouts: dict[str, float | None] = dict(request.extensions.get("timeout", {}))
        given = [value for value in timeouts.values() if value is not None]
        # ``Timeout(30, connect=2)``: 30 s for the exchange, of which at most 2 to connect.
        self.total_s = max(given) if given else default_total_s
        # No single operation may outlast the exchange (waiting for a pooled connection too).
        request.extensions["timeout"] = {
            name: min(self.total_s, timeouts.get(name) or self.total_s)
            for name in ("connect", "read", "write", "pool")
        }
        self.request = request
        self.deadline = time.monotonic() + self.total_s
        self.max_body = max_body
        self.received = 0

    def enter(self) -> contextvars.Token[float | None]:
        return _DEADLINE.set(self.deadline)

    def timed_out(self, exc: httpx.TimeoutException) -> httpx.TimeoutException:
        """Ours when the deadline has passed (the message says it was the total); a connect
        or TLS handshake that ran out stays what it was, which says the phase."""
        if isinstance(exc, httpx.ConnectTimeout):
            return exc
        if time.monotonic() >= self.deadline - _CLOCK_SLACK_S or "total deadline" in str(exc):
            return ExchangeTimeout(self.total_s, self.request)
        return exc

    def check_declared(self, response: httpx.Response) -> None:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            raise ResponseTooLarge(self.max_body, self.request)

    def count(self, chunk: bytes) -> bytes:
        self.received += len(chunk)
        if self.received > self.max_body:
            raise ResponseTooLarge(self.max_body, self.request)
        return chunk


class _BoundedBody(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, exchange: _Exchange) -> None:
        self._inner, self._exchange = inner, exchange

    def __iter__(self) -> Iterator[bytes]:
        chunks = iter(self._inner)
        while True:
            token = self._exchange.enter()
            try:
                chunk = next(chunks)
            except StopIteration:
                return
            except httpx.TimeoutException as exc:
                raise self._exchange.timed_out(exc) from exc
            finally:
                _DEADLINE.reset(token)
            yield self._exchange.count(chunk)

    def close(self) -> None:
        self._inner.close()


class _AsyncBoundedBody(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, exchange: _Exchange) -> None:
        self._inner, self._exchange = inner, exchange

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunks = self._inner.__aiter__()
        while True:
            token = self._exchange.enter()
            try:
                chunk = await chunks.__anext__()
            except StopAsyncIteration:
                return
            except httpx.TimeoutException as exc:
                raise self._exchange.timed_out(exc) from exc
            finally:
                _DEADLINE.reset(token)
            yield self._exchange.count(chunk)

    async def aclose(self) -> None:
        await self._inner.aclose()


class _BoundedTransport(httpx.HTTPTransport):
    def __init__(self, *, max_body_bytes: int, default_total_s: float, **options: Any) -> None:
        super().__init__(**options)
        # httpx does not take a network backend; its pool does (tests/test_exchange.py
        # fails loudly if a new httpx moves either attribute).
        self._pool._network_backend = _Backend(self._pool._network_backend)
        self._max_body, self._default_total_s = max_body_bytes, default_total_s

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        exchange = _Exchange(request, self._default_total_s, self._max_body)
        token = exchange.enter()
        try:
            response = super().handle_request(request)
        except httpx.TimeoutException as exc:
            raise exchange.timed_out(exc) from exc
        finally:
            _DEADLINE.reset(token)
        assert isinstance(response.stream, httpx.SyncByteStream)
        try:
            exchange.check_declared(response)
        except ResponseTooLarge:
            response.close()
            raise
        response.stream = _BoundedBody(response.stream, exchange)
        return response


class _AsyncBoundedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, *, max_body_bytes: int, default_total_s: float, **options: Any) -> None:
        super().__init__(**options)
        self._pool._network_backend = _AsyncBackend(self._pool._network_backend)
        self._max_body, self._default_total_s = max_body_bytes, default_total_s

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        exchange = _Exchange(request, self._default_total_s, self._max_body)
        token = exchange.enter()
        try:
            response = await super().handle_async_request(request)
        except httpx.TimeoutException as exc:
            raise exchange.timed_out(exc) from exc
        finally:
            _DEADLINE.reset(token)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        try:
            exchange.check_declared(response)
        except ResponseTooLarge:
            await response.aclose()
            raise
        response.stream = _AsyncBoundedBody(response.stream, exchange)
        return response


def bounded_transport(
    *, max_body_bytes: int, default_total_s: float, verify: ssl.SSLContext | bool = True
) -> httpx.HTTPTransport:
    """A transport whose every exchange has one total deadline and a capped body.

    The deadline is the request's timeout (the largest of httpx's per-operation values, from
    the client or ``timeout=`` on the request; each operation keeps its own if shorter), else
    ``default_total_s``.
    """
    return _BoundedTransport(
        max_body_bytes=max_body_bytes, default_total_s=default_total_s, verify=verify
    )


def bounded_async_transport(
    *, max_body_bytes: int, default_total_s: float, verify: ssl.SSLContext | bool = True
) -> httpx.AsyncHTTPTransport:
    """:func:`bounded_transport` for ``httpx.AsyncClient``."""
    return _AsyncBoundedTransport(
        max_body_bytes=max_body_bytes, default_total_s=default_total_s, verify=verify
    )


def unreadable_answer(exc: BaseException) -> str | None:
    """``GET /x answered 200 (text/html, 12 bytes), not JSON: Expecting value at 1:1`` for the
    error of ``httpx.Response.json``; None for any other exception."""
    if not isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):
        return None
    response = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code is httpx.Response.json.__code__:
            response = tb.tb_frame.f_locals.get("self")
        tb = tb.tb_next
    if not isinstance(response, httpx.Response):
        return None
    what = f"{response.request.method} {response.request.url.path}"
    kind = response.headers.get("content-type", "no Content-Type")
    where = f" at {exc.lineno}:{exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
    reason = exc.msg if isinstance(exc, json.JSONDecodeError) else exc.reason
    return (
        f"{what} answered {response.status_code} ({kind}, {len(response.content)} bytes), "
        f"not JSON: {reason}{where}"
    )
