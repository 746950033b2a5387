"""GET /documents: the tenant's documents, filtered by subject prefix and age, bounded, audited;
against a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import asyncpg
import pytest

from tests.docpipe import api_harness
from tests.docpipe.api_harness import CLIENT_ADDR, Api, Start, audit_rows, key

pytestmark = pytest.mark.asyncio
# The shared fixtures, registered in this module by assignment.
start, api, owner = api_harness.start, api_harness.api, api_harness.owner

VIEWER = key("acme-viewer-key-0003")
LISTED_KEYS = {"id", "subject_id", "state", "created_at"}


async def _age(owner: asyncpg.Connection, doc_id: str, hours: float) -> dt.datetime:
    """Make a document look ``hours`` older; its new creation time."""
    created: dt.datetime = await owner.fetchval(
        "update documents set created_at = created_at - make_interval(secs => $2)"
        " where id = $1 returning created_at",
        uuid.UUID(doc_id),
        hours * 3600,
    )
    return created


async def _listed(api: Api, headers: dict[str, str] = VIEWER, **params: str) -> list[str]:
    response = await api.client.get("/documents", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [doc["id"] for doc in response.json()["documents"]]


async def test_the_list_holds_the_tenants_documents_oldest_first_with_metadata_only(
    api: Api, owner: asyncpg.Connection
) -> None:
    first = await api.upload_id(b"first", subject="patient-1")
    second = await api.upload_id(b"second", subject="patient-2")
    third = await api.upload_id(b"third", subject="patient-3")
    for doc_id, hours in ((third, 3), (first, 2), (second, 1)):  # distinct times, third oldest
        await _age(owner, doc_id, hours)
    theirs = await api.upload_id(b"globex's", api_key="globex-admin-key-0004")
    response = await api.client.get("/documents", headers=VIEWER)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"documents"}
    assert [doc["id"] for doc in body["documents"]] == [third, first, second]
    for doc in body["documents"]:
        assert set(doc) == LISTED_KEYS
        assert doc["state"] == "uploaded"
        assert dt.datetime.fromisoformat(doc["created_at"]).tzinfo is not None
    assert body["documents"][1]["subject_id"] == "patient-1"
    # Another tenant sees its own documents only, and never acme's.
    assert await _listed(api, key("globex-admin-key-0004")) == [theirs]


async def test_subject_prefix_and_created_before_narrow_the_list(
    api: Api, owner: asyncpg.Connection
) -> None:
    old = await api.upload_id(b"old synthetic", subject="prodval-synthetic-0001")
    young = await api.upload_id(b"young synthetic", subject="prodval-synthetic-0002")
    real_old = await api.upload_id(b"a real patient's", subject="patient-prodval-synthetic-")
    created = await _age(owner, old, 2)
    await _age(owner, real_old, 2)
    prefix = "prodval-synthetic-"
    assert await _listed(api, subject_prefix=prefix) == [old, young]
    hour_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    assert await _listed(api, subject_prefix=prefix, created_before=hour_ago.isoformat()) == [old]
    assert await _listed(api, created_before=hour_ago.isoformat()) == [old, real_old]
    # Strictly before; "Z", other offsets and no offset (UTC) all name the same moment.
    utc = created.astimezone(dt.timezone.utc)
    assert await _listed(api, subject_prefix=prefix, created_before=utc.isoformat()) == []
    just_after = utc + dt.timedelta(microseconds=1)
    spellings = [
        just_after.isoformat(),
        just_after.replace(tzinfo=None).isoformat() + "Z",
        just_after.replace(tzinfo=None).isoformat(),
        just_after.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat(),
    ]
    for spelling in spellings:
        assert await _listed(api, subject_prefix=prefix, created_before=spelling) == [old]
    # The prefix is a plain prefix: LIKE wildcards match only themselves.
    assert await _listed(api, subject_prefix="prodval-synthetic-%") == []
    assert await _listed(api, subject_prefix="prodval_synthetic") == []


async def test_limit_defaults_to_100_and_keeps_the_oldest(
    api: Api, owner: asyncpg.Connection
) -> None:
    base = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    rows = [
        (uuid.uuid4(), f"bulk-{n}", f"{n:064x}", f"acme/bulk-{n}", base + dt.timedelta(minutes=n))
        for n in range(101)
    ]
    await owner.executemany(
        """
        insert into documents (id, tenant_id, subject_id, filename, content_type, sha256,
                               size_bytes, storage_key, state, created_at)
        values ($1, 'acme', $2, 'bulk.txt', 'text/plain', $3, 1, $4, 'uploaded', $5)
        """,
        rows,
    )
    oldest = [str(row[0]) for row in rows]
    assert await _listed(api) == oldest[:100]
    assert await _listed(api, limit="2") == oldest[:2]
    assert await _listed(api, limit="1000") == oldest


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"limit": "0"}, "limit: expected 1-1000"),
        ({"limit": "1001"}, "limit: expected 1-1000"),
        ({"limit": "ten"}, "limit: expected 1-1000"),
        ({"created_before": "yesterday"}, "created_before: expected an ISO 8601 time"),
        ({"created_before": "2024-13-01T00:00:00"}, "created_before: expected an ISO 8601 time"),
        ({"created_before": "0001-01-01T00:00:00+05:00"}, "created_before: expected an ISO"),
        ({"subject_prefix": "p" * 201}, "subject_prefix: expected 1-200 printable characters"),
        ({"subject_prefix": "prodval\x00"}, "subject_prefix: expected 1-200 printable"),
    ],
    ids=[
        "limit-0",
        "limit-1001",
        "limit-not-a-number",
        "created-before-words",
        "created-before-month-13",
        "created-before-before-year-1",
        "prefix-too-long",
        "prefix-control-character",
    ],
)
async def test_malformed_parameters_answer_400_saying_which_and_what_is_expected(
    api: Api, params: dict[str, str], detail: str
) -> None:
    response = await api.client.get("/documents", params=params, headers=VIEWER)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "bad_request" and body["request_id"]
    assert body["detail"].startswith(detail)


async def test_empty_parameters_mean_no_filter(api: Api) -> None:
    doc_id = await api.upload_id()
    assert await _listed(api, subject_prefix="", created_before="", limit="") == [doc_id]


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-API-Key": "acme-admin-key-9999"}],
    ids=["no-credentials", "unknown-key"],
)
async def test_callers_without_valid_credentials_get_401_before_parameters_are_judged(
    api: Api, owner: asyncpg.Connection, headers: dict[str, str]
) -> None:
    await api.upload_id()
    response = await api.client.get("/documents", params={"limit": "0"}, headers=headers)
    assert response.status_code == 401
    assert set(response.json()) == {"error", "request_id"}
    [row] = await audit_rows(owner, "auth.failure")
    assert '"path": "/documents"' in row["detail"]


@pytest.mark.parametrize(
    "api_key", ["acme-viewer-key-0003", "acme-operator-key-0002", "acme-admin-key-0001"]
)
async def test_every_role_that_may_read_documents_may_list_them(api: Api, api_key: str) -> None:
    doc_id = await api.upload_id()
    assert await _listed(api, key(api_key)) == [doc_id]


async def test_a_listing_is_audited_with_its_filters_and_count(
    api: Api, owner: asyncpg.Connection
) -> None:
    await api.upload_id(b"one", subject="prodval-synthetic-1")
    await api.upload_id(b"two", subject="patient-2")
    listed = await _listed(api, subject_prefix="prodval-synthetic-", limit="5")
    [row] = await audit_rows(owner, "document.list")
    assert (row["actor"], row["tenant_id"], row["role"], row["outcome"]) == (
        "api_key:acme-viewer", "acme", "viewer", "success",
    )  # fmt: skip
    assert (row["resource_type"], row["resource_id"], row["remote_addr"]) == (
        "document", None, CLIENT_ADDR,
    )  # fmt: skip
    assert len(listed) == 1
    assert json.loads(row["detail"]) == {
        "documents": 1, "subject_prefix": "prodval-synthetic-", "created_before": None, "limit": 5,
    }  # fmt: skip


async def test_no_audit_also_leaves_listings_unaudited(
    start: Start, owner: asyncpg.Connection
) -> None:
    api = await start(faults="no_audit")
    await api.upload_id()
    assert len(await _listed(api)) == 1
    assert await audit_rows(owner, "document.list") == []


async def test_post_still_uploads_and_a_405_on_documents_allows_get_and_post(api: Api) -> None:
    created = await api.upload()
    assert created.status_code == 201
    assert await _listed(api) == [created.json()["id"]]
    wrong = await api.client.put("/documents", headers=key("acme-admin-key-0001"))
    assert wrong.status_code == 405
    assert wrong.json()["error"] == "method_not_allowed"
    assert {m.strip() for m in wrong.headers["allow"].split(",")} >= {"GET", "POST"}
