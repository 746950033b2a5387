"""The audit trail: every access to a document is recorded, and the record cannot be rewritten.

Parameters read from ``params`` (optional):

- ``app_db_role`` (default ``docpipe_app``): the database role the API and workers use.
- ``audit_max_delay_s`` (default 60): how far an audit row's time may be from the access.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from pytest_prodval import Baseline

if TYPE_CHECKING:
    import asyncpg

    from ..conftest import SyntheticDocuments

pytestmark = [pytest.mark.compliance]

# An audit row is written with the access; allow a pipeline that ships it a little later.
AUDIT_VISIBLE_WITHIN_S = 5.0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@pytest.mark.synthetic
def test_reading_a_synthetic_document_is_audited_with_actor_action_object_and_time(
    synthetic: SyntheticDocuments,
    api_as: Callable[[str], httpx.Client],
    baseline: Baseline,
    params: dict[str, Any],
) -> None:
    """A viewer's read of a synthetic document appears in GET /audit with who, what and when.

    Guards against: document reads that leave no audit trail (`no_audit`), audit rows without
    an actor or resource, or stamped with the wrong time.
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
    query = {
        "action": "document.read",
        # Wide enough for clock skew between prodval and the target.
        "since": (read_at - dt.timedelta(seconds=max_delay)).isoformat(),
        "limit": "1000",
    }
    deadline = time.monotonic() + AUDIT_VISIBLE_WITHIN_S
    while True:
        response = admin.get("/audit", params=query)
        assert response.status_code == 200, (
            f"GET /audit answered {response.status_code}: {response.text[:300]}"
        )
        entries = [e for e in response.json()["entries"] if e.get("resource_id") == document_id]
        if entries or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert entries, (
        f"no 'document.read' audit entry for document {document_id} within "
        f"{AUDIT_VISIBLE_WITHIN_S:g} s of a viewer reading it at {read_at.isoformat()}"
    )
    entry = entries[-1]  # newest first: the oldest is the read made here
    baseline.shape("audit entry", entry, optional=["$.remote_addr", "$.detail"])
    actor = entry.get("actor")
    assert isinstance(actor, str) and actor and actor != "anonymous", (
        f"audit entry {entry.get('id')} names no authenticated actor: {actor!r}"
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
