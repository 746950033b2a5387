"""Authorization: the role ladder, tenant isolation (BOLA), and what a response may expose.

The routes are those of the target's route inventory (``suites/_inventory.py``).
Role checks address random ids: a 403 is decided before any document is looked up, so no
document is needed and nothing is changed. Even with a broken role ladder nothing would be:
the DELETE names no existing document, the upload is empty (refused as such), and a purge
removes only what the retention job removes anyway.
Tenant isolation needs a real document of one tenant, read by the admin of another: those
checks are synthetic, and of the writes only DELETE is sent (on that synthetic document), and
one upload by the other tenant's admin (a synthetic document of its own, which it erases:
``other_tenant_synthetic`` in conftest.py).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import httpx
import pytest

from pytest_prodval import Baseline, TargetEnv

from .._inventory import Inventory, Operation, listing_query, synthetic_values
from .._support import AwaitState
from ._support import ClientFor, error_body

if TYPE_CHECKING:
    from ..conftest import SyntheticDocuments

pytestmark = [pytest.mark.security]

# Document fields clients may see: anything else (storage_key, internal ids) is a leak.
DOCUMENT_OPTIONAL = ["$.failure_reason", "$.history[].from", "$.history[].reason"]


def test_a_lower_role_is_refused_every_route_above_its_rank(
    client_for: ClientFor, target: TargetEnv, inventory: Inventory, baseline: Baseline
) -> None:
    """Every configured role below an operation's declared lowest role answers 403, as recorded.

    Guards against: a broken role ladder - a viewer deleting or uploading documents, an
    operator exporting subjects, reading the audit log or purging - on any route.
    Evidences: HIPAA 45 CFR 164.312(a)(1) (access control), 164.308(a)(4) (access management)
    """
    statuses = {
        f"{op.name} as {role}": client_for(role).request(op.method, op.url()).status_code
        for op in inventory.operations
        for role in inventory.below(op.min_role, target.credentials)
    }
    if not statuses:
        pytest.skip(f"no role of {target.name!r} ranks below any route's: nothing to refuse")
    wrong = [f"{route} -> {status}" for route, status in statuses.items() if status != 403]
    assert not wrong, "a role below the route's, expected 403: " + "; ".join(wrong)
    baseline.exact("statuses", statuses)


def _exercised(inventory: Inventory) -> list[Operation]:
    """Tenant-scoped reads, then DELETE: the writes that only touch the synthetic document.

    Reads that address nothing go first: the other tenant's refused attempts on the id are
    audited in its own log, with the id.
    """
    ops = [op for op in inventory.operations if op.tenant_scoped]
    reads = sorted((op for op in ops if op.method == "GET"), key=lambda op: bool(op.params))
    return [*reads, *(op for op in ops if op.method == "DELETE")]


def _leak(op: Operation, response: httpx.Response, unknown: httpx.Response | None, doc: str) -> str:
    status = response.status_code
    if status in (403, 404):
        if unknown is not None and status == 404 and error_body(response) != error_body(unknown):
            return f"404 body {error_body(response)!r} differs from a random id's"
        return ""
    if 200 <= status < 300 and op.method == "GET":
        return f"lists the document ({status})" if doc in response.text else ""
    return f"{status}: {response.text[:100]!r}"


@pytest.mark.synthetic
def test_another_tenant_cannot_read_or_delete_a_document(
    synthetic: SyntheticDocuments,
    client_for: ClientFor,
    inventory: Inventory,
    baseline: Baseline,
) -> None:
    """Another tenant's admin reaches a document on no tenant-scoped route of the inventory.

    By id it gets a random id's 404 (or 403) and the document still exists after its DELETE;
    listings, exports and the audit log it reads do not show the document.

    Guards against: broken object-level authorization (BOLA), documents of one tenant served
    to another (`tenant_leak`), a listing across tenants, and a 404 that differs from a random
    id's (existence oracle).
    Evidences: HIPAA 45 CFR 164.312(a)(1) (access control); GDPR Art.32 (confidentiality)
    """
    other = client_for("other_tenant_admin")  # skips before uploading when not configured
    created = synthetic.upload()
    assert created.status_code == 201, f"synthetic upload answered {created.status_code}"
    document_id = created.json()["id"]
    values = synthetic_values(document_id, synthetic.subject)
    statuses: dict[str, int] = {}
    leaked: list[str] = []
    for op in _exercised(inventory):
        try:
            url = op.url(values)
        except LookupError as exc:
            leaked.append(str(exc))
            continue
        query = listing_query(op, synthetic.subject)
        response = other.request(op.method, url, params=query)
        unknown = other.request(op.method, op.url()) if op.params else None
        statuses[op.name] = response.status_code
        if problem := _leak(op, response, unknown, document_id):
            leaked.append(f"{op.name}: {problem}")
    still_there = synthetic.uploader.get(f"/documents/{document_id}").status_code
    assert not leaked, (
        f"tenant isolation broken for document {document_id} (owner: the operator's tenant, "
        "caller: other_tenant_admin): " + "; ".join(leaked)
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


# Who reads which of the two copies, and the status that says each tenant holds only its own
# (a 403 is as good as a 404 for the other's).
OWN_COPY, OTHERS_COPY = 200, 404
COPY_READS = {
    "own tenant, its document": OWN_COPY,
    "own tenant, the other's document": OTHERS_COPY,
    "other tenant, its document": OWN_COPY,
    "other tenant, the own tenant's document": OTHERS_COPY,
}


def _copy_reads(
    own: httpx.Client, other: httpx.Client, own_id: str, other_id: str
) -> dict[str, int]:
    reads = [(own, own_id), (own, other_id), (other, other_id), (other, own_id)]
    return {
        who: client.get(f"/documents/{document_id}").status_code
        for who, (client, document_id) in zip(COPY_READS, reads, strict=True)
    }


@pytest.mark.synthetic
def test_the_same_content_uploaded_by_two_tenants_is_two_documents_each_its_own(
    synthetic: SyntheticDocuments,
    other_tenant_synthetic: SyntheticDocuments,
    baseline: Baseline,
) -> None:
    """The same bytes uploaded by two tenants are two documents, each readable by its own only.

    Uploaded by the operator's tenant, then by another tenant's admin: 201 each, two ids, the
    same sha256; each tenant reads its own (200) and not the other's (404 or 403). The content
    is unique to the run; both documents are erased by their own tenant.

    Guards against: duplicate detection across tenants (`dedup-across-tenants`): a re-upload
    answered with another tenant's document id, which tells the uploader that another tenant
    holds this exact file and hands it that tenant's id.
    Evidences: HIPAA 45 CFR 164.312(a)(1) (access control); GDPR Art.32 (confidentiality)
    """
    content = f"prodval synthetic document shared by two tenants {uuid.uuid4()}\n".encode() * 20
    own = synthetic.upload(content)
    assert own.status_code == 201, f"synthetic upload answered {own.status_code}: {own.text[:200]}"
    other = other_tenant_synthetic.upload(content)
    own_body, other_body = own.json(), other.json() if other.status_code in (200, 201) else {}
    assert other.status_code == 201 and other_body.get("id") != own_body["id"], (
        f"the other tenant's upload of the same content answered {other.status_code} with id "
        f"{other_body.get('id')!r} (duplicate: {other_body.get('duplicate')!r}), expected 201 "
        f"and a document of its own; the first tenant's is {own_body['id']}: {other.text[:200]}"
    )
    assert other_body.get("sha256") == own_body.get("sha256"), (
        f"sha256 {other_body.get('sha256')!r} of the other tenant's upload differs from "
        f"{own_body.get('sha256')!r} of the same bytes"
    )
    statuses = _copy_reads(
        synthetic.uploader, other_tenant_synthetic.uploader, own_body["id"], other_body["id"]
    )
    wrong = [
        f"{who}: {status}"
        for who, status in statuses.items()
        if status != COPY_READS[who] and not (COPY_READS[who] == OTHERS_COPY and status == 403)
    ]
    assert not wrong, (
        f"reads of the two copies (ids {own_body['id']}, {other_body['id']}), expected 200 for "
        "a tenant's own and 404 or 403 for the other's: " + "; ".join(wrong)
    )
    baseline.exact("statuses", statuses)
