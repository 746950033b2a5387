"""The route table's declarations: per operation, who may call it and what it touches, once.

Enforcement and description read the same declaration. ``authenticate`` takes the lowest role
from it and handlers their audit action; ``GET /openapi.json`` (Starlette's schema generator)
publishes it as ``x-min-role``, ``x-personal-data``, ``x-tenant-scoped`` and
``x-audit-action``. So the inventory a validation run checks cannot drift from what the API
enforces: changing one changes the other.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, request_response
from starlette.schemas import SchemaGenerator
from starlette.types import Receive, Scope, Send

__all__ = ["Operation", "Operations", "RouteInventory", "api_route", "audit_action", "declared"]

Handler = Callable[[Request], Awaitable[Response]]
_OPERATION_KEY = "docpipe.operation"
_PATH_PARAM = re.compile(r"{(\w+)}")


@dataclasses.dataclass(frozen=True)
class Operation:
    """One method of one path. ``min_role`` None: public (no credentials asked)."""

    handler: Handler
    summary: str
    min_role: str | None = None
    # Reads or writes personal data: every access leaves an audit row (``audit_action``).
    personal_data: bool = False
    # Addresses or returns one tenant's data: another tenant gets 404/403, or does not see it.
    tenant_scoped: bool = False
    audit_action: str | None = None

    def __post_init__(self) -> None:
        if self.personal_data and (self.min_role is None or self.audit_action is None):
            raise ValueError(f"{self.summary}: personal data needs a role and an audit action")

    def openapi(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "responses": {"default": {"description": "JSON; errors as {error, request_id}"}},
            "x-min-role": self.min_role,
            "x-personal-data": self.personal_data,
            "x-tenant-scoped": self.tenant_scoped,
            "x-audit-action": self.audit_action,
        }


class Operations:
    """A path's operations, as the ASGI app of its ``Route``.

    Each operation is also the attribute named after its method (as on an ``HTTPEndpoint``):
    that is where Starlette's schema generator looks for the operations of a non-function
    endpoint.
    """

    def __init__(self, operations: Mapping[str, Operation]) -> None:
        self.by_method = {method.upper(): op for method, op in operations.items()}
        for method, operation in self.by_method.items():
            setattr(self, method.lower(), operation)
        self._app = request_response(self._dispatch)

    def of(self, method: str) -> Operation:
        return self.by_method["GET" if method == "HEAD" else method]

    async def _dispatch(self, request: Request) -> Response:
        operation = self.of(request.method)
        request.scope[_OPERATION_KEY] = operation
        return await operation.handler(request)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


def api_route(path: str, **operations: Operation) -> Route:
    """``api_route("/documents", GET=Operation(...), POST=Operation(...))``: one route, so a
    405 lists every method in ``Allow``."""
    endpoint = Operations(operations)
    return Route(path, endpoint, methods=list(endpoint.by_method), name=path)


def declared(request: Request) -> Operation:
    """The operation the request was routed to."""
    operation = request.scope.get(_OPERATION_KEY)
    if not isinstance(operation, Operation):
        raise RuntimeError(f"{request.method} {request.url.path}: served without a declaration")
    return operation


def audit_action(request: Request) -> str:
    """The audit action declared for the operation the request was routed to."""
    action = declared(request).audit_action
    if action is None:
        raise RuntimeError(f"{request.method} {request.url.path}: no audit action declared")
    return action


class RouteInventory(SchemaGenerator):
    """OpenAPI 3 of every route: declared operations with their ``x-`` facts; a route served
    without a declaration is listed too, as ``x-declared: false``, so it cannot hide."""

    def __init__(self, version: str, roles: list[str]) -> None:
        super().__init__(
            {
                "openapi": "3.0.3",
                "info": {"title": "docpipe", "version": version},
                "x-roles": roles,  # lowest first: each role may do all the ones before it may
            }
        )

    def parse_docstring(self, func_or_method: Any) -> dict[str, Any]:
        if isinstance(func_or_method, Operation):
            return {**func_or_method.openapi(), "x-declared": True}
        return {"summary": getattr(func_or_method, "__name__", "?"), "x-declared": False}

    def get_schema(self, routes: list[BaseRoute]) -> dict[str, Any]:
        schema = super().get_schema(routes)
        for path, operations in schema["paths"].items():
            parameters = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in _PATH_PARAM.findall(path)
            ]
            for operation in operations.values():
                if parameters:
                    operation["parameters"] = parameters
        return schema
