"""Operating the API: readiness, version, metrics, erasure, retention, and the real server."""

from __future__ import annotations

import dataclasses
import json
import ssl
from pathlib import Path

import asyncpg
import httpx
import pytest
import trustme
from docpipe import schema
from docpipe.api.__main__ import build_config
from docpipe.erasure import erase_document, purge_expired
from docpipe.faults import Faults
from docpipe.storage import FileStorage
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.docpipe import api_harness
from tests.docpipe.api_harness import (
    Api,
    Start,
    audit_rows,
    closed_port_url,
    complete,
    key,
    running_api,
    serve_in_thread,
    settings_for,
)
from tests.docpipe.conftest import DocpipeDatabase

pytestmark = pytest.mark.asyncio
# The shared fixtures, registered in this module by assignment.
start, api, owner = api_harness.start, api_harness.api, api_harness.owner

ADMIN = key("acme-admin-key-0001")
COMPONENTS = {"database", "storage", "workers", "parser", "embedder"}


def stub_service(status: int) -> Starlette:
    async def health(request: object) -> JSONResponse:
        return JSONResponse({"status": "ok" if status == 200 else "down"}, status_code=status)

    return Starlette(routes=[Route("/health", health)])


async def beat(owner: asyncpg.Connection, worker_id: str, seconds_ago: float) -> None:
    await owner.execute(
        """
        insert into worker_heartbeats (worker_id, pid, host, release, status, last_seen)
        values ($1, 1, 'host', '1', 'idle', now() - make_interval(secs => $2))
        """,
        worker_id,
        seconds_ago,
    )


async def test_ready_when_every_component_is_healthy(
    start: Start, owner: asyncpg.Connection
) -> None:
    await beat(owner, "worker-1", 0)
    with serve_in_thread(stub_service(200)) as parser, serve_in_thread(stub_service(200)) as emb:
        api = await start(parser_url=f"http://{parser}", embedder_url=f"http://{emb}")
        response = await api.client.get("/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready" and set(body["components"]) == COMPONENTS
    for component in body["components"].values():
        assert component["ok"] is True and isinstance(component["latency_ms"], float)
    assert (body["components"]["workers"]["alive"], body["components"]["workers"]["stale"]) == (
        1,
        0,
    )


async def test_not_ready_names_each_failing_component(
    start: Start, owner: asyncpg.Connection
) -> None:
    await beat(owner, "worker-1", 3600)  # heartbeat_s is 1: an hour-old beat is stale
    with serve_in_thread(stub_service(503)) as embedder:
        api = await start(parser_url=closed_port_url(), embedder_url=f"http://{embedder}")
        storage = api.settings.storage_dir
        storage.rmdir()
        storage.write_bytes(b"a file where the storage directory should be")
        response = await api.client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    components = body["components"]
    assert body["status"] == "not_ready"
    assert components["database"]["ok"] is True
    assert {name for name, c in components.items() if not c["ok"]} == COMPONENTS - {"database"}
    assert (components["workers"]["alive"], components["workers"]["stale"]) == (0, 1)
    assert components["embedder"]["error"] == "HTTP 503"
    assert "Connect" in components["parser"]["error"]
    assert "storage not writable" in components["storage"]["error"]


async def test_an_unreachable_database_makes_the_api_unready_and_requests_503(
    docpipe_db: DocpipeDatabase, tmp_path: Path
) -> None:
    settings = settings_for(docpipe_db, tmp_path / "storage")
    port = closed_port_url().rsplit(":", 1)[1]
    settings = dataclasses.replace(settings, app_dsn=f"postgresql://nobody@127.0.0.1:{port}/x")
    async with running_api(settings) as api:
        assert (await api.client.get("/health")).status_code == 200
        response = await api.client.get("/ready")
        version = await api.client.get("/version")
    assert response.status_code == 503
    database = response.json()["components"]["database"]
    assert database["ok"] is False and database["error"]
    # Requests that need the database say "try again", not "bug".
    assert version.status_code == 503 and version.headers["retry-after"] == "5"
    assert set(version.json()) == {"error", "request_id"}
    assert version.json()["error"] == "service_unavailable"


async def test_version_reports_release_and_schema_and_shows_a_mismatch(
    start: Start, owner: asyncpg.Connection
) -> None:
    api = await start(release="2")
    assert (await api.client.get("/version")).json() == {
        "release": "2", "schema_version": 3, "expected_schema_version": 3, "service": "docpipe-api",
    }  # fmt: skip
    await schema.migrate(owner, 2)
    body = (await api.client.get("/version")).json()
    assert (body["schema_version"], body["expected_schema_version"]) == (2, 3)


async def test_metrics_count_requests_by_route_template_and_documents_by_state(
    api: Api, owner: asyncpg.Connection
) -> None:
    doc_id = await api.upload_id()
    await complete(owner, await api.upload_id(b"another"))
    await api.client.get(f"/documents/{doc_id}", headers=ADMIN)
    await api.client.get("/no/such/route")
    response = await api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    lines = set(text.splitlines())
    route = 'route="/documents/{document_id}"'
    assert f'docpipe_http_requests_total{{method="GET",{route},status="200"}} 1.0' in lines
    assert 'docpipe_http_requests_total{method="POST",route="/documents",status="201"} 2.0' in lines
    assert 'docpipe_http_requests_total{method="GET",route="<unmatched>",status="404"} 1.0' in lines
    assert doc_id not in text  # raw paths would make a label per document
    assert f'docpipe_http_request_duration_seconds_count{{method="GET",{route}}} 1.0' in lines
    assert 'docpipe_jobs{state="uploaded"} 1.0' in lines
    assert 'docpipe_jobs{state="completed"} 1.0' in lines
    assert 'docpipe_jobs{state="failed"} 0.0' in lines
    for gauge in (
        "docpipe_process_cpu_percent", "docpipe_process_memory_bytes", "docpipe_host_cpu_percent",
        "docpipe_host_memory_percent", "docpipe_host_disk_percent",
    ):  # fmt: skip
        [sample] = [line for line in lines if line.startswith(f"{gauge} ")]
        assert float(sample.split()[1]) >= 0
    assert any(
        line.startswith("docpipe_process_memory_bytes ") and " 0.0" not in line for line in lines
    )


async def _derived_rows(owner: asyncpg.Connection, doc_id: str) -> dict[str, int]:
    counts = {}
    for table, column in (
        ("documents", "id"), ("document_states", "document_id"), ("jobs", "document_id"),
        ("results", "document_id"), ("chunks", "document_id"),
    ):  # fmt: skip
        query = f"select count(*) from {table} where {column} = $1"
        counts[table] = await owner.fetchval(query, doc_id)
    return counts


async def _processed_document(api: Api, owner: asyncpg.Connection) -> str:
    doc_id = await api.upload_id(b"to be forgotten")
    await complete(owner, doc_id)
    await owner.execute(
        "insert into chunks (document_id, seq, text, embedding)"
        " select $1, n, 'chunk', array[0.1, 0.2]::real[] from generate_series(1, 3) n",
        doc_id,
    )
    assert set((await _derived_rows(owner, doc_id)).values()) == {1, 3}
    return doc_id


@pytest.mark.parametrize("fault", ["", "erasure_incomplete"])
async def test_erasure_removes_the_document_everything_derived_and_the_file(
    start: Start, owner: asyncpg.Connection, fault: str
) -> None:
    api = await start(faults=fault)
    doc_id = await _processed_document(api, owner)
    response = await api.client.delete(f"/documents/{doc_id}", headers=ADMIN)
    assert response.status_code == 204
    left = {table: n for table, n in (await _derived_rows(owner, doc_id)).items() if n}
    assert left == ({"chunks": 3} if fault else {})
    assert not (api.settings.storage_dir / "acme" / doc_id).exists()


async def test_erasing_an_unknown_or_malformed_id_reports_false(
    docpipe_db: DocpipeDatabase, tmp_path: Path
) -> None:
    conn = await asyncpg.connect(docpipe_db.app_dsn)
    try:
        storage = FileStorage(tmp_path)
        for doc_id in ("00000000-0000-4000-8000-000000000000", "nope"):
            assert await erase_document(conn, storage, doc_id, Faults()) is False
    finally:
        await conn.close()


async def _age(
    owner: asyncpg.Connection, doc_id: str, *, days: float = 0, retain: str = ""
) -> None:
    await owner.execute(
        "update documents set created_at = now() - make_interval(days => $2) where id = $1",
        doc_id,
        int(days),
    )
    if retain:
        await owner.execute(
            f"update documents set retain_until = now() {retain} where id = $1", doc_id
        )


async def test_retention_purge_erases_expired_documents_of_the_admins_tenant(
    api: Api, owner: asyncpg.Connection
) -> None:
    old, fresh, overdue, held = [await api.upload_id(f"doc {n}".encode()) for n in range(4)]
    foreign_old = await api.upload_id(b"globex doc", api_key="globex-admin-key-0004")
    await _age(owner, old, days=31)
    await _age(owner, overdue, retain="- interval '1 hour'")
    await _age(owner, held, days=400, retain="+ interval '1 day'")  # an override keeps it
    await _age(owner, foreign_old, days=31)
    response = await api.client.post("/admin/retention/purge", headers=ADMIN)
    assert response.status_code == 200 and response.json() == {"purged": 2}
    remaining = {str(r["id"]) for r in await owner.fetch("select id from documents")}
    assert remaining == {fresh, held, foreign_old}
    assert not (api.settings.storage_dir / "acme" / old).exists()
    [row] = await audit_rows(owner, "retention.purge")
    detail = json.loads(row["detail"])
    assert detail["count"] == 2 and set(detail["ids"]) == {old, overdue}
    assert (row["actor"], row["tenant_id"]) == ("api_key:acme-admin", "acme")


async def test_a_retention_override_is_published_audited_and_obeyed_by_the_purge(
    api: Api, owner: asyncpg.Connection
) -> None:
    doc_id = await api.upload_id(b"overridden")
    path = f"/documents/{doc_id}/retention"
    past = "2020-01-01T00:00:00Z"
    for body in ({"retain_until": "soon"}, {"until": past}, ["x"]):
        refused = await api.client.put(path, json=body, headers=ADMIN)
        assert refused.status_code == 400, body
    viewer = await api.client.put(
        path, json={"retain_until": past}, headers=key("acme-viewer-key-0003")
    )
    foreign = await api.client.put(
        path, json={"retain_until": past}, headers=key("globex-admin-key-0004")
    )
    assert (viewer.status_code, foreign.status_code) == (403, 404)
    response = await api.client.put(path, json={"retain_until": past}, headers=ADMIN)
    assert response.status_code == 200
    body = response.json()
    assert (body["retain_until"], body["retention_override"]) == ("2020-01-01T00:00:00+00:00", True)
    rows = await audit_rows(owner, "document.retention")  # the refusals are audited too
    [row] = [r for r in rows if r["outcome"] == "success"]
    assert (row["resource_id"], json.loads(row["detail"])) == (
        doc_id,
        {"retain_until": "2020-01-01T00:00:00+00:00"},
    )
    purged = await api.client.post("/admin/retention/purge", headers=ADMIN)
    assert purged.json() == {"purged": 1}
    assert await owner.fetchval("select count(*) from documents") == 0


async def test_retention_off_purges_nothing_but_still_audits_the_run(
    start: Start, owner: asyncpg.Connection
) -> None:
    api = await start(faults="retention_off")
    old = await api.upload_id()
    await _age(owner, old, days=31)
    response = await api.client.post("/admin/retention/purge", headers=ADMIN)
    assert response.json() == {"purged": 0}
    assert await owner.fetchval("select count(*) from documents") == 1
    [row] = await audit_rows(owner, "retention.purge")
    assert json.loads(row["detail"])["count"] == 0


async def test_the_workers_purge_covers_every_tenant(
    api: Api, owner: asyncpg.Connection, docpipe_db: DocpipeDatabase
) -> None:
    for api_key in ("acme-operator-key-0002", "globex-admin-key-0004"):
        await _age(owner, await api.upload_id(api_key.encode(), api_key=api_key), days=31)
    conn = await asyncpg.connect(docpipe_db.app_dsn)  # what a worker holds
    try:
        storage = FileStorage(api.settings.storage_dir)
        assert await purge_expired(conn, storage, 30, Faults()) == 2
    finally:
        await conn.close()
    [row] = await audit_rows(owner, "retention.purge")
    assert (row["actor"], row["tenant_id"]) == ("system:retention", None)


async def test_the_served_api_speaks_tls_with_hsts_and_no_server_header(
    docpipe_db: DocpipeDatabase, tmp_path: Path
) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    settings = settings_for(docpipe_db, tmp_path / "storage")  # tls=False: --certfile implies it
    config = build_config(settings, "127.0.0.1", 0, str(cert_file), str(key_file))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with serve_in_thread(config) as address:
        async with httpx.AsyncClient(base_url=f"https://{address}", verify=context) as client:
            health = await client.get("/health")
            version = await client.get("/version")
    assert health.status_code == 200 and version.status_code == 200
    assert "server" not in health.headers
    assert health.headers["strict-transport-security"].startswith("max-age=31536000")
