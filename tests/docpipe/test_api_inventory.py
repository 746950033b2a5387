"""GET /openapi.json: the route inventory, generated from the declarations the API enforces;
against a real PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from docpipe.api.routes import Operation, RouteInventory, api_route
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.docpipe import api_harness
from tests.docpipe.api_harness import Api, Start, key

pytestmark = pytest.mark.asyncio
start, api = api_harness.start, api_harness.api

KEYS = {
    "viewer": "acme-viewer-key-0003",
    "operator": "acme-operator-key-0002",
    "admin": "acme-admin-key-0001",
}
FACTS = ("x-min-role", "x-personal-data", "x-tenant-scoped", "x-audit-action")


async def _inventory(api: Api) -> dict[str, Any]:
    response = await api.client.get("/openapi.json")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def _operations(inventory: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, methods in inventory["paths"].items()
        for method, operation in methods.items()
    }


async def test_the_inventory_lists_every_route_and_method_with_its_declared_facts(
    api: Api,
) -> None:
    inventory = await _inventory(api)
    assert inventory["openapi"].startswith("3.")
    assert inventory["x-roles"] == ["viewer", "operator", "admin"]
    operations = _operations(inventory)
    served = {
        f"{method} {route.path}"
        for route in api.app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    assert set(operations) == served
    assert all(operation["x-declared"] for operation in operations.values())
    facts = {name: tuple(op[f] for f in FACTS) for name, op in operations.items()}
    assert facts["GET /health"] == (None, False, False, None)
    assert facts["GET /documents"] == ("viewer", True, True, "document.list")
    assert facts["POST /documents"] == ("operator", True, False, "document.upload")
    assert facts["DELETE /documents/{document_id}"] == ("operator", True, True, "document.erase")
    assert facts["GET /subjects/{subject_id}/export"] == ("admin", True, True, "subject.export")
    parameters = operations["GET /documents/{document_id}/result"]["parameters"]
    assert [(p["name"], p["in"], p["required"]) for p in parameters] == [
        ("document_id", "path", True)
    ]


async def test_every_operation_enforces_the_role_the_inventory_declares(api: Api) -> None:
    """No credentials: 401 on every non-public operation; each role below the declared one:
    403; the declared role itself gets past the role check (anything but 401/403)."""
    ladder = ["viewer", "operator", "admin"]
    seen: dict[str, list[int]] = {}
    for name, operation in _operations(await _inventory(api)).items():
        method, path = name.split(" ", 1)
        path = path.format(document_id=uuid.uuid4(), subject_id="nobody")
        role = operation["x-min-role"]
        anonymous = await api.client.request(method, path)
        if role is None:
            assert anonymous.status_code not in (401, 403), name
            continue
        statuses = [anonymous.status_code]
        for caller in ladder[: ladder.index(role) + 1]:
            answer = await api.client.request(method, path, headers=key(KEYS[caller]))
            statuses.append(answer.status_code)
        seen[name] = statuses
        below = [403] * ladder.index(role)
        assert statuses[:-1] == [401, *below], f"{name}: {statuses}"
        assert statuses[-1] not in (401, 403), f"{name}: {statuses}"
    assert len(seen) == 10


async def test_unlisted_route_adds_a_public_route_to_the_inventory(start: Start) -> None:
    api = await start(faults="unlisted_route")
    operations = _operations(await _inventory(api))
    assert operations["GET /debug/routes"]["x-min-role"] is None
    assert (await api.client.get("/debug/routes")).status_code == 200
    clean = await start()
    assert "GET /debug/routes" not in _operations(await _inventory(clean))


async def _plain(request: Request) -> Response:
    return JSONResponse({})


async def test_a_route_served_without_a_declaration_is_listed_as_undeclared() -> None:
    declared = api_route("/a/{item}", GET=Operation(_plain, "a", "viewer"))
    schema = RouteInventory("1", ["viewer"]).get_schema([declared, Route("/b", _plain)])
    assert schema["paths"]["/b"]["get"]["x-declared"] is False
    assert schema["paths"]["/a/{item}"]["get"]["x-min-role"] == "viewer"
    assert schema["paths"]["/a/{item}"]["get"]["parameters"][0]["name"] == "item"


async def test_personal_data_needs_a_role_and_an_audit_action() -> None:
    with pytest.raises(ValueError, match="personal data needs a role and an audit action"):
        Operation(_plain, "x", None, personal_data=True)
