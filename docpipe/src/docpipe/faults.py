"""Fault switches: each one a realistic production regression, switched on by name.

Components read the active set from ``DOCPIPE_FAULTS`` (``name`` or ``name=value``, comma
separated); ``docpipe up --fault`` and ``docpipe deploy --fault`` set it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

__all__ = ["FAULTS", "FaultError", "Faults"]

FAULTS: dict[str, str] = {
    "slow_api": "API responses take longer (value: added fraction of client latency, default 0.25)",
    "error_rate": "a share of API requests answer 500 (value: share, default 0.2)",
    "auth_bypass": "GET /documents/{id} accepts requests without credentials",
    "tenant_leak": "documents of other tenants can be read",
    "no_audit": "document reads are not written to the audit log",
    "worker_stalled": "workers take no jobs and stop their heartbeat",
    "state_skip": "documents reach completed without the embedding step",
    "erasure_incomplete": "deleting a document leaves its chunks behind",
    "retention_off": "the scheduled retention purge does not run; an explicit one deletes nothing",
    "schema_drift": "a response field is renamed (chunk_count -> chunks)",
    "leaky_errors": "500 responses carry a stack trace and the server version",
    "weak_headers": "security headers are missing",
    "slow_db": "every database query is delayed (value: seconds, default 0.05)",
    "slow_embedder": "the embedder takes 2.5 s per request (value: seconds)",
    "cert_expiring": "the API's TLS certificate is valid for under 7 days",
    "migration_behind": "the database schema is one version behind the release",
    "unlisted_route": "a debug route left in the release: public GET /debug/routes, in no baseline",
    "lose_rows": "the release's start deletes a share of the documents rows (value: share, "
    "default 0.2)",
    "corrupt_rows": "the release's start alters the sha256 of a share of the documents rows "
    "(value: share, default 0.2)",
}

_DEFAULTS = {
    "slow_api": 0.25,
    "error_rate": 0.2,
    "slow_db": 0.05,
    "slow_embedder": 2.5,
    "lose_rows": 0.2,
    "corrupt_rows": 0.2,
}


class FaultError(ValueError):
    """An unknown fault name or a bad value; str() is one line."""


@dataclasses.dataclass(frozen=True)
class Faults:
    active: Mapping[str, float | None] = dataclasses.field(default_factory=dict)

    @classmethod
    def parse(cls, specs: Iterable[str]) -> Faults:
        active: dict[str, float | None] = {}
        for spec in specs:
            for part in filter(None, (p.strip() for p in spec.split(","))):
                name, _, raw = part.partition("=")
                if name not in FAULTS:
                    raise FaultError(
                        f"unknown fault {name!r}; expected one of: {', '.join(sorted(FAULTS))}"
                    )
                if raw:
                    try:
                        value: float | None = float(raw)
                    except ValueError:
                        raise FaultError(f"fault {name}: expected a number, got {raw!r}") from None
                else:
                    value = _DEFAULTS.get(name)
                active[name] = value
        return cls(active)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Faults:
        return cls.parse([environ.get("DOCPIPE_FAULTS", "")])

    def __contains__(self, name: object) -> bool:
        return name in self.active

    def value(self, name: str) -> float:
        value = self.active.get(name)
        return float(value if value is not None else _DEFAULTS.get(name, 0.0))

    def spec(self) -> str:
        return ",".join(
            name if value is None or value == _DEFAULTS.get(name) else f"{name}={value:g}"
            for name, value in sorted(self.active.items())
        )
