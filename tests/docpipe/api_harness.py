"""Running the docpipe API in tests: in-process with its lifespan, or on a real uvicorn server.

In-process apps run on the test's event loop: ``router.lifespan_context`` opens the pool and
the HTTP client exactly as uvicorn's lifespan would, and httpx's ASGI transport carries the
requests. Real servers (stubs, the API over TLS) run in a thread on a socket bound before the
thread starts, so connections queue in the backlog and no readiness polling is needed.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt
import pytest_asyncio
import uvicorn
from docpipe.api import create_app
from docpipe.faults import Faults
from docpipe.settings import ComponentSettings
from starlette.applications import Starlette
from starlette.types import ASGIApp

from tests.docpipe.conftest import DocpipeDatabase

JWT_SECRET = "jwt-secret-for-tests-0123456789abcdef"  # >= 32 bytes: PyJWT warns below that
JWT_AUDIENCE = "docpipe"
JWT_ISSUER = "docpipe"
CLIENT_ADDR = "10.20.30.40"
SECURITY_HEADERS = (
    "x-content-type-options",
    "content-security-policy",
    "x-frame-options",
    "referrer-policy",
    "cache-control",
)


def settings_for(
    db: DocpipeDatabase,
    storage_dir: Path,
    *,
    faults: str = "",
    tls: bool = False,
    release: str = "1",
    parser_url: str = "",
    embedder_url: str = "",
    retention_days: float = 30.0,
) -> ComponentSettings:
    return ComponentSettings(
        app_dsn=db.app_dsn,
        release=release,
        faults=Faults.parse([faults]),
        storage_dir=storage_dir,
        parser_url=parser_url,
        embedder_url=embedder_url,
        jwt_secret=JWT_SECRET,
        jwt_audience=JWT_AUDIENCE,
        service_key="service-key",
        retention_days=retention_days,
        worker_poll_s=0.2,
        heartbeat_s=1.0,
        http_timeout_s=10.0,
        tls=tls,
    )


def key(api_key: str) -> dict[str, str]:
    return {"X-API-Key": api_key}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_jwt(secret: str = JWT_SECRET, **overrides: Any) -> str:
    """A token for acme's admin, valid for a minute; ``name=None`` drops a claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "alice@acme.example",
        "tenant": "acme",
        "role": "admin",
        "aud": JWT_AUDIENCE,
        "iss": JWT_ISSUER,
        "iat": now,
        "exp": now + 60,
    }
    claims.update(overrides)
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(claims, secret, algorithm="HS256")


def unsigned_jwt(**claims: Any) -> str:
    """An ``alg: none`` token, built by hand: what an attacker sends."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    body: dict[str, Any] = {"sub": "mallory", "tenant": "acme", "role": "admin"}
    body["aud"], body["iss"] = JWT_AUDIENCE, JWT_ISSUER
    now = int(time.time())
    body |= {"iat": now, "exp": now + 60, **claims}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(body)}."


@dataclasses.dataclass
class Api:
    client: httpx.AsyncClient
    app: Starlette
    settings: ComponentSettings

    async def upload(
        self,
        data: bytes = b"patient note: blood pressure normal",
        *,
        api_key: str = "acme-operator-key-0002",
        subject: str = "subject-1",
        filename: str = "note.txt",
        content_type: str = "text/plain",
    ) -> httpx.Response:
        return await self.client.post(
            "/documents",
            files={"file": (filename, data, content_type)},
            data={"subject_id": subject},
            headers=key(api_key),
        )

    async def upload_id(self, data: bytes = b"a document", **kwargs: Any) -> str:
        response = await self.upload(data, **kwargs)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


@contextlib.asynccontextmanager
async def running_api(settings: ComponentSettings) -> AsyncIterator[Api]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(CLIENT_ADDR, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://docpipe.test") as c:
            yield Api(c, app, settings)


Start = Callable[..., Awaitable[Api]]


@pytest_asyncio.fixture
async def start(docpipe_db: DocpipeDatabase, tmp_path: Path) -> AsyncIterator[Start]:
    async with contextlib.AsyncExitStack() as stack:

        async def start(**options: Any) -> Api:
            settings = settings_for(docpipe_db, tmp_path / "storage", **options)
            return await stack.enter_async_context(running_api(settings))

        yield start


@pytest_asyncio.fixture
async def api(start: Start) -> Api:
    return await start()


@pytest_asyncio.fixture
async def owner(docpipe_db: DocpipeDatabase) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(docpipe_db.owner_dsn)
    try:
        yield conn
    finally:
        await conn.close()


async def audit_rows(owner: asyncpg.Connection, action: str) -> list[asyncpg.Record]:
    return list(await owner.fetch("select * from audit_log where action = $1 order by id", action))


async def complete(owner: asyncpg.Connection, doc_id: str, text: str = "parsed text") -> None:
    """Mark a document processed, as a worker would, with a result row."""
    await owner.execute("update documents set state = 'completed' where id = $1", doc_id)
    await owner.execute(
        "insert into results (document_id, text, chunk_count, embedding_dimensions)"
        " values ($1, $2, 3, 8)",
        doc_id,
        text,
    )


@contextlib.contextmanager
def serve_in_thread(app: ASGIApp | uvicorn.Config) -> Iterator[str]:
    """Serve ``app`` (or a ready uvicorn config) on 127.0.0.1; yield its base URL (no scheme)."""
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY when the socket says it is TCP,
    # and without it every response waits ~40 ms for Nagle.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # connections made before uvicorn runs wait here
    port = sock.getsockname()[1]
    config = app if isinstance(app, uvicorn.Config) else uvicorn.Config(app, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def closed_port_url() -> str:
    """A URL nothing listens on: the port was bound and released, so connections are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"
