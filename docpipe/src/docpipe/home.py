"""docpipe's home directory: state, credentials, TLS material, data, logs.

One home is one deployment. The CLI and the supervisor talk through files here (and
signals): ``state.json`` is written only by the supervisor, ``deploy-request.json`` only by
the CLI.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["Credentials", "Home", "read_json", "write_json"]

DEFAULT_HOME = ".docpipe"

# Fixed ports of the default local deployment (prodval.yaml's `local` environment points here).
DEFAULT_PORTS = {"api": 8443, "parser": 8444, "embedder": 8445, "postgres": 8446}

# Tenants and roles every deployment has: acme is the tenant under validation, globex exists so
# that isolation between tenants can be checked.
TENANT_NAMES = {"acme": "Acme Health", "globex": "Globex Clinics"}
KEY_ROLES = {
    "admin": ("acme", "admin"),
    "operator": ("acme", "operator"),
    "viewer": ("acme", "viewer"),
    "other_tenant_admin": ("globex", "admin"),
}


@dataclasses.dataclass(frozen=True)
class Credentials:
    """Secrets of one deployment. Local defaults can be replaced with DOCPIPE_* variables."""

    api_keys: dict[str, str]  # credential name (KEY_ROLES) -> api key
    jwt_secret: str
    service_key: str
    postgres_password: str
    app_password: str
    monitor_password: str

    @classmethod
    def create(cls, environ: dict[str, str] | os._Environ[str]) -> Credentials:
        def pick(name: str, default: str) -> str:
            return environ.get(name) or default

        return cls(
            api_keys={
                name: pick(f"DOCPIPE_{name.upper()}_API_KEY", f"local-{name.replace('_', '-')}-key")
                for name in KEY_ROLES
            },
            # Fixed local default so prodval.yaml's `local` environment can sign test tokens.
            jwt_secret=pick("DOCPIPE_JWT_SECRET", "local-jwt-signing-secret-for-tests-only"),
            service_key=pick("DOCPIPE_SERVICE_KEY", secrets.token_urlsafe(24)),
            postgres_password=secrets.token_urlsafe(18),
            app_password=secrets.token_urlsafe(18),
            monitor_password=pick("DOCPIPE_MONITOR_PASSWORD", "local-monitor-password"),
        )

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def resolve(cls, explicit: str | None = None) -> Home:
        return cls(Path(explicit or os.environ.get("DOCPIPE_HOME") or DEFAULT_HOME).absolute())

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def request_file(self) -> Path:
        return self.root / "deploy-request.json"

    @property
    def credentials_file(self) -> Path:
        return self.root / "credentials.json"

    @property
    def tls_dir(self) -> Path:
        return self.root / "tls"

    @property
    def pg_dir(self) -> Path:
        return self.root / "pgdata"

    @property
    def storage_dir(self) -> Path:
        return self.root / "storage"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    def credentials(self) -> Credentials:
        """The deployment's credentials, created on first use and kept (mode 0600)."""
        data = read_json(self.credentials_file)
        if data is not None:
            return Credentials(**data)
        credentials = Credentials.create(os.environ)
        write_json(self.credentials_file, credentials.to_json(), mode=0o600)
        return credentials

    def state(self) -> dict[str, Any] | None:
        state: dict[str, Any] | None = read_json(self.state_file)
        return state


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def write_json(path: Path, data: Any, *, mode: int = 0o644) -> None:
    """Atomic: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
