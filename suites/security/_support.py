"""Helpers of the security suite: HS256 tokens built with the stdlib, leak detection in error
answers, and one raw HTTP/1.1 exchange for requests httpx will not send (a lying
Content-Length, a broken request line).

Tokens are built by hand (``hmac`` + ``base64``) so that the forgeries are exactly what an
attacker sends, independent of what any JWT library would refuse to produce.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import hmac
import json
import re
import socket
import ssl
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from pytest_prodval import TargetUnreachable, connection_error

__all__ = [
    "FORGERIES",
    "ClientFor",
    "RawResponse",
    "TokenFactory",
    "authority",
    "endpoint",
    "error_body",
    "grouped",
    "leaks",
    "random_id",
    "raw_exchange",
    "tls_context",
]

# The ``client_for`` fixture: ``client_for(role)`` is ``api_as(role)`` or a skip.
ClientFor = Callable[[str], httpx.Client]

# What an error answer must never show: stack traces, source paths, framework and server
# versions. Matched case-sensitively against bodies and every header value.
_LEAK_PATTERNS = {
    "stack trace": re.compile(r"Traceback \(most recent call last\)|\bFile \"[^\"]+\", line \d+"),
    "source path": re.compile(r"site-packages|/docpipe/[\w/]+\.py|\.py\", line"),
    "runtime version": re.compile(r"\bPython/\d|\bCPython\b"),
    "server software": re.compile(r"\buvicorn\b|\bstarlette\b|\basyncpg\b|\bgunicorn\b", re.I),
    "product version": re.compile(r"\bdocpipe/\d"),
}
# A Server header may name a product; a version number in it is a fingerprint.
_VERSIONED = re.compile(r"/\s*\d|\b\d+\.\d+")
RAW_LIMIT_BYTES = 256 * 1024


def random_id() -> str:
    """A document id nobody has: what the 401/404 probes address."""
    return str(uuid.uuid4())


def leaks(body: str, headers: Mapping[str, str]) -> list[str]:
    """What an answer gives away, one line per finding; empty when nothing leaks."""
    found = []
    server = headers.get("server")
    if server is not None and (
        _VERSIONED.search(server) or any(p.search(server) for p in _LEAK_PATTERNS.values())
    ):
        found.append(f"Server header with version or stack: {server!r}")
    powered = headers.get("x-powered-by")
    if powered is not None:
        found.append(f"X-Powered-By header: {powered!r}")
    for what, pattern in _LEAK_PATTERNS.items():
        match = pattern.search(body)
        if match:
            found.append(f"{what} in the body: {match.group(0)!r}")
        for name, value in headers.items():
            if name.lower() in ("server", "x-powered-by"):
                continue
            match = pattern.search(value)
            if match:
                found.append(f"{what} in header {name}: {value!r}")
    return sorted(set(found))


def grouped(findings: list[tuple[str, str]]) -> str:
    """(where, finding) pairs as one line per finding: ``finding (on: where, where...)``."""
    places: dict[str, list[str]] = {}
    for where, finding in findings:
        places.setdefault(finding, []).append(where)
    return "\n  ".join(f"{finding} (on: {', '.join(where)})" for finding, where in places.items())


def error_body(response: httpx.Response) -> Any:
    """The JSON body without its per-request id (so two answers compare), else the text."""
    try:
        body = response.json()
    except ValueError:
        return response.text
    if isinstance(body, dict):
        body.pop("request_id", None)
    return body


# --- tokens ------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


@dataclasses.dataclass(frozen=True)
class TokenFactory:
    """Builds HS256 JWTs for the target's secret, audience and issuer, and their forgeries."""

    secret: str
    audience: str
    issuer: str
    tenant: str

    def claims(self, role: str = "viewer", **overrides: Any) -> dict[str, Any]:
        """Valid claims (issued 30 s ago, for 5 min: clock skew either way is harmless)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": "prodval-security-check",
            "tenant": self.tenant,
            "role": role,
            "aud": self.audience,
            "iss": self.issuer,
            "iat": now - 30,
            "exp": now + 300,
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def signed(self, claims: dict[str, Any], secret: str | None = None) -> str:
        signing_input = f"{_segment({'alg': 'HS256', 'typ': 'JWT'})}.{_segment(claims)}"
        key = (self.secret if secret is None else secret).encode()
        signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(signature)}"

    def valid(self, role: str = "viewer") -> str:
        return self.signed(self.claims(role))

    def forged(self, case: str) -> str:
        """One forgery by name (see ``FORGERIES``); each is refused by a correct server."""
        now = int(time.time())
        if case == "alg-none":
            claims = self.claims("admin")
            return f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(claims)}."
        if case == "flipped-signature-byte":
            header, payload, signature = self.valid("admin").split(".")
            raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
            raw[len(raw) // 2] ^= 0x01
            return f"{header}.{payload}.{_b64(bytes(raw))}"
        if case == "wrong-secret":
            return self.signed(self.claims("admin"), secret=f"not-{self.secret}")
        overrides: dict[str, dict[str, Any]] = {
            "expired": {"iat": now - 900, "exp": now - 600},
            "not-yet-valid": {"nbf": now + 600},
            "wrong-audience": {"aud": f"{self.audience}-attacker"},
            "wrong-issuer": {"iss": "https://attacker.example"},
            "no-exp": {"exp": None},
        }
        return self.signed(self.claims("admin", **overrides[case]))


FORGERIES = [
    "alg-none",
    "expired",
    "not-yet-valid",
    "flipped-signature-byte",
    "wrong-secret",
    "wrong-audience",
    "wrong-issuer",
    "no-exp",
]


# --- transport ---------------------------------------------------------------------------


def endpoint(base_url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of the API's base URL."""
    parts = urlsplit(base_url)
    scheme = parts.scheme
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, parts.hostname or "", port


def authority(base_url: str) -> tuple[str, str]:
    """(Host header value, path prefix) for raw requests to the API's base URL."""
    parts = urlsplit(base_url)
    return parts.netloc.rpartition("@")[2], parts.path.rstrip("/")


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """A verifying client context: the configured CA, else the system's trust store."""
    return ssl.create_default_context(cafile=ca_file)


@dataclasses.dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: str


@contextlib.contextmanager
def reaching(base_url: str, timeout: float) -> Iterator[None]:
    """Around a check's own socket work: a target that does not answer, as one clear line.

    Only what says the target cannot be reached (DNS, refused, timed out, an untrusted
    certificate) is turned into ``TargetUnreachable``; a TLS refusal stays an
    ``ssl.SSLError`` for the check to judge.
    """
    try:
        yield
    except (
        TimeoutError,
        socket.gaierror,
        ConnectionRefusedError,
        ssl.SSLCertVerificationError,
    ) as exc:
        scheme, host, port = endpoint(base_url)
        who = f"api ({scheme}://{host}:{port})"
        raise TargetUnreachable(connection_error(exc, who, timeout)) from None


def raw_exchange(
    base_url: str, request: bytes, *, timeout: float, ca_file: str | None, verify: bool
) -> RawResponse:
    """Send ``request`` bytes as they are on a fresh connection and read one answer.

    The connection is closed after the answer (``Connection: close`` is the caller's to send);
    reading stops at ``RAW_LIMIT_BYTES``, and the whole exchange (connect, TLS, the answer)
    at ``timeout``: a server that trickles its answer cannot hold the check.
    """
    deadline = time.monotonic() + timeout

    def left() -> float:
        return max(deadline - time.monotonic(), 0.001)

    scheme, host, port = endpoint(base_url)
    with reaching(base_url, timeout):
        plain = socket.create_connection((host, port), timeout=left())
    with plain:
        sock: socket.socket = plain
        if scheme == "https":
            context = tls_context(ca_file)
            if not verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            with reaching(base_url, timeout):
                plain.settimeout(left())
                sock = context.wrap_socket(plain, server_hostname=host)
        try:
            sock.sendall(request)
            data, out_of_time = b"", False
            while len(data) < RAW_LIMIT_BYTES:
                out_of_time = time.monotonic() >= deadline
                if out_of_time:
                    break
                sock.settimeout(left())
                try:
                    chunk = sock.recv(65536)
                except (ConnectionResetError, ssl.SSLEOFError):
                    break
                except TimeoutError:
                    out_of_time = True
                    break
                if not chunk:
                    break
                data += chunk
            if out_of_time and not data:
                raise AssertionError(
                    f"no answer within {timeout:g} s to a raw request "
                    f"({request.split(b' ', 2)[:2]!r}): the server is waiting for more"
                )
        finally:
            if sock is not plain:
                sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[1].isdigit():
        raise AssertionError(f"no HTTP answer to a raw request; got {data[:200]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        headers[name] = f"{headers[name]}, {value.strip()}" if name in headers else value.strip()
    return RawResponse(int(status_line[1]), headers, body.decode("utf-8", "replace"))
