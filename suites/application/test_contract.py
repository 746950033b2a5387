"""API contracts: every read route's status code, content type and JSON shape vs the baseline.

The route table holds plain values (method, path template, role), so baseline keys stay stable
when routes are added or reordered. Document routes read one synthetic document.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pytest_prodval import Baseline

if TYPE_CHECKING:
    from .conftest import CompletedDocument

pytestmark = [pytest.mark.application]

# (method, path, role): routes that only read (an /audit read is itself audited, as any read).
READ_ROUTES = [
    ("GET", "/health", "viewer"),
    ("GET", "/ready", "viewer"),
    ("GET", "/version", "viewer"),
    ("GET", "/metrics", "viewer"),
    ("GET", "/audit?limit=5", "admin"),
    ("GET", "/prodval-no-such-route", "viewer"),
    ("PUT", "/health", "viewer"),
]
# Path templates filled with the synthetic document's id and subject.
DOCUMENT_ROUTES = [
    ("GET", "/documents/{id}", "viewer"),
    ("GET", "/documents/{id}/result", "viewer"),
    ("GET", "/documents/{id}/content", "viewer"),
    ("GET", "/subjects/{subject}/export", "admin"),
]

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
    "/audit?limit=5": _AUDIT_OPTIONAL,
    "/documents/{id}": _DOCUMENT_OPTIONAL,
    "/subjects/{subject}/export": [
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


def _judge_json(baseline: Baseline, path: str, response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    if path.startswith("/audit"):
        body = _audit_page(body)
    baseline.shape("body", body, optional=OPTIONAL.get(path, ()))
    return body if isinstance(body, dict) else {}


@pytest.mark.parametrize(("method", "path", "role"), READ_ROUTES)
def test_read_route_answers_with_the_baseline_status_and_shape(
    method: str,
    path: str,
    role: str,
    api_as: Callable[[str], httpx.Client],
    baseline: Baseline,
) -> None:
    """A read route answers with the baseline's status code, content type and JSON shape.

    Guards against: routes answering 500 (`error_rate`), removed or renamed routes, changed
    response contracts, error bodies that lose their JSON shape, a 405 without ``Allow``.
    """
    client = api_as(role)
    response = client.request(method, path)
    if path.startswith("/audit") and response.status_code == 200:
        if not response.json().get("entries"):
            # A fresh tenant has no audit rows; the first read wrote one, so read again.
            response = client.request(method, path)
    baseline.exact("status code", response.status_code)
    baseline.exact("content type", _media_type(response))
    if path == "/metrics":
        families = sorted(
            family.name
            for family in text_string_to_metric_families(response.text)
            if family.name.startswith("docpipe_")
        )
        baseline.exact("metric families", families)
        return
    body = _judge_json(baseline, path, response)
    if response.status_code >= 400:
        baseline.exact("error", body.get("error"))
    if response.status_code == 405:
        # Starlette builds Allow from a set: the order changes between processes.
        allowed = sorted(m.strip() for m in response.headers.get("allow", "").split(",") if m)
        baseline.exact("allowed methods", allowed)


@pytest.mark.synthetic
@pytest.mark.parametrize(("method", "path", "role"), DOCUMENT_ROUTES)
def test_document_route_answers_with_the_baseline_status_and_shape(
    method: str,
    path: str,
    role: str,
    api_as: Callable[[str], httpx.Client],
    completed_document: CompletedDocument,
    baseline: Baseline,
) -> None:
    """A document route answers for a synthetic document with the baseline's contract.

    Guards against: document reads answering 500 (`error_rate`), a renamed result field
    (`schema_drift`), content served changed or with another type, an export losing fields.
    """
    doc = completed_document
    if path.endswith("/result") and doc.document.get("state") != "completed":
        pytest.fail(
            f"the synthetic document {doc.id} ended {doc.document.get('state')!r} "
            f"({doc.document.get('failure_reason')}), so its result contract cannot be checked"
        )
    response = api_as(role).request(method, path.format(id=doc.id, subject=doc.subject))
    baseline.exact("status code", response.status_code)
    baseline.exact("content type", _media_type(response))
    if not path.endswith("/content"):
        _judge_json(baseline, path, response)
        return
    baseline.exact("content disposition", response.headers.get("content-disposition"))
    assert response.content == doc.content, (
        f"GET {path}: served {len(response.content)} bytes that differ from the "
        f"{len(doc.content)} bytes uploaded"
    )
    digest = hashlib.sha256(doc.content).hexdigest()
    assert response.headers.get("x-content-sha256") == digest, (
        f"GET {path}: X-Content-SHA256 {response.headers.get('x-content-sha256')!r} is not "
        f"the uploaded content's SHA-256 {digest}"
    )
