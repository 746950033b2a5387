"""Authorization: the role ladder, tenant isolation (BOLA), and what a response may expose.

Role checks address random ids: a 403 is decided before any document is looked up, so no
document is needed and nothing is changed. Even with a broken role ladder nothing would be:
the DELETE names no existing document, the upload is empty (refused as such), and a purge
removes only what the retention job removes anyway.
Tenant isolation needs a real document of one tenant, read by the admin of another: those
checks are synthetic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_prodval import Baseline

from .._support import AwaitState
from ._support import ClientFor, error_body, random_id

if TYPE_CHECKING:
    from ..conftest import SyntheticDocuments

pytestmark = [pytest.mark.security]

# (method, path template, minimum role): routes above the viewer's rank.
PRIVILEGED_ROUTES = [
    ("DELETE", "/documents/{id}", "operator"),
    ("POST", "/documents", "operator"),
    ("GET", "/subjects/{subject}/export", "admin"),
    ("GET", "/audit", "admin"),
    ("POST", "/admin/retention/purge", "admin"),
]
RANKS = {"viewer": 0, "operator": 1, "admin": 2}
# Document fields clients may see: anything else (storage_key, internal ids) is a leak.
DOCUMENT_OPTIONAL = ["$.failure_reason", "$.history[].from", "$.history[].reason"]


def _path(template: str) -> str:
    return template.format(id=random_id(), subject=f"prodval-security-{random_id()}")


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_a_lower_role_is_refused_every_route_above_its_rank(
    client_for: ClientFor, role: str, baseline: Baseline
) -> None:
    """Viewer (and operator) credentials on routes of a higher role answer 403, as recorded.

    Guards against: a broken role ladder - a viewer deleting or uploading documents, an
    operator exporting subjects, reading the audit log or purging.
    Evidences: HIPAA 45 CFR 164.312(a)(1) (access control), 164.308(a)(4) (access management)
    """
    client = client_for(role)
    statuses = {
        f"{method} {path}": client.request(method, _path(path)).status_code
        for method, path, minimum in PRIVILEGED_ROUTES
        if RANKS[minimum] > RANKS[role]
    }
    wrong = {route: status for route, status in statuses.items() if status != 403}
    assert not wrong, f"{role} credentials on higher-role routes, expected 403 each: {wrong}"
    baseline.exact("statuses", statuses)


@pytest.mark.synthetic
def test_another_tenant_cannot_read_or_delete_a_document(
    synthetic: SyntheticDocuments, client_for: ClientFor, baseline: Baseline
) -> None:
    """Another tenant's admin gets a random id's 404 on every route of a document (BOLA).

    It can neither read, nor read the result or content of, nor delete the document (which
    still exists afterwards), nor see it in its own export of the same subject.

    Guards against: broken object-level authorization (BOLA), documents of one tenant served
    to another (`tenant_leak`), and a 404 that differs from a random id's (existence oracle).
    Evidences: HIPAA 45 CFR 164.312(a)(1) (access control); GDPR Art.32 (confidentiality)
    """
    other = client_for("other_tenant_admin")  # skips before uploading when not configured
    created = synthetic.upload()
    assert created.status_code == 201, f"synthetic upload answered {created.status_code}"
    document_id = created.json()["id"]
    unknown = other.get(f"/documents/{random_id()}")
    statuses: dict[str, int] = {}
    leaked: list[str] = []
    for method, template in [
        ("GET", "/documents/{id}"),
        ("GET", "/documents/{id}/result"),
        ("GET", "/documents/{id}/content"),
        ("DELETE", "/documents/{id}"),
    ]:
        response = other.request(method, template.format(id=document_id))
        statuses[f"{method} {template}"] = response.status_code
        if response.status_code != 404:
            leaked.append(f"{method} {template} -> {response.status_code}: {response.text[:100]!r}")
        elif error_body(response) != error_body(unknown):
            leaked.append(
                f"{method} {template}: 404 body {error_body(response)!r} differs from a random "
                f"id's {error_body(unknown)!r}"
            )
    export = other.get(f"/subjects/{synthetic.subject}/export")
    exported = export.json().get("documents", []) if export.status_code == 200 else []
    if any(document.get("id") == document_id for document in exported):
        leaked.append(f"the other tenant's export of subject {synthetic.subject} lists it")
    still_there = synthetic.uploader.get(f"/documents/{document_id}").status_code
    assert not leaked, (
        f"tenant isolation broken for document {document_id} (owner: the operator's tenant, "
        "caller: other_tenant_admin):\n  " + "\n  ".join(leaked)
    )
    assert still_there == 200, (
        f"after the other tenant's DELETE, the owner reads its document with {still_there}"
    )
    baseline.exact("statuses", statuses)


@pytest.mark.synthetic
def test_a_document_response_exposes_no_field_beyond_the_baseline(
    synthetic: SyntheticDocuments, baseline: Baseline
) -> None:
    """The upload answer and GET /documents/{id} carry exactly the baseline's fields.

    Guards against: internal fields leaking into responses (storage_key, paths, other tenants'
    ids), i.e. excessive data exposure.
    Evidences: GDPR Art.5(1)(c) (data minimisation)
    """
    created = synthetic.upload()
    assert created.status_code == 201, f"synthetic upload answered {created.status_code}"
    document = synthetic.uploader.get(f"/documents/{created.json()['id']}")
    assert document.status_code == 200, f"GET document answered {document.status_code}"
    body = document.json()
    internal = sorted(k for k in body if "storage" in k or "path" in k or k.startswith("_"))
    assert not internal, f"document response exposes internal fields: {internal}"
    baseline.shape("upload", created.json(), allow_extra=False)
    baseline.shape("document", body, optional=DOCUMENT_OPTIONAL, allow_extra=False)


@pytest.mark.synthetic
def test_a_result_response_exposes_no_field_beyond_the_baseline(
    synthetic: SyntheticDocuments, await_state: AwaitState, baseline: Baseline
) -> None:
    """GET /documents/{id}/result of a processed document carries exactly the baseline's fields.

    Guards against: internal fields (embeddings, storage keys, worker ids) leaking into the
    result response.
    Evidences: GDPR Art.5(1)(c) (data minimisation)
    """
    created = synthetic.upload()
    assert created.status_code == 201, f"synthetic upload answered {created.status_code}"
    document_id = created.json()["id"]
    document, _ = await_state(synthetic, document_id, {"completed", "failed"})
    if document["state"] != "completed":
        pytest.skip(f"the synthetic document {document['state']}: no result to inspect")
    result = synthetic.uploader.get(f"/documents/{document_id}/result")
    assert result.status_code == 200, f"GET result answered {result.status_code}"
    baseline.shape("result", result.json(), allow_extra=False)
