"""Stand-ins for the external parser and embedder: the real services' shapes, none of their cost.

Both are small Starlette apps (``docpipe.stubs.parser``, ``docpipe.stubs.embedder``) with
deterministic output, configurable latency and a deterministic error rate, so that a test can
say "the third request fails" rather than "some requests fail, probably". This module holds
what they share: bearer-key auth, the error counter, environment parsing and serving (as a
command, or in a background thread for tests and embedding).
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import math
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = ["ErrorCounter", "bind", "check_auth", "env_float", "main", "running"]


def env_float(
    environ: Mapping[str, str], name: str, default: float, *, upper: float = math.inf
) -> float:
    raw = environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise SystemExit(f"docpipe: {name} must be a number, got {raw!r}") from None
    if not 0 <= value <= upper or math.isnan(value):
        raise SystemExit(f"docpipe: {name} must be between 0 and {upper:g}, got {raw!r}")
    return value


class ErrorCounter:
    """Fails a ``rate`` share of calls, deterministically: with 0.5, calls 1, 3, 5, … fail.

    Call n fails when ceil(n * rate) grows, so the first call fails whenever rate > 0 and
    exactly round-up(n * rate) of the first n calls fail.
    """

    def __init__(self, rate: float) -> None:
        if not 0 <= rate <= 1:
            raise ValueError(f"error rate must be between 0 and 1, got {rate}")
        self.rate = rate
        self.calls = 0
        self._lock = threading.Lock()

    def should_fail(self) -> bool:
        with self._lock:
            self.calls += 1
            n = self.calls
        return math.ceil(round(n * self.rate, 9)) > math.ceil(round((n - 1) * self.rate, 9))


def check_auth(request: Request, service_key: str) -> Response | None:
    """A 401 response unless the request carries ``Bearer <service_key>``; None when it does."""
    if not service_key:
        return None
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), service_key.encode()):
        return None
    return JSONResponse(
        {"detail": "invalid or missing bearer token"},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 lets the OS pick, and the caller reads it back."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say they are
    # TCP, and without it every response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _config(app: Starlette) -> uvicorn.Config:
    return uvicorn.Config(
        app, log_level="warning", access_log=False, server_header=False, lifespan="off"
    )


@contextlib.contextmanager
def running(app: Starlette, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``app`` on a port the OS picks, from a background thread; yields the base URL."""
    sock = bind(host, 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(_config(app))
    # In a thread other than the main one uvicorn leaves signal handling alone.
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"stub-{port}", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"stub server on port {port} did not start")
            time.sleep(0.01)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def main(prog: str, build: Callable[[], Starlette], argv: Sequence[str] | None) -> int:
    """The command line shared by both stubs: ``--host`` and ``--port`` (0: the OS picks)."""
    parser = argparse.ArgumentParser(prog=prog, description=f"docpipe {prog} stand-in")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    app = build()  # before binding: a bad environment fails without taking a port
    sock = bind(args.host, args.port)
    # The bound port on one line, so whoever started us with --port 0 can find it.
    print(f"{prog} listening on http://{args.host}:{sock.getsockname()[1]}", file=sys.stderr)
    sys.stderr.flush()
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to the handler
    # in place before it started: make that one a clean exit, as a supervisor expects.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_cleanly)
    try:
        uvicorn.Server(_config(app)).run(sockets=[sock])
    finally:
        sock.close()
    return 0


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)
