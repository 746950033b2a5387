"""What each docpipe component reads from its environment: the supervisor's contract with them.

The supervisor (``docpipe up``) starts every component as a child process with these
variables set; a component started by hand needs the same.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

from . import DEFAULT_RELEASE, RELEASES
from .faults import Faults

__all__ = ["ComponentSettings"]


@dataclasses.dataclass(frozen=True)
class ComponentSettings:
    app_dsn: str  # DOCPIPE_APP_DSN: the restricted application role (cannot alter the audit log)
    release: str  # DOCPIPE_RELEASE
    faults: Faults  # DOCPIPE_FAULTS
    storage_dir: Path  # DOCPIPE_STORAGE_DIR
    parser_url: str  # DOCPIPE_PARSER_URL, e.g. http://127.0.0.1:8444
    embedder_url: str  # DOCPIPE_EMBEDDER_URL, e.g. http://127.0.0.1:8445
    jwt_secret: str  # DOCPIPE_JWT_SECRET (HS256)
    jwt_audience: str  # DOCPIPE_JWT_AUDIENCE, default "docpipe"
    service_key: str  # DOCPIPE_SERVICE_KEY: bearer key the worker sends to parser/embedder
    retention_days: float  # DOCPIPE_RETENTION_DAYS, default 30
    worker_poll_s: float  # DOCPIPE_WORKER_POLL_S, default 0.2
    heartbeat_s: float  # DOCPIPE_HEARTBEAT_S, default 1
    http_timeout_s: float  # DOCPIPE_HTTP_TIMEOUT_S: worker -> parser/embedder, default 10
    tls: bool  # DOCPIPE_TLS=1 when the API serves HTTPS (HSTS is sent then)
    jwt_issuer: str = "docpipe"  # DOCPIPE_JWT_ISSUER: the only accepted ``iss``
    # DOCPIPE_JWT_MAX_LIFETIME_S: longest accepted ``exp - iat``, default 3600 (HIPAA
    # automatic logoff: a stolen or forgotten token must not stay usable for a day).
    jwt_max_lifetime_s: float = 3600.0

    @property
    def expected_schema(self) -> int:
        return RELEASES[self.release]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ComponentSettings:
        env = os.environ if environ is None else environ

        def need(name: str) -> str:
            try:
                return env[name]
            except KeyError:
                raise SystemExit(f"docpipe: environment variable {name} is not set") from None

        release = env.get("DOCPIPE_RELEASE", DEFAULT_RELEASE)
        if release not in RELEASES:
            raise SystemExit(
                f"docpipe: unknown release {release!r}; expected one of: {', '.join(RELEASES)}"
            )
        return cls(
            app_dsn=need("DOCPIPE_APP_DSN"),
            release=release,
            faults=Faults.from_env(env),
            storage_dir=Path(need("DOCPIPE_STORAGE_DIR")),
            parser_url=env.get("DOCPIPE_PARSER_URL", ""),
            embedder_url=env.get("DOCPIPE_EMBEDDER_URL", ""),
            jwt_secret=need("DOCPIPE_JWT_SECRET"),
            jwt_audience=env.get("DOCPIPE_JWT_AUDIENCE", "docpipe"),
            service_key=env.get("DOCPIPE_SERVICE_KEY", ""),
            retention_days=float(env.get("DOCPIPE_RETENTION_DAYS", "30")),
            worker_poll_s=float(env.get("DOCPIPE_WORKER_POLL_S", "0.2")),
            heartbeat_s=float(env.get("DOCPIPE_HEARTBEAT_S", "1")),
            http_timeout_s=float(env.get("DOCPIPE_HTTP_TIMEOUT_S", "10")),
            tls=env.get("DOCPIPE_TLS", "0") == "1",
            jwt_issuer=env.get("DOCPIPE_JWT_ISSUER", "docpipe"),
            jwt_max_lifetime_s=float(env.get("DOCPIPE_JWT_MAX_LIFETIME_S", "3600")),
        )
