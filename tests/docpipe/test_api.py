"""The docpipe API's contract: endpoints and shapes, authentication, roles, tenants, the audit
trail and security headers, against a real PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import time
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from docpipe.settings import ComponentSettings

from tests.docpipe import api_harness
from tests.docpipe.api_harness import (
    CLIENT_ADDR,
    SECURITY_HEADERS,
    Api,
    Start,
    audit_rows,
    bearer,
    complete,
    key,
    make_jwt,
    unsigned_jwt,
)
from tests.docpipe.conftest import DocpipeDatabase

pytestmark = pytest.mark.asyncio
# The shared fixtures, registered in this module by assignment.
start, api, owner = api_harness.start, api_harness.api, api_harness.owner

DOCUMENT_KEYS = {
    "id", "tenant_id", "subject_id", "filename", "content_type", "sha256", "size_bytes",
    "state", "failure_reason", "created_at", "updated_at", "retain_until", "retention_override",
    "history",
}  # fmt: skip


async def test_health_answers_without_credentials(api: Api) -> None:
    response = await api.client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_multipart_upload_creates_document_history_job_and_audit_row(
    api: Api, owner: asyncpg.Connection
) -> None:
    data = b"discharge summary"
    response = await api.upload(data, subject="patient-42")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "state", "sha256", "size_bytes", "duplicate"}
    assert body["state"] == "uploaded" and body["duplicate"] is False
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["size_bytes"] == len(data)
    doc = await owner.fetchrow("select * from documents where id = $1", body["id"])
    assert (doc["tenant_id"], doc["subject_id"], doc["filename"]) == (
        "acme",
        "patient-42",
        "note.txt",
    )
    assert doc["storage_key"] == f"acme/{body['id']}"
    history = await owner.fetch("select * from document_states where document_id = $1", doc["id"])
    assert [(h["from_state"], h["to_state"]) for h in history] == [(None, "uploaded")]
    assert await owner.fetchval("select status from jobs where document_id = $1", doc["id"]) == (
        "queued"
    )
    [audit] = await audit_rows(owner, "document.upload")
    assert (audit["actor"], audit["tenant_id"], audit["role"]) == (
        "api_key:acme-operator", "acme", "operator",
    )  # fmt: skip
    assert audit["resource_id"] == body["id"] and audit["remote_addr"] == CLIENT_ADDR


async def test_raw_upload_round_trips_bytes_content_type_and_a_safe_filename(api: Api) -> None:
    data = bytes(range(256)) * 40
    response = await api.client.post(
        "/documents",
        content=data,
        headers={
            **key("acme-operator-key-0002"),
            "Content-Type": "application/pdf",
            "X-Subject-Id": "patient-7",
            "X-Filename": "../../etc/scan.pdf",
        },
    )
    assert response.status_code == 201
    doc_id = response.json()["id"]
    content = await api.client.get(
        f"/documents/{doc_id}/content", headers=key("acme-viewer-key-0003")
    )
    assert content.status_code == 200
    assert content.content == data
    assert content.headers["content-type"] == "application/pdf"
    assert content.headers["content-disposition"] == "attachment"
    doc = (await api.client.get(f"/documents/{doc_id}", headers=key("acme-viewer-key-0003"))).json()
    assert doc["filename"] == "scan.pdf"
    assert doc["sha256"] == hashlib.sha256(data).hexdigest()


async def test_uploading_the_same_content_again_returns_the_existing_document(
    api: Api, owner: asyncpg.Connection
) -> None:
    first = await api.upload(b"same bytes", filename="a.txt")
    second = await api.upload(b"same bytes", filename="b.txt")
    assert first.status_code == 201 and second.status_code == 200
    assert second.json() == {**first.json(), "duplicate": True}
    assert await owner.fetchval("select count(*) from documents") == 1
    # Another tenant uploading the same bytes gets its own document.
    other = await api.upload(b"same bytes", api_key="globex-admin-key-0004")
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]


@pytest.mark.parametrize("multipart", [False, True], ids=["raw", "multipart"])
async def test_uploads_over_10_mb_are_refused_and_nothing_is_stored(
    api: Api, owner: asyncpg.Connection, multipart: bool
) -> None:
    data = b"x" * (10 * 1024 * 1024 + 1)
    if multipart:
        response = await api.upload(data)
    else:
        headers = {
            **key("acme-operator-key-0002"),
            "X-Subject-Id": "s",
            "Content-Type": "text/plain",
        }
        response = await api.client.post("/documents", content=data, headers=headers)
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    assert await owner.fetchval("select count(*) from documents") == 0
    stored = [p for p in api.settings.storage_dir.rglob("*") if p.is_file()]
    assert [p for p in stored if ".probe" not in p.parts] == []


@pytest.mark.parametrize(
    ("content", "headers", "files"),
    [
        (b"text", {"Content-Type": "text/plain"}, None),  # no X-Subject-Id
        (b"", {"Content-Type": "text/plain", "X-Subject-Id": "s"}, None),  # empty document
        (None, {}, {"other": ("a.txt", b"x", "text/plain")}),  # multipart without 'file'
    ],
    ids=["no-subject", "empty", "no-file-field"],
)
async def test_malformed_uploads_answer_400(
    api: Api, content: bytes | None, headers: dict[str, str], files: Any
) -> None:
    response = await api.client.post(
        "/documents",
        content=content,
        files=files,
        data={"subject_id": "s"} if files else None,
        headers={**key("acme-operator-key-0002"), **headers},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"


async def test_document_read_returns_metadata_and_state_history(api: Api) -> None:
    doc_id = await api.upload_id(b"history please", subject="patient-9")
    response = await api.client.get(f"/documents/{doc_id}", headers=key("acme-viewer-key-0003"))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == DOCUMENT_KEYS
    assert (body["id"], body["tenant_id"], body["subject_id"]) == (doc_id, "acme", "patient-9")
    assert (body["state"], body["failure_reason"]) == ("uploaded", None)
    [entry] = body["history"]
    assert entry["from"] is None and entry["to"] == "uploaded" and entry["at"]
    # The storage period is told: 30 days (the harness's retention_days) after creation.
    created, until = (dt.datetime.fromisoformat(body[k]) for k in ("created_at", "retain_until"))
    assert (until - created, body["retention_override"]) == (dt.timedelta(days=30), False)


async def test_result_is_409_until_completed_then_carries_text_and_counts(
    api: Api, owner: asyncpg.Connection
) -> None:
    doc_id = await api.upload_id()
    viewer = key("acme-viewer-key-0003")
    pending = await api.client.get(f"/documents/{doc_id}/result", headers=viewer)
    assert pending.status_code == 409
    assert pending.json()["error"] == "not_ready" and pending.json()["state"] == "uploaded"
    await complete(owner, doc_id, "the parsed text")
    done = await api.client.get(f"/documents/{doc_id}/result", headers=viewer)
    assert done.status_code == 200
    assert done.json() == {
        "id": doc_id, "text": "the parsed text", "chunk_count": 3, "embedding_dimensions": 8,
    }  # fmt: skip


async def test_another_tenants_document_is_indistinguishable_from_an_unknown_one(
    api: Api, owner: asyncpg.Connection
) -> None:
    doc_id = await api.upload_id()
    globex = key("globex-admin-key-0004")
    ids = [doc_id, "00000000-0000-4000-8000-000000000000", "not-a-uuid"]
    for suffix in ("", "/result", "/content"):
        bodies = []
        for some_id in ids:
            response = await api.client.get(f"/documents/{some_id}{suffix}", headers=globex)
            assert response.status_code == 404
            bodies.append({k: v for k, v in response.json().items() if k != "request_id"})
        assert bodies == [{"error": "not_found"}] * 3
    deleted = await api.client.delete(f"/documents/{doc_id}", headers=globex)
    assert deleted.status_code == 404
    assert await owner.fetchval("select count(*) from documents where id = $1", doc_id) == 1


async def test_unknown_routes_and_wrong_methods_answer_json(api: Api) -> None:
    missing = await api.client.get("/nope")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found" and missing.json()["request_id"]
    wrong = await api.client.put("/documents/x", headers=key("acme-admin-key-0001"))
    assert wrong.status_code == 405
    assert wrong.json()["error"] == "method_not_allowed"
    assert {m.strip() for m in wrong.headers["allow"].split(",")} >= {"GET", "DELETE"}


async def test_delete_erases_the_document_and_audits_it(
    api: Api, owner: asyncpg.Connection
) -> None:
    doc_id = await api.upload_id()
    operator = key("acme-operator-key-0002")
    response = await api.client.delete(f"/documents/{doc_id}", headers=operator)
    assert response.status_code == 204 and response.content == b""
    assert (await api.client.get(f"/documents/{doc_id}", headers=operator)).status_code == 404
    assert (await api.client.delete(f"/documents/{doc_id}", headers=operator)).status_code == 404
    outcomes = [r["outcome"] for r in await audit_rows(owner, "document.erase")]
    assert outcomes == ["success", "not_found"]
    assert not (api.settings.storage_dir / "acme" / doc_id).exists()


# --- authentication ---------------------------------------------------------------------------

OTHER_SECRET = "another-secret-0123456789abcdefghij"
BAD_TOKENS: dict[str, tuple[Callable[[], str], str]] = {
    "alg-none": (unsigned_jwt, "algorithm not allowed"),
    "expired": (lambda: make_jwt(exp=int(time.time()) - 30), "token expired"),
    "wrong-signature": (lambda: make_jwt(secret=OTHER_SECRET), "bad signature"),
    "wrong-audience": (lambda: make_jwt(aud="someone-else"), "wrong audience"),
    "no-exp": (lambda: make_jwt(exp=None), "missing claim exp"),
    "no-aud": (lambda: make_jwt(aud=None), "missing claim aud"),
    "no-sub": (lambda: make_jwt(sub=None), "missing claim sub"),
    "no-tenant": (lambda: make_jwt(tenant=None), "missing claim tenant"),
    "no-role": (lambda: make_jwt(role=None), "missing claim role"),
    "unknown-role": (lambda: make_jwt(role="superuser"), "unknown role"),
    "unknown-tenant": (lambda: make_jwt(tenant="initech"), "unknown tenant"),
    "garbage": (lambda: "not.a.token", "invalid token"),
    "no-iat": (lambda: make_jwt(iat=None), "missing claim iat"),
    "no-iss": (lambda: make_jwt(iss=None), "missing claim iss"),
    "wrong-issuer": (lambda: make_jwt(iss="evil-idp"), "wrong issuer"),
    "not-yet-valid": (lambda: make_jwt(nbf=int(time.time()) + 300), "token not yet valid"),
    "issued-in-future": (lambda: make_jwt(iat=int(time.time()) + 300), "token not yet valid"),
    # HIPAA automatic logoff: a 24 h token is refused even when freshly issued.
    "lifetime-24h": (
        lambda: make_jwt(exp=int(time.time()) + 86400), "lifetime over 3600 s"
    ),
    "lifetime-long-ago-issued": (
        lambda: make_jwt(iat=int(time.time()) - 7200, exp=int(time.time()) + 60),
        "lifetime over 3600 s",
    ),
    "non-numeric-exp": (lambda: make_jwt(exp="soon"), "invalid token"),
}  # fmt: skip


async def test_a_valid_jwt_authenticates_with_its_tenant_and_role(
    api: Api, owner: asyncpg.Connection
) -> None:
    response = await api.client.get("/audit", headers=bearer(make_jwt()))
    assert response.status_code == 200
    [row] = await audit_rows(owner, "audit.read")
    assert (row["actor"], row["tenant_id"], row["role"]) == (
        "jwt:alice@acme.example",
        "acme",
        "admin",
    )
    viewer = await api.client.get("/audit", headers=bearer(make_jwt(role="viewer")))
    assert viewer.status_code == 403


@pytest.mark.parametrize(
    "claims",
    [
        {"nbf": int(time.time()) - 5},
        {"iat": int(time.time()) - 3000, "exp": int(time.time()) + 600},  # exactly 3600 s
    ],
    ids=["nbf-in-the-past", "lifetime-at-the-limit"],
)
async def test_jwts_within_the_time_rules_are_accepted(api: Api, claims: dict[str, Any]) -> None:
    response = await api.client.get("/audit", headers=bearer(make_jwt(**claims)))
    assert response.status_code == 200


async def test_the_jwt_issuer_and_lifetime_limit_come_from_the_settings(api: Api) -> None:
    settings = dataclasses.replace(
        api.settings, jwt_issuer="corp-idp", jwt_max_lifetime_s=86400 + 60
    )
    async with api_harness.running_api(settings) as corp:
        day_long = make_jwt(iss="corp-idp", exp=int(time.time()) + 86400)
        assert (await corp.client.get("/audit", headers=bearer(day_long))).status_code == 200
        ours = make_jwt()  # iss "docpipe": not this deployment's issuer
        assert (await corp.client.get("/audit", headers=bearer(ours))).status_code == 401


async def test_jwt_issuer_and_lifetime_default_and_come_from_the_environment() -> None:
    env = {"DOCPIPE_APP_DSN": "postgresql://x/y", "DOCPIPE_STORAGE_DIR": "/tmp/s"}
    env["DOCPIPE_JWT_SECRET"] = "s"
    defaults = ComponentSettings.from_env(env)
    assert (defaults.jwt_issuer, defaults.jwt_max_lifetime_s) == ("docpipe", 3600.0)
    env |= {"DOCPIPE_JWT_ISSUER": "corp-idp", "DOCPIPE_JWT_MAX_LIFETIME_S": "900"}
    configured = ComponentSettings.from_env(env)
    assert (configured.jwt_issuer, configured.jwt_max_lifetime_s) == ("corp-idp", 900.0)


@pytest.mark.parametrize("case", list(BAD_TOKENS))
async def test_invalid_jwts_are_refused_and_audited_without_the_token(
    api: Api, owner: asyncpg.Connection, case: str
) -> None:
    make, reason = BAD_TOKENS[case]
    token = make()
    response = await api.client.get("/audit", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    [row] = await audit_rows(owner, "auth.failure")
    assert row["outcome"] == "denied" and row["actor"] == "anonymous"
    assert row["detail"].startswith("{") and reason in row["detail"]
    everything = await owner.fetchval("select string_agg(a::text, ' ') from audit_log a")
    assert token not in everything


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-API-Key": "acme-admin-key-9999"}, {"Authorization": "Basic YWRtaW46YWRtaW4="}],
    ids=["none", "unknown-key", "basic-scheme"],
)
async def test_missing_or_unknown_credentials_answer_401_and_are_audited(
    api: Api, owner: asyncpg.Connection, headers: dict[str, str]
) -> None:
    response = await api.client.get(
        "/documents/00000000-0000-4000-8000-000000000000", headers=headers
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    [row] = await audit_rows(owner, "auth.failure")
    assert row["remote_addr"] == CLIENT_ADDR
    assert "acme-admin-key-9999" not in row["detail"] and "YWRtaW4" not in row["detail"]


# --- roles ------------------------------------------------------------------------------------


async def _attempts(api: Api, api_key: str, doc_id: str) -> dict[str, int]:
    headers = key(api_key)
    client = api.client
    return {
        "read": (await client.get(f"/documents/{doc_id}", headers=headers)).status_code,
        "upload": (await api.upload(f"new {api_key}".encode(), api_key=api_key)).status_code,
        "export": (await client.get("/subjects/subject-1/export", headers=headers)).status_code,
        "audit": (await client.get("/audit", headers=headers)).status_code,
        "purge": (await client.post("/admin/retention/purge", headers=headers)).status_code,
        "delete": (await client.delete(f"/documents/{doc_id}", headers=headers)).status_code,
    }


async def test_viewers_read_but_cannot_change_export_or_administer(
    api: Api, owner: asyncpg.Connection
) -> None:
    doc_id = await api.upload_id()
    assert await _attempts(api, "acme-viewer-key-0003", doc_id) == {
        "read": 200, "upload": 403, "export": 403, "audit": 403, "purge": 403, "delete": 403,
    }  # fmt: skip
    denied = await audit_rows(owner, "authz.denied")
    assert len(denied) == 5
    assert {r["role"] for r in denied} == {"viewer"}


async def test_operators_upload_and_delete_but_cannot_export_or_administer(api: Api) -> None:
    doc_id = await api.upload_id()
    assert await _attempts(api, "acme-operator-key-0002", doc_id) == {
        "read": 200, "upload": 201, "export": 403, "audit": 403, "purge": 403, "delete": 204,
    }  # fmt: skip


async def test_admins_may_do_everything(api: Api) -> None:
    doc_id = await api.upload_id()
    assert await _attempts(api, "acme-admin-key-0001", doc_id) == {
        "read": 200, "upload": 201, "export": 200, "audit": 200, "purge": 200, "delete": 204,
    }  # fmt: skip


# --- audit ------------------------------------------------------------------------------------


async def test_every_document_read_is_audited_with_actor_tenant_and_outcome(
    api: Api, owner: asyncpg.Connection
) -> None:
    doc_id = await api.upload_id()
    viewer = key("acme-viewer-key-0003")
    await api.client.get(f"/documents/{doc_id}", headers=viewer)
    await api.client.get(f"/documents/{doc_id}/result", headers=viewer)
    await api.client.get(f"/documents/{doc_id}/content", headers=viewer)
    await api.client.get("/documents/00000000-0000-4000-8000-000000000000", headers=viewer)
    rows = await owner.fetch(
        "select * from audit_log where action like 'document.%read' order by id"
    )
    assert [(r["action"], r["outcome"]) for r in rows] == [
        ("document.read", "success"),
        ("document.result.read", "not_ready"),
        ("document.content.read", "success"),
        ("document.read", "not_found"),
    ]
    assert {(r["actor"], r["tenant_id"], r["role"]) for r in rows} == {
        ("api_key:acme-viewer", "acme", "viewer")
    }
    assert [r["resource_id"] for r in rows[:3]] == [doc_id] * 3


async def test_the_application_role_cannot_rewrite_the_audit_log(
    api: Api, docpipe_db: DocpipeDatabase
) -> None:
    await api.client.get("/documents/x")  # an auth failure: one audit row
    conn = await asyncpg.connect(docpipe_db.app_dsn)
    try:
        assert await conn.fetchval("select count(*) from audit_log") == 1
        for statement in (
            "update audit_log set outcome = 'success'",
            "delete from audit_log",
            "truncate audit_log",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)
        assert await conn.fetchval("select count(*) from audit_log") == 1
    finally:
        await conn.close()


async def test_audit_endpoint_lists_only_the_tenants_rows_newest_first_with_filters(
    api: Api,
) -> None:
    await api.upload_id(b"one")
    await api.upload_id(b"two")
    await api.upload_id(b"three", api_key="globex-admin-key-0004")
    admin = key("acme-admin-key-0001")
    response = await api.client.get("/audit", params={"action": "document.upload"}, headers=admin)
    assert response.status_code == 200
    entries = response.json()["entries"]
    assert len(entries) == 2 and {e["tenant_id"] for e in entries} == {"acme"}
    assert entries[0]["id"] > entries[1]["id"]
    assert entries[0]["detail"] == {"duplicate": False}
    limited = await api.client.get("/audit", params={"limit": "1"}, headers=admin)
    assert len(limited.json()["entries"]) == 1
    later = await api.client.get("/audit", params={"since": "2999-01-01T00:00:00"}, headers=admin)
    assert later.json()["entries"] == []
    for params in ({"limit": "1001"}, {"limit": "0"}, {"since": "yesterday"}):
        assert (await api.client.get("/audit", params=params, headers=admin)).status_code == 400


async def test_subject_export_contains_documents_history_and_results_of_that_subject_only(
    api: Api, owner: asyncpg.Connection
) -> None:
    first = await api.upload_id(b"first", subject="subject-7")
    second = await api.upload_id(b"second", subject="subject-7")
    await api.upload_id(b"other", subject="subject-8")
    await complete(owner, first, "text of first")
    response = await api.client.get(
        "/subjects/subject-7/export", headers=key("acme-admin-key-0001")
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"subject_id", "exported_at", "documents"}
    by_id = {doc["id"]: doc for doc in body["documents"]}
    assert set(by_id) == {first, second}
    assert by_id[first]["result"] == {
        "text": "text of first", "chunk_count": 3, "embedding_dimensions": 8,
    }  # fmt: skip
    assert by_id[second]["result"] is None
    assert set(by_id[second]) == DOCUMENT_KEYS | {"result"} and by_id[second]["history"]
    [row] = await audit_rows(owner, "subject.export")
    assert (row["resource_id"], row["detail"]) == ("subject-7", '{"documents": 2}')
    globex = await api.client.get(
        "/subjects/subject-7/export", headers=key("globex-admin-key-0004")
    )
    assert globex.json()["documents"] == []


# --- headers ----------------------------------------------------------------------------------


async def test_security_headers_are_on_every_response_and_there_is_no_server_header(
    api: Api,
) -> None:
    doc_id = await api.upload_id()
    viewer = key("acme-viewer-key-0003")
    responses = [
        await api.client.get("/health"),
        await api.client.get(f"/documents/{doc_id}", headers=viewer),
        await api.client.get(f"/documents/{doc_id}/content", headers=viewer),
        await api.client.get("/documents/x"),  # 401
        await api.client.get("/nope"),  # 404
    ]
    for response in responses:
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["cache-control"] == "no-store"
        assert headers["x-request-id"]
        assert "server" not in headers
        assert "strict-transport-security" not in headers  # plain HTTP: HSTS would be a lie


async def test_hsts_is_sent_when_the_api_serves_tls(start: Start) -> None:
    api = await start(tls=True)
    response = await api.client.get("/health")
    assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    assert all(name in response.headers for name in SECURITY_HEADERS)
