"""One clear line for a check that could not reach the target, instead of a traceback wall.

Right after a deployment the usual failure is not a wrong value but a target that does not
answer: a hung API, a refused port, a DNS name that is gone, a certificate that does not
verify, a database that accepts connections and then stalls. The exceptions httpx and
asyncpg raise for these are accurate but buried under thirty frames of their internals, and
they do not say which part of the target was meant or how long prodval waited. ``explain``
turns them into ``timeout after 5 s connecting to api (https://api.example.com)``; the
session replaces the check's exception with a :class:`TargetUnreachable` carrying that line,
keeping only the frames of the user's own code.
"""

from __future__ import annotations

import importlib.util
import socket
import ssl
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .errors import TargetUnreachable

if TYPE_CHECKING:
    import httpx

    from .config import TargetEnv

__all__ = [
    "TargetUnreachable",
    "connection_error",
    "database_error",
    "explain",
    "user_traceback",
]

if sys.version_info >= (3, 11):  # asyncio's and concurrent.futures' TimeoutError are this one
    _TIMEOUTS: tuple[type[BaseException], ...] = (TimeoutError,)
else:  # asyncio is imported only where it is needed to tell (start-up, +0.1 s budget)
    import asyncio
    import concurrent.futures

    _TIMEOUTS = (TimeoutError, asyncio.TimeoutError, concurrent.futures.TimeoutError)
# Installed packages (httpx, asyncpg, pytest), the standard library (ssl, socket, asyncio) and
# prodval itself: frames there say how a failure travelled, not which check line caused it.
# httpx is found, not imported: the active plugin's start-up must not pay for it (+0.1 s budget).
_HTTPX = importlib.util.find_spec("httpx")
_LIBRARY_DIRS = (
    *([Path(_HTTPX.origin).parent.parent] if _HTTPX is not None and _HTTPX.origin else []),
    Path(ssl.__file__).parent,  # the standard library (asyncio among it)
    Path(__file__).parent,
)


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _origin(url: str) -> str:
    """``scheme://host:port`` only: paths and queries may carry tokens, users carry passwords."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _os_reason(exc: BaseException) -> str | None:
    """What the operating system or TLS said, from anywhere in the exception chain."""
    for link in _chain(exc):
        if isinstance(link, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted: {link.verify_message}"
        if isinstance(link, ssl.SSLError):
            return f"TLS handshake failed: {link.reason or link}"
        if isinstance(link, socket.gaierror):
            return f"cannot resolve host name: {link.strerror}"
        if isinstance(link, ConnectionRefusedError):
            return "connection refused"
        if isinstance(link, ConnectionResetError):
            return "connection reset"
    return None


def connection_error(exc: BaseException, who: str, timeout_s: float | None = None) -> str:
    """``timeout after 5 s connecting to WHO`` or ``cannot connect to WHO: REASON``.

    For checks that open their own sockets (raw requests, TLS handshakes): ``who`` names the
    part of the target, e.g. ``api (https://api.example.com:443)``.
    """
    import httpx

    if isinstance(exc, (*_TIMEOUTS, httpx.TimeoutException)):
        after = f"after {_seconds(timeout_s)} " if timeout_s is not None else ""
        return f"timeout {after}connecting to {who}"
    return f"cannot connect to {who}: {_os_reason(exc) or str(exc) or type(exc).__name__}"


def _http(exc: httpx.RequestError, env: TargetEnv) -> str:
    import httpx

    from .exchange import ExchangeTimeout, ResponseTooLarge

    try:
        request: httpx.Request | None = exc.request
    except RuntimeError:  # raised outside a request
        request = None
    url = str(request.url) if request is not None else env.api.base_url
    is_api = _origin(url) == _origin(env.api.base_url)
    who = f"api ({_origin(url)})" if is_api else _origin(url)
    after = f"after {_seconds(env.api.timeout)} " if is_api else ""
    what = f"{request.method} {request.url.path}" if request is not None else "a request"
    if isinstance(exc, ExchangeTimeout):
        return f"timeout after {_seconds(exc.total_s)} (total) waiting for {who} to answer {what}"
    if isinstance(exc, ResponseTooLarge):
        return f"{who} answered {what} with {exc} (api.max_body_mb)"
    if isinstance(exc, (httpx.ConnectTimeout, httpx.ConnectError)):
        return connection_error(exc, who, env.api.timeout if is_api else None)
    if isinstance(exc, httpx.ReadTimeout):
        return f"timeout {after}waiting for {who} to answer {what}"
    if isinstance(exc, httpx.WriteTimeout):
        return f"timeout {after}sending {what} to {who}"
    if isinstance(exc, httpx.PoolTimeout):
        return f"timeout {after}waiting for a free connection to {who}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"{who} broke the connection on {what}: {exc}"
    return f"{who} failed on {what}: {_os_reason(exc) or exc or type(exc).__name__}"


def database_error(exc: BaseException, env: TargetEnv, *, connecting: bool) -> str | None:
    """The line for a database that did not answer, or None when ``exc`` is something else."""
    if env.database is None:
        return None
    parts = urlsplit(env.database.dsn)
    who = f"database ({parts.hostname or 'local socket'}:{parts.port or 5432})"
    if isinstance(exc, _TIMEOUTS) and not connecting:
        return f"timeout after {_seconds(env.database.timeout)} waiting for {who} to answer a query"
    if isinstance(exc, _TIMEOUTS) or _os_reason(exc) is not None:
        return connection_error(exc, who, env.database.timeout)
    name = type(exc).__name__
    if name in ("ConnectionDoesNotExistError", "InterfaceError", "CannotConnectNowError"):
        return f"{who} dropped the connection: {exc}"
    return None


def _raised_in_asyncpg(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        if "asyncpg" in Path(tb.tb_frame.f_code.co_filename).parts:
            return True
        tb = tb.tb_next
    return False


def explain(exc: BaseException, env: TargetEnv) -> str | None:
    """One line saying which part of ``env`` did not answer and how; None for other errors."""
    if isinstance(exc, TargetUnreachable):
        return str(exc)
    import httpx

    from .exchange import ResponseTooLarge

    if isinstance(exc, (httpx.TransportError, ResponseTooLarge)):
        return _http(exc, env)
    if _raised_in_asyncpg(exc):
        return database_error(exc, env, connecting=False)
    return None


def user_traceback(tb: types.TracebackType | None) -> types.TracebackType | None:
    """``tb`` without the frames of httpx, asyncpg, asyncio and prodval: the user's code only."""
    frames: list[types.TracebackType] = []
    while tb is not None:
        path = Path(tb.tb_frame.f_code.co_filename)
        if not any(path.is_relative_to(lib) for lib in _LIBRARY_DIRS):
            frames.append(tb)
        tb = tb.tb_next
    if not frames:
        return None
    rebuilt: types.TracebackType | None = None
    for frame in reversed(frames):
        rebuilt = types.TracebackType(rebuilt, frame.tb_frame, frame.tb_lasti, frame.tb_lineno)
    return rebuilt
