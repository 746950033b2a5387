"""API contracts: every read route's status code, content type and JSON shape vs the baseline.

The routes are the GET operations of the target's route inventory (``suites/_inventory.py``):
those that touch no personal data are read as they are; the others (and any with a path
parameter) read one synthetic document and its subject. Baseline names start with the
route's ``METHOD PATH``, so entries stay stable when routes are added or reordered; every
route is judged before the check fails.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pytest_prodval import Baseline, BaselineMismatch

from .._inventory import Inventory, Operation, listing_query, synthetic_values

if TYPE_CHECKING:
    from .conftest import CompletedDocument

pytestmark = [pytest.mark.application]

# Requests no route serves, as the default role: their error contract (404; 405 with Allow).
ERROR_PROBES = [("GET", "/prodval-no-such-route"), ("PUT", "/health")]
LOWEST_ROLE = "viewer"  # for public routes

_DOCUMENT_OPTIONAL = ["$.failure_reason", "$.history[].from", "$.history[].reason"]
_AUDIT_OPTIONAL = [
    f"$.entries[].{key}"
    for key in ("tenant_id", "role", "resource_type", "resource_id", "remote_addr")
]
_READY_OPTIONAL = [
    f"$.components.{name}.error"
    for name in ("database", "storage", "workers", "parser", "embedder")
]
# Paths whose values may legitimately be absent or null, per route template.
OPTIONAL: dict[str, list[str]] = {
    "/ready": _READY_OPTIONAL,
    "/audit": _AUDIT_OPTIONAL,
    "/documents/{document_id}": _DOCUMENT_OPTIONAL,
    "/subjects/{subject_id}/export": [
        "$.documents[].result",
        *(path.replace("$.", "$.documents[].") for path in _DOCUMENT_OPTIONAL),
    ],
}


def _media_type(response: httpx.Response) -> str:
    return str(response.headers.get("content-type", "")).split(";")[0].strip().lower()


def _audit_page(body: dict[str, Any]) -> dict[str, Any]:
    """Each entry's ``detail`` differs by action: keep that it is an object, not its keys."""
    entries = body.get("entries")
    if not isinstance(entries, list):
        return body
    return {
        **body,
        "entries": [
            {**entry, "detail": {}} if isinstance(entry.get("detail"), dict) else entry
            for entry in entries
            if isinstance(entry, dict)
        ],
    }


def _judge(baseline: Baseline, route: str, path: str, response: httpx.Response) -> None:
    """Status code, content type, and the body's shape (metric families for Prometheus)."""
    __tracebackhide__ = True
    baseline.exact(f"{route} status code", response.status_code)
    media_type = _media_type(response)
    baseline.exact(f"{route} content type", media_type)
    disposition = response.headers.get("content-disposition")
    if disposition is not None:
        baseline.exact(f"{route} content disposition", disposition)
    if path == "/metrics":
        families = sorted(
            family.name
            for family in text_string_to_metric_families(response.text)
            if family.name.startswith("docpipe_")
        )
        baseline.exact(f"{route} metric families", families)
        return
    if media_type != "application/json":
        return
    body = response.json()
    if path == "/audit" and isinstance(body, dict):
        body = _audit_page(body)
    baseline.shape(f"{route} body", body, optional=OPTIONAL.get(path, ()))
    if response.status_code >= 400 and isinstance(body, dict):
        baseline.exact(f"{route} error", body.get("error"))


def _judged(baseline: Baseline, answers: dict[str, tuple[str, httpx.Response]]) -> None:
    """Judge every answer, then fail once, naming each route that differs."""
    __tracebackhide__ = True
    differ = []
    for route, (path, response) in answers.items():
        try:
            _judge(baseline, route, path, response)
        except BaselineMismatch as exc:
            first = str(exc).splitlines()[0]
            if first.startswith("no baseline entry"):
                differ.append(f"{route}: no baseline entry (a route the baseline does not know)")
            else:
                differ.append(first)  # "<route> body: <first difference> — <what kind>"
    if differ:
        # What differs first: pytest's short summary keeps only the start of the line.
        raise BaselineMismatch("; ".join(differ) + f" ({len(differ)} of {len(answers)} routes)")


def _role(op: Operation) -> str:
    return op.min_role or LOWEST_ROLE


def test_read_route_answers_with_the_baseline_status_and_shape(
    inventory: Inventory, api_as: Callable[[str], httpx.Client], baseline: Baseline
) -> None:
    """Every GET route of the inventory without personal data or path parameters answers, as
    its lowest role, with the baseline's status code, content type and JSON shape.

    Guards against: routes answering 500 (`error_rate`), removed or renamed routes, changed
    response contracts.
    """
    answers = {
        op.name: (op.path, api_as(_role(op)).get(op.path))
        for op in inventory.operations
        if op.method == "GET" and not op.personal_data and not op.params
    }
    _judged(baseline, answers)


@pytest.mark.parametrize(("method", "path"), ERROR_PROBES)
def test_an_unrouted_request_answers_with_the_baseline_error(
    method: str, path: str, api: httpx.Client, baseline: Baseline
) -> None:
    """A path no route serves, and a method a route does not serve, answer with the
    baseline's status, content type and JSON error; a 405 names the allowed methods.

    Guards against: error bodies that lose their JSON shape, a 405 without ``Allow``.
    """
    response = api.request(method, path)
    _judge(baseline, f"{method} {path}", path, response)
    if response.status_code == 405:
        # Starlette builds Allow from a set: the order changes between processes.
        allowed = sorted(m.strip() for m in response.headers.get("allow", "").split(",") if m)
        baseline.exact("allowed methods", allowed)


@pytest.mark.synthetic
def test_document_route_answers_with_the_baseline_status_and_shape(
    inventory: Inventory,
    api_as: Callable[[str], httpx.Client],
    completed_document: CompletedDocument,
    baseline: Baseline,
) -> None:
    """Every GET route of the inventory with personal data or a path parameter answers, for a
    synthetic document and its subject, as its lowest role, with the baseline's contract; the
    content served is the content uploaded.

    Guards against: document reads answering 500 (`error_rate`), a renamed result field
    (`schema_drift`), content served changed or with another type, an export or a listing
    losing fields.
    """
    doc = completed_document
    if doc.document.get("state") != "completed":
        pytest.fail(
            f"the synthetic document {doc.id} ended {doc.document.get('state')!r} "
            f"({doc.document.get('failure_reason')}), so its result contract cannot be checked"
        )
    values = synthetic_values(doc.id, doc.subject)
    answers: dict[str, tuple[str, httpx.Response]] = {}
    for op in inventory.operations:
        if op.method == "GET" and (op.personal_data or op.params):
            client = api_as(_role(op))
            query = listing_query(op, doc.subject, limit=5)
            answers[op.name] = (op.path, client.get(op.url(values), params=query))
    problems = [
        f"{route}: {_content_problem(response, doc.content)}"
        for route, (_, response) in answers.items()
        if _media_type(response) == doc.content_type and _content_problem(response, doc.content)
    ]
    _judged(baseline, answers)
    assert not problems, "; ".join(problems)


def _content_problem(response: httpx.Response, content: bytes) -> str:
    if response.content != content:
        return f"served {len(response.content)} bytes that differ from the {len(content)} uploaded"
    digest = hashlib.sha256(content).hexdigest()
    if response.headers.get("x-content-sha256") != digest:
        return f"X-Content-SHA256 {response.headers.get('x-content-sha256')!r} is not {digest}"
    if not response.headers.get("content-disposition", "").startswith("attachment"):
        return f"Content-Disposition {response.headers.get('content-disposition')!r}"
    return ""
