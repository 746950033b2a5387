"""The audit trail: every access to a document and every refused request is recorded, with the
caller as its actor, and the record cannot be rewritten.

Parameters read from ``params`` (optional):

- ``app_db_role`` (default ``docpipe_app``): the database role the API and workers use.
- ``audit_max_delay_s`` (default 60): how far an audit row's time may be from the access.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pytest

from pytest_prodval import Baseline

from .._inventory import Inventory, Operation, synthetic_values

if TYPE_CHECKING:
    import asyncpg

    from ..conftest import SyntheticDocuments

pytestmark = [pytest.mark.compliance]

# An audit row is written with the access; allow a pipeline that ships it a little later.
AUDIT_VISIBLE_WITHIN_S = 5.0
AUDIT_POLL_S = 0.2

T = TypeVar("T")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _until_audited(read: Callable[[], T], done: Callable[[T], bool]) -> T:
    """``read()`` until ``done`` says all its rows are there, again every ``AUDIT_POLL_S`` for
    at most ``AUDIT_VISIBLE_WITHIN_S`` (an audit pipeline may ship rows a little later;
    bounded); the last result, for the check to judge."""
    deadline = time.monotonic() + AUDIT_VISIBLE_WITHIN_S
    while True:
        result = read()
        if done(result) or time.monotonic() > deadline:
            return result
        time.sleep(AUDIT_POLL_S)


def _audit_entries(
    admin: httpx.Client, action: str, document_id: str, since: dt.datetime
) -> list[dict[str, Any]]:
    query = {"action": action, "since": since.isoformat(), "limit": "1000"}
    response = admin.get("/audit", params=query)
    assert response.status_code == 200, (
        f"GET /audit answered {response.status_code}: {response.text[:300]}"
    )
    return [e for e in response.json()["entries"] if e.get("resource_id") == document_id]


@pytest.mark.synthetic
def test_reading_a_synthetic_document_is_audited_with_actor_action_object_and_time(
    synthetic: SyntheticDocuments,
    api_as: Callable[[str], httpx.Client],
    baseline: Baseline,
    params: dict[str, Any],
) -> None:
    """A viewer's read of a synthetic document appears in GET /audit with who, what and when.

    Guards against: document reads that leave no audit trail (`no_audit`), audit rows without
    an actor (or with the tenant as actor) or resource, or stamped with the wrong time.
    Evidences: HIPAA 45 CFR 164.312(b)
    """
    uploaded = synthetic.upload()
    assert uploaded.status_code == 201, f"upload: {uploaded.status_code} {uploaded.text[:300]}"
    document_id = uploaded.json()["id"]
    max_delay = float(params.get("audit_max_delay_s", 60))
    read_at = _now()
    read = api_as("viewer").get(f"/documents/{document_id}")
    assert read.status_code == 200, f"viewer read: {read.status_code} {read.text[:300]}"

    admin = api_as("admin")
    since = read_at - dt.timedelta(seconds=max_delay)  # wide enough for clock skew
    entries = _until_audited(
        lambda: _audit_entries(admin, "document.read", document_id, since), bool
    )
    assert entries, (
        f"no 'document.read' audit entry for document {document_id} within "
        f"{AUDIT_VISIBLE_WITHIN_S:g} s of a viewer reading it at {read_at.isoformat()}"
    )
    entry = entries[-1]  # newest first: the oldest is the read made here
    baseline.shape("audit entry", entry, optional=["$.remote_addr", "$.detail"])
    actor = entry.get("actor")
    assert (
        isinstance(actor, str) and actor and actor not in ("anonymous", entry.get("tenant_id"))
    ), (
        f"audit entry {entry.get('id')} names no authenticated caller as actor: {actor!r} "
        f"(tenant {entry.get('tenant_id')!r})"
    )
    assert (entry.get("action"), entry.get("resource_type"), entry.get("outcome")) == (
        "document.read",
        "document",
        "success",
    ), f"audit entry {entry.get('id')}: {entry}"
    at = dt.datetime.fromisoformat(entry["at"])
    skew = abs((at - read_at).total_seconds())
    baseline.limit(
        "audit time skew",
        skew,
        at_most=max_delay,
        unit="s",
        source="params.audit_max_delay_s, default 60",
        note=f"audit entry {entry.get('id')} is stamped {entry['at']}, the read was at "
        f"{read_at.isoformat()}",
    )


# What ``synthetic.upload`` sends: the one write, besides the erasure, made on synthetic data.
UPLOAD_ROUTE = "POST /documents"


def _accesses(
    inventory: Inventory, synthetic: SyntheticDocuments, api_as: Callable[[str], httpx.Client]
) -> tuple[dict[str, int], dict[str, tuple[Operation, set[str]]], list[str]]:
    """Make every access to personal data the check can make on a synthetic document: the
    upload, each GET, then each DELETE of the document. Per route: its status, what its audit
    row must name (the ids it addressed, or a marker it passed), and the routes it cannot do.
    """
    uploaded = synthetic.upload()
    assert uploaded.status_code == 201, f"upload: {uploaded.status_code} {uploaded.text[:300]}"
    document_id = uploaded.json()["id"]
    values = synthetic_values(document_id, synthetic.subject)
    ops = [op for op in inventory.operations if op.personal_data]
    statuses = {UPLOAD_ROUTE: uploaded.status_code}
    names: dict[str, tuple[Operation, set[str]]] = {}
    not_done = []
    for op in [*(o for o in ops if o.method == "GET"), *(o for o in ops if o.method == "DELETE")]:
        if op.audit_action is None or op.min_role is None:
            not_done.append(f"{op.name} declares personal data but no audit action or role")
            continue
        marker = f"prodval-audit-{uuid.uuid4().hex[:12]}"
        query = None if op.params else {"subject_prefix": synthetic.subject, "action": marker}
        response = api_as(op.min_role).request(op.method, op.url(values), params=query)
        statuses[op.name] = response.status_code
        named = {values[p] for p in op.params} if op.params else {synthetic.subject, marker}
        names[op.name] = (op, named)
    upload = next((op for op in ops if op.name == UPLOAD_ROUTE), None)
    if upload is not None and upload.audit_action is not None:
        names[UPLOAD_ROUTE] = (upload, {document_id})
    return statuses, names, not_done


def _unaudited(
    admin: httpx.Client, names: dict[str, tuple[Operation, set[str]]], since: dt.datetime
) -> list[str]:
    """The routes of ``names`` with no audit row of their action naming what they accessed."""
    missing = []
    for route, (op, named) in names.items():
        query = {"action": str(op.audit_action), "since": since.isoformat(), "limit": "1000"}
        response = admin.get("/audit", params=query)
        assert response.status_code == 200, f"GET /audit answered {response.status_code}"
        rows = [json.dumps(entry) for entry in response.json().get("entries", [])]
        if not any(name in row for row in rows for name in named):
            missing.append(f"{route} (no {op.audit_action!r} row naming {sorted(named)[0]})")
    return missing


@pytest.mark.synthetic
def test_every_access_to_personal_data_is_audited(
    synthetic: SyntheticDocuments,
    api_as: Callable[[str], httpx.Client],
    inventory: Inventory,
    params: dict[str, Any],
    baseline: Baseline,
) -> None:
    """Every route of the inventory that declares personal data leaves an audit row of its
    declared action naming what it accessed: the upload, every read (listings, exports and
    the audit log itself included) and the erasure of a synthetic document, each as the
    route's lowest role.

    Guards against: an access path to personal data that leaves no audit trail (`no_audit`),
    e.g. a listing, a result or a content read that skips the audit the main read writes.
    Evidences: HIPAA 45 CFR 164.312(b)
    """
    max_delay = float(params.get("audit_max_delay_s", 60))
    since = _now() - dt.timedelta(seconds=max_delay)  # wide enough for clock skew
    statuses, names, not_done = _accesses(inventory, synthetic, api_as)
    assert not not_done, "; ".join(not_done)
    refused = [f"{route} -> {s}" for route, s in statuses.items() if s in (401, 403) or s >= 500]
    assert not refused, "accesses to personal data not served: " + "; ".join(refused)
    admin = api_as("admin")
    missing = _until_audited(lambda: _unaudited(admin, names, since), lambda left: not left)
    assert not missing, (
        f"accesses to personal data without an audit row within {AUDIT_VISIBLE_WITHIN_S:g} s: "
        + "; ".join(missing)
    )
    baseline.exact("audited actions", {route: op.audit_action for route, (op, _) in names.items()})


@pytest.mark.asyncio(loop_scope="session")
async def test_the_application_role_can_append_to_the_audit_log_but_never_rewrite_it(
    db: asyncpg.Pool, params: dict[str, Any], baseline: Baseline
) -> None:
    """The API's database role holds INSERT but no UPDATE, DELETE or TRUNCATE on audit_log.

    Guards against: grants that let a compromised application rewrite or erase its audit trail
    (a broad `GRANT ALL`, a superuser or table-owner application role).
    Evidences: HIPAA 45 CFR 164.312(b) and 164.312(c)(1)
    """
    role = str(params.get("app_db_role", "docpipe_app"))
    row = await db.fetchrow(
        """
        select r.rolsuper, pg_has_role(r.oid, c.relowner, 'USAGE') as owns
        from pg_roles r, pg_class c
        where r.rolname = $1 and c.oid = to_regclass('audit_log')
        """,
        role,
    )
    assert row is not None, (
        f"role {role!r} (params.app_db_role) or table audit_log not found in the database"
    )
    assert not row["rolsuper"], f"application role {role!r} is a superuser"
    assert not row["owns"], f"application role {role!r} owns audit_log (or is in its owner role)"
    privileges = {
        name: await db.fetchval("select has_table_privilege($1, 'audit_log', $2)", role, name)
        for name in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
    }
    rewrite = [name for name in ("UPDATE", "DELETE", "TRUNCATE") if privileges[name]]
    assert not rewrite, f"application role {role!r} may {', '.join(rewrite)} audit_log"
    assert privileges["INSERT"], f"application role {role!r} cannot INSERT into audit_log"
    baseline.exact("audit_log privileges", privileges)


@pytest.mark.synthetic
def test_each_caller_of_a_document_read_is_its_own_actor_in_the_audit_trail(
    synthetic: SyntheticDocuments,
    api_as: Callable[[str], httpx.Client],
    baseline: Baseline,
    params: dict[str, Any],
) -> None:
    """A document read is audited with the caller as actor: not the tenant, as in the baseline.

    A synthetic document read by the operator who uploaded it and by a viewer leaves two
    `document.read` rows: the operator's names the actor of its own upload row, the viewer's
    another one, neither is the tenant id, and both are the baseline's (a configured role's
    actor id is stable per deployment).

    Guards against: an audit trail that records the tenant, a service account or a fixed name
    instead of who read the document (`audit-actor-is-tenant`): it cannot tell one caller's
    access from another's.
    Evidences: HIPAA 45 CFR 164.312(b); HIPAA 45 CFR 164.308(a)(1)(ii)(D) (activity review)
    """
    uploaded = synthetic.upload()
    assert uploaded.status_code == 201, f"upload: {uploaded.status_code} {uploaded.text[:300]}"
    document_id = uploaded.json()["id"]
    since = _now() - dt.timedelta(seconds=float(params.get("audit_max_delay_s", 60)))
    for role in ("operator", "viewer"):
        read = api_as(role).get(f"/documents/{document_id}")
        assert read.status_code == 200, f"{role} read: {read.status_code} {read.text[:300]}"
    admin = api_as("admin")
    uploads, reads = _until_audited(
        lambda: (
            _audit_entries(admin, "document.upload", document_id, since),
            _audit_entries(admin, "document.read", document_id, since),
        ),
        lambda found: bool(found[0]) and len(found[1]) >= 2,
    )
    assert uploads and len(reads) == 2, (
        f"{len(uploads)} 'document.upload' and {len(reads)} 'document.read' audit entries for "
        f"document {document_id} within {AUDIT_VISIBLE_WITHIN_S:g} s, expected 1 and 2"
    )
    by_role = {str(e.get("role")): e.get("actor") for e in reversed(reads)}  # oldest first
    upload_actor, tenant = uploads[-1].get("actor"), uploads[-1].get("tenant_id")
    assert by_role.get("operator") == upload_actor, (
        f"actor {by_role.get('operator')!r} of the operator's read of {document_id} differs "
        f"from {upload_actor!r} of the same credential's upload (read actors: {by_role})"
    )
    assert by_role.get("viewer") not in (None, upload_actor), (
        f"actor {by_role.get('viewer')!r} of the viewer's read of {document_id} is the "
        f"operator's or none (read actors: {by_role})"
    )
    tenants = [role for role, actor in by_role.items() if actor in (tenant, "anonymous")]
    assert not tenants, (
        f"the read actor of {', '.join(tenants)} is the tenant {tenant!r} or anonymous, not the "
        f"caller (read actors: {by_role})"
    )
    baseline.exact("read actors by role", by_role)


def _refusals() -> dict[str, dict[str, str]]:
    """Credentials that identify nobody, fresh per run: none, an unknown API key, a bearer
    token that is no JWT. Each must be refused with 401, and audited."""
    return {
        "no credentials": {},
        "unknown api key": {"X-API-Key": f"prodval-unknown-key-{uuid.uuid4().hex}"},
        "malformed bearer token": {"Authorization": f"Bearer prodval-no-jwt-{uuid.uuid4().hex}"},
    }


# The audit rows that name a refused request's unique path (an id nobody has), oldest first.
_REFUSAL_ROWS = """
    select actor, action, outcome, concat_ws(' ', actor, resource_id, detail::text) as text
    from audit_log
    where at >= $1 and strpos(concat_ws(' ', resource_id, detail::text), $2) > 0
    order by id
"""


@pytest.mark.asyncio(loop_scope="session")
async def test_a_refused_request_is_audited_whatever_credential_it_lacked(
    db: asyncpg.Pool,
    api_anonymous: httpx.Client,
    params: dict[str, Any],
    baseline: Baseline,
) -> None:
    """A refused request leaves an audit row, whether it had no credentials, a bad key or token.

    A request without credentials, one with an unknown API key and one with a malformed bearer
    token, each to a document id nobody has, are refused with 401, and each leaves an audit row
    naming its request (the id in its path), without the credential it sent.

    Read-only: the rows are what any refused request writes; they are read through the `db`
    fixture (refusals belong to no tenant, so GET /audit does not list them).

    Guards against: refused requests audited for one kind of credential only
    (`auth-failure-audited-for-jwt-only`), so that key guessing or anonymous probing leaves
    no trace; a refusal's audit row that records the credential itself.
    Evidences: HIPAA 45 CFR 164.312(b); HIPAA 45 CFR 164.308(a)(5)(ii)(C) (log-in monitoring)
    """
    max_delay = float(params.get("audit_max_delay_s", 60))
    # The database's own clock: audit rows are stamped by it, whatever prodval's clock says.
    since = await db.fetchval("select clock_timestamp() - make_interval(secs => $1)", max_delay)
    refusals = _refusals()
    paths = {kind: f"/documents/{uuid.uuid4()}" for kind in refusals}
    statuses = {
        kind: api_anonymous.get(paths[kind], headers=headers).status_code
        for kind, headers in refusals.items()
    }
    served = [f"{kind} -> {status}" for kind, status in statuses.items() if status != 401]
    assert not served, "requests that identify nobody, expected 401: " + "; ".join(served)
    deadline = time.monotonic() + AUDIT_VISIBLE_WITHIN_S
    while True:
        rows = {kind: await db.fetch(_REFUSAL_ROWS, since, path) for kind, path in paths.items()}
        unaudited = [kind for kind, found in rows.items() if not found]
        if not unaudited or time.monotonic() > deadline:
            break
        await asyncio.sleep(AUDIT_POLL_S)  # rows may ship a little later: as _until_audited
    assert not unaudited, (
        f"refused requests without an audit row naming their path within "
        f"{AUDIT_VISIBLE_WITHIN_S:g} s: "
        + "; ".join(f"{kind} (GET {paths[kind]} -> 401)" for kind in unaudited)
        + f"; audited: {', '.join(kind for kind in rows if kind not in unaudited) or 'none'}"
    )
    leaked = [
        kind
        for kind, headers in refusals.items()
        for secret in headers.values()
        if any(secret.split()[-1] in str(row["text"]) for row in rows[kind])
    ]
    assert not leaked, f"the audit row of a refusal records the credential sent: {leaked}"
    baseline.exact(
        "refusal audit rows",
        {
            kind: [{k: row[k] for k in ("action", "outcome", "actor")} for row in found]
            for kind, found in rows.items()
        },
    )
