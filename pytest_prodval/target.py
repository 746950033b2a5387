"""Talking to the target: HTTP clients per role, the database pool, the reported version."""

from __future__ import annotations

import base64
import dataclasses
import logging
import ssl
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .safety.database import read_only_connection_class, session_settings
from .unreachable import TargetUnreachable, database_error

if TYPE_CHECKING:
    import asyncpg
    import httpx

    from .config import TargetEnv

__all__ = [
    "ApiProbe",
    "async_client",
    "client_options",
    "close_pool",
    "create_pool",
    "probe_api",
    "suite_commit",
    "sync_client",
]

GIT_TIMEOUT_S = 5.0
# The session's first exchange only says the release and whether the API can be reached: it
# is not worth more of the run than this (nor more than api.timeout or one check's budget).
PROBE_LIMIT_S = 5.0
_AUTH_HEADERS = ("authorization", "cookie", "x-api-key")


def client_options(
    env: TargetEnv, role: str | None = None, *, anonymous: bool = False
) -> dict[str, Any]:
    """httpx client keyword arguments: base URL, timeout, auth headers (not the transport).

    ``anonymous``: no credentials, and none of the configured headers that authenticate.
    """
    # httpx (with click and rich, when installed) is imported at the first client, not at
    # start-up: the active plugin may cost at most +0.1 s over an inactive one.
    import httpx

    if anonymous:
        authenticating = {*_AUTH_HEADERS, env.api.api_key_header.lower()}
        headers = {k: v for k, v in env.api.headers.items() if k.lower() not in authenticating}
    else:
        headers = dict(env.api.headers)
        headers.update(auth_headers(env, role))
    return {
        "base_url": env.api.base_url,
        "timeout": httpx.Timeout(env.api.timeout),
        "headers": headers,
        "follow_redirects": False,
    }


def _limits(env: TargetEnv) -> dict[str, Any]:
    """Each exchange's bounds: ``api.timeout`` its total deadline, ``api.max_body_mb`` the
    largest answer read (exchange.py)."""
    return {
        "max_body_bytes": int(env.api.max_body_mb * 2**20),
        "default_total_s": env.api.timeout,
        "verify": tls_verify(env),
    }


def tls_verify(env: TargetEnv) -> ssl.SSLContext | bool:
    """What httpx should verify the server with: the configured CA, the system's, or nothing."""
    if not env.api.verify_tls:
        return False
    if env.api.ca_file is None:
        return True
    return ssl.create_default_context(cafile=env.api.ca_file)


def auth_headers(env: TargetEnv, role: str | None) -> dict[str, str]:
    role = role or env.default_role
    if role is None:
        return {}
    credential = env.credentials.get(role)
    if credential is None:
        known = ", ".join(sorted(env.credentials)) or "none"
        raise LookupError(
            f"environment {env.name!r} has no credentials for role {role!r}; "
            f"configured roles: {known}"
        )
    if credential.api_key is not None:
        return {env.api.api_key_header: credential.api_key}
    if credential.bearer_token is not None:
        return {"Authorization": f"Bearer {credential.bearer_token}"}
    basic = f"{credential.username}:{credential.password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(basic).decode()}


def sync_client(
    env: TargetEnv, role: str | None = None, *, anonymous: bool = False
) -> httpx.Client:
    import httpx

    from .exchange import bounded_transport

    options = client_options(env, role, anonymous=anonymous)
    return httpx.Client(**options, transport=bounded_transport(**_limits(env)))


def async_client(env: TargetEnv, role: str | None = None) -> httpx.AsyncClient:
    import httpx

    from .exchange import bounded_async_transport

    transport = bounded_async_transport(**_limits(env))
    return httpx.AsyncClient(**client_options(env, role), transport=transport)


class _NoTraceback(logging.Filter):
    """asyncpg logs a full traceback each time it fails to refill the pool; one line will do."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        return True


async def create_pool(env: TargetEnv) -> asyncpg.Pool:
    """A pool whose sessions are read-only on protected environments, with timeouts set."""
    import asyncpg

    pool_log = logging.getLogger("asyncpg.pool")
    if not any(isinstance(f, _NoTraceback) for f in pool_log.filters):
        pool_log.addFilter(_NoTraceback())

    assert env.database is not None
    # Protected: every statement is checked before it is sent (safety/database.py).
    extra: dict[str, Any] = (
        {"connection_class": read_only_connection_class(env.name)} if env.protected else {}
    )
    try:
        pool: asyncpg.Pool = await asyncpg.create_pool(
            env.database.dsn,
            min_size=env.database.pool_min,
            max_size=env.database.pool_max,
            timeout=env.database.timeout,
            command_timeout=env.database.timeout,
            server_settings=session_settings(env),
            **extra,
        )
    except Exception as exc:
        line = database_error(exc, env, connecting=True)
        if line is None:
            raise
        raise TargetUnreachable(line) from None  # the line says it all; no asyncpg frames
    return pool


async def close_pool(pool: asyncpg.Pool, env: TargetEnv) -> None:
    """Close gracefully, or drop the connections: a stalled server must not hold up the run."""
    import asyncio

    assert env.database is not None
    try:
        await asyncio.wait_for(pool.close(), env.database.timeout)
    except (TimeoutError, asyncio.TimeoutError):
        pool.terminate()


@dataclasses.dataclass(frozen=True)
class ApiProbe:
    """What the session's first exchange with the API found."""

    version: str | None = None  # the release at ``api.version_path``, when it says
    unreachable: str | None = None  # one line when no connection could be made at all


def probe_api(env: TargetEnv) -> ApiProbe:
    """One exchange with the API at session start: its release, or why it cannot be reached.

    Only a connection that could not be made (refused, no route, DNS, TLS, connect timeout)
    counts as unreachable: an API that answers slowly or wrongly is for the checks to judge.
    """
    import httpx

    from .unreachable import explain

    limit_s = min(env.api.timeout, env.timeouts.check_s, PROBE_LIMIT_S)
    try:
        with sync_client(env) as client:
            response = client.get(env.api.version_path or "/", timeout=limit_s)
            if env.api.version_path is None:
                return ApiProbe()
            response.raise_for_status()
            value = response.json().get(env.api.version_field)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        return ApiProbe(unreachable=explain(exc, env))
    except (httpx.HTTPError, OSError, ValueError, AttributeError, LookupError):
        # OSError: an unreadable api.ca_file; the checks report it, one line each.
        return ApiProbe()
    return ApiProbe(version=None if value is None else str(value))


def suite_commit(rootdir: Path) -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=rootdir,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and commit else None
