"""The target's route inventory: every operation, who may call it and what it touches.

The target describes its routes as OpenAPI 3 (``params.inventory_path``, default
``/openapi.json``), each operation with ``x-min-role`` (lowest role allowed; null: public),
``x-personal-data`` (every access leaves an audit row, of action ``x-audit-action``) and
``x-tenant-scoped`` (another tenant gets 404/403, or does not see the data); ``x-roles`` is
the role ladder, lowest first. An operation marked ``x-declared: false`` is served without a
declaration: it is judged as protected, its role unknown.

Why the route is a loop inside each check rather than a parameter of it: pytest fixes a
check's parameters at collection, before any fixture exists, and the suites reach the target
only through the plugin's fixtures. Fetching at collection would also send requests on
``--collect-only`` and from every xdist worker, each of which must collect the same checks.
So the ``inventory`` fixture fetches it once per session (at run time, from the target) and
each check judges every operation, names every one that fails, and keys its baseline table
by ``METHOD PATH``.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from pytest_prodval import Baseline

__all__ = [
    "DEFAULT_INVENTORY_PATH",
    "Inventory",
    "Operation",
    "fetch_inventory",
    "listing_query",
    "parse_inventory",
    "recorded",
    "synthetic_values",
]

DEFAULT_INVENTORY_PATH = "/openapi.json"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace", "query")
_PARAM = re.compile(r"{(\w+)}")


@dataclasses.dataclass(frozen=True)
class Operation:
    method: str  # upper case
    path: str  # the template, e.g. /documents/{document_id}
    min_role: str | None
    personal_data: bool
    tenant_scoped: bool
    audit_action: str | None
    declared: bool

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def public(self) -> bool:
        return self.declared and self.min_role is None

    @property
    def params(self) -> list[str]:
        return _PARAM.findall(self.path)

    def facts(self) -> dict[str, Any]:
        """What the baseline records of the operation."""
        return {
            "min_role": self.min_role,
            "personal_data": self.personal_data,
            "tenant_scoped": self.tenant_scoped,
            "audit_action": self.audit_action,
            "declared": self.declared,
        }

    def url(self, values: Mapping[str, str] | None = None) -> str:
        """The path with its parameters filled from ``values``; random ids where None.

        A parameter ``values`` does not know is a LookupError naming it and the route.
        """
        if values is None:
            return _PARAM.sub(lambda _: str(uuid.uuid4()), self.path)
        missing = [name for name in self.params if name not in values]
        if missing:
            raise LookupError(f"{self.name}: no value for {{{missing[0]}}}")
        return _PARAM.sub(lambda m: values[m.group(1)], self.path)


@dataclasses.dataclass(frozen=True)
class Inventory:
    roles: list[str]  # lowest first
    operations: list[Operation]

    def below(self, role: str | None, configured: Iterable[str]) -> list[str]:
        """The configured roles of the ladder ranked below ``role``, lowest first."""
        if role not in self.roles:
            return []
        present = set(configured)
        return [r for r in self.roles[: self.roles.index(role)] if r in present]

    def protected(self) -> list[Operation]:
        return [op for op in self.operations if not op.public]


def parse_inventory(body: Any) -> Inventory:
    """The inventory in an OpenAPI 3 document; ValueError (one line) when it is not one."""
    if not isinstance(body, dict) or not str(body.get("openapi", "")).startswith("3."):
        raise ValueError("not an OpenAPI 3 document (no 'openapi: 3.x')")
    paths, roles = body.get("paths"), body.get("x-roles", [])
    if not isinstance(paths, dict) or not paths:
        raise ValueError("no paths")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise ValueError(f"x-roles is not a list of role names: {roles!r}")
    operations = []
    for path, methods in sorted(paths.items()):
        if not isinstance(methods, dict):
            raise ValueError(f"{path}: operations are not an object")
        for method, operation in sorted(methods.items()):
            if method in _METHODS and isinstance(operation, dict):
                operations.append(_operation(method.upper(), path, operation))
    return Inventory(roles=list(roles), operations=operations)


def _operation(method: str, path: str, operation: dict[str, Any]) -> Operation:
    role = operation.get("x-min-role")
    action = operation.get("x-audit-action")
    if role is not None and not isinstance(role, str):
        raise ValueError(f"{method} {path}: x-min-role {role!r} is not a role name")
    return Operation(
        method=method,
        path=path,
        min_role=role,
        personal_data=operation.get("x-personal-data") is True,
        tenant_scoped=operation.get("x-tenant-scoped") is True,
        audit_action=action if isinstance(action, str) else None,
        declared=operation.get("x-declared", "x-min-role" in operation) is True,
    )


def fetch_inventory(client: httpx.Client, path: str) -> Inventory:
    """GET the inventory; ValueError (one line) when the target serves none."""
    response = client.get(path)
    if response.status_code != 200:
        raise ValueError(f"GET {path} answered {response.status_code}, expected 200")
    try:
        return parse_inventory(response.json())
    except ValueError as exc:
        raise ValueError(f"GET {path}: {exc}") from None


def recorded(baseline: Baseline, name: str) -> Any | None:
    """The value the baseline holds for this check's exact comparison ``name``; None while
    recording or when it has none."""
    if baseline.recording:
        return None
    entry = baseline.entries.get(f"{baseline.test}::{name}")
    return entry.get("value") if entry and entry.get("kind") == "exact" else None


def synthetic_values(document_id: str, subject: str) -> dict[str, str]:
    """Path parameter values that address a synthetic document and its data subject."""
    return {"document_id": document_id, "id": document_id, "subject_id": subject}


def listing_query(op: Operation, subject: str, limit: int = 1000) -> dict[str, str] | None:
    """For an operation that addresses nothing (a listing): narrow it to the synthetic subject
    and take a page of ``limit``, by default full, so the document is on it if the listing
    shows it at all. A target ignores the parameters it does not know."""
    return None if op.params else {"subject_prefix": subject, "limit": str(limit)}
