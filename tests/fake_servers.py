"""Real servers that misbehave on purpose, on loopback: for the broken-target tests.

- ``http_server(answer)``: HTTP or HTTPS, every request answered by ``answer(method, path)``;
- ``silent_listener()``: accepts TCP connections (the kernel does, from its backlog) and never
  says a word;
- ``raw_server(respond)``: plain TCP on loopback; each connection's request head is read, then
  ``respond(connection, stopped)`` writes whatever bytes it likes, as slowly as it likes, until
  ``stopped`` is set (trickling answers, answers that never end, HTTP/1.0 surprises);
- ``stalling_postgres(upstream)``: relays PostgreSQL's start-up and authentication, then stops
  passing anything on: a database that accepts connections and then stalls.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = [
    "Respond",
    "http_server",
    "never_ending",
    "raw_server",
    "silent_listener",
    "stalling_postgres",
    "trickle",
]

Answer = Callable[[str, str], tuple[int, bytes]]


@contextlib.contextmanager
def http_server(answer: Answer, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """Serve ``answer`` on a free loopback port; yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        server_version, sys_version = "fake", ""  # no version for the checks to flag

        def send_error(
            self, code: int, message: str | None = None, explain: str | None = None
        ) -> None:
            # A request it cannot even parse gets the same status as the rest, raw.
            status, body = answer("", "")
            head = f"HTTP/1.1 {status} Error\r\nContent-Length: {len(body)}\r\n"
            self.wfile.write(f"{head}Connection: close\r\n\r\n".encode() + body)
            self.close_connection = True

        def _serve(self) -> None:
            # Answer at once and close: a client sending an odd body gets its answer too.
            self.close_connection = True
            status, body = answer(self.command, self.path)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        scheme = "https" if tls is not None else "http"
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


Respond = Callable[[socket.socket, threading.Event], None]


def _read_head(connection: socket.socket) -> None:
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 65536:
        chunk = connection.recv(4096)
        if not chunk:
            return
        head += chunk


@contextlib.contextmanager
def raw_server(respond: Respond, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """Answer every connection with ``respond``; yields ``http(s)://127.0.0.1:PORT``.

    On exit ``stopped`` is set, connections are shut down and their threads joined.
    """
    stopped = threading.Event()
    threads: list[threading.Thread] = []
    connections: list[socket.socket] = []

    def serve(plain: socket.socket) -> None:
        with contextlib.suppress(OSError), plain:
            plain.settimeout(10)
            connection = tls.wrap_socket(plain, server_side=True) if tls is not None else plain
            with connection:
                _read_head(connection)
                respond(connection, stopped)

    def accept(listener: socket.socket) -> None:
        while not stopped.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            connections.append(connection)
            thread = threading.Thread(target=serve, args=(connection,), daemon=True)
            threads.append(thread)
            thread.start()

    with socket.create_server(("127.0.0.1", 0), backlog=64) as listener:
        acceptor = threading.Thread(target=accept, args=(listener,), daemon=True)
        acceptor.start()
        try:
            scheme = "https" if tls is not None else "http"
            yield f"{scheme}://127.0.0.1:{listener.getsockname()[1]}"
        finally:
            stopped.set()
            listener.shutdown(socket.SHUT_RDWR)
            for connection in connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            acceptor.join(timeout=10)
            for thread in threads:
                thread.join(timeout=10)


def trickle(data: bytes, every_s: float) -> Respond:
    """Send ``data`` one byte every ``every_s`` seconds (each read of the client succeeds)."""

    def respond(connection: socket.socket, stopped: threading.Event) -> None:
        for byte in data:
            connection.sendall(bytes([byte]))
            if stopped.wait(every_s):  # the pace of the trickle, not a synchronisation
                return

    return respond


def never_ending(head: bytes, every_s: float = 0.05) -> Respond:
    """Send ``head``, then a byte every ``every_s`` until the server stops: an answer that
    never ends, though every read of the client succeeds."""

    def respond(connection: socket.socket, stopped: threading.Event) -> None:
        connection.sendall(head)
        while not stopped.wait(every_s):  # the pace of the trickle, not a synchronisation
            connection.sendall(b" ")

    return respond


@contextlib.contextmanager
def silent_listener() -> Iterator[int]:
    """A port whose connections are accepted and then never answered; yields the port."""
    with socket.create_server(("127.0.0.1", 0), backlog=128) as listener:
        yield listener.getsockname()[1]


def _relay(source: socket.socket, sink: socket.socket, passing: Callable[[bytes], bool]) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            if passing(data):
                sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


class _ServerMessages:
    """Follows the server's typed messages (type byte, int32 length) to see ReadyForQuery."""

    def __init__(self) -> None:
        self.buffer = b""
        self.ready = threading.Event()

    def feed(self, data: bytes) -> bool:
        self.buffer += data
        while len(self.buffer) >= 5:
            kind, length = self.buffer[:1], struct.unpack("!I", self.buffer[1:5])[0]
            if len(self.buffer) < 1 + length:
                break
            self.buffer = self.buffer[1 + length :]
            if kind == b"Z":
                self.ready.set()
        return True

    def before_ready(self, data: bytes) -> bool:
        return not self.ready.is_set()


@contextlib.contextmanager
def stalling_postgres(connect_upstream: Callable[[], socket.socket]) -> Iterator[int]:
    """A TCP port in front of PostgreSQL that lets clients log in, then passes nothing on.

    Clients must not ask for TLS (``sslmode=disable``): the relay reads the server's messages.
    """
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    sockets: list[socket.socket] = [listener]
    threads: list[threading.Thread] = []

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = listener.accept()
                upstream = connect_upstream()
                sockets.extend((client, upstream))
                server = _ServerMessages()
                # Client to server: everything until the server said it is ready, then nothing.
                # A CancelRequest arrives on a new connection, so cancelling still works.
                for args in (
                    (client, upstream, server.before_ready),
                    (upstream, client, server.feed),
                ):
                    thread = threading.Thread(target=_relay, args=args, daemon=True)
                    thread.start()
                    threads.append(thread)

    acceptor = threading.Thread(target=serve, daemon=True)
    acceptor.start()
    try:
        yield listener.getsockname()[1]
    finally:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        acceptor.join(timeout=10)
        for thread in threads:
            thread.join(timeout=10)
