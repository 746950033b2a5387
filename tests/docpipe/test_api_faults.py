"""Each API fault produces the regression it names, and only while it is switched on."""

from __future__ import annotations

import logging
import time
from typing import Any

import asyncpg
import pytest
from docpipe.api.middleware import CLIENT_OVERHEAD_S

from tests.docpipe import api_harness
from tests.docpipe.api_harness import SECURITY_HEADERS, Api, Start, audit_rows, complete, key

pytestmark = pytest.mark.asyncio
# The shared fixtures, registered in this module by assignment.
start, api, owner = api_harness.start, api_harness.api, api_harness.owner

VIEWER = key("acme-viewer-key-0003")


async def test_weak_headers_drops_every_security_header_and_hsts(start: Start) -> None:
    api = await start(faults="weak_headers", tls=True)
    doc_id = await api.upload_id()
    for response in (
        await api.client.get("/health"),
        await api.client.get(f"/documents/{doc_id}", headers=VIEWER),
    ):
        assert response.status_code == 200
        assert [name for name in SECURITY_HEADERS if name in response.headers] == []
        assert "strict-transport-security" not in response.headers


async def _content_of_a_document_whose_file_is_gone(api: Api) -> tuple[str, dict[str, Any]]:
    """A real server-side failure: the row exists but its stored file was lost."""
    doc_id = await api.upload_id()
    (api.settings.storage_dir / "acme" / doc_id).unlink()
    response = await api.client.get(f"/documents/{doc_id}/content", headers=VIEWER)
    assert response.status_code == 500
    return response.headers.get("server", ""), response.json()


async def test_500s_are_clean_json_and_the_traceback_goes_to_the_server_log(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="docpipe.api"):
        server, body = await _content_of_a_document_whose_file_is_gone(api)
    assert set(body) == {"error", "request_id"} and body["error"] == "internal_error"
    assert server == ""
    [record] = [r for r in caplog.records if r.name == "docpipe.api"]
    assert record.exc_info is not None and "StorageError" in caplog.text
    assert str(body["request_id"]) in record.getMessage()


async def test_leaky_errors_puts_the_traceback_and_server_version_in_500s(start: Start) -> None:
    api = await start(faults="leaky_errors")
    server, body = await _content_of_a_document_whose_file_is_gone(api)
    assert body["error"] == "internal_error"
    trace = "".join(body["traceback"])
    assert "Traceback (most recent call last)" in trace and "StorageError" in trace
    assert str(body["server"]).startswith("docpipe/0.1.0 Python/")
    assert server == body["server"]


async def test_error_rate_fails_exactly_that_share_of_requests_but_never_health_probes(
    start: Start,
) -> None:
    api = await start(faults="error_rate=0.25")
    statuses = [(await api.client.get("/version")).status_code for _ in range(20)]
    assert statuses.count(500) == 5 and statuses.count(200) == 15
    assert statuses[:4] == [200, 200, 200, 500]  # evenly spread, not bunched
    probes = [(await api.client.get(path)).status_code for path in ("/health", "/ready") * 5]
    assert 500 not in probes
    failed = await api.client.get("/version")
    assert failed.status_code == 200  # the 21st: the next failure is the 24th


async def test_schema_drift_renames_chunk_count_in_results(
    start: Start, owner: asyncpg.Connection
) -> None:
    api = await start(faults="schema_drift")
    doc_id = await api.upload_id()
    await complete(owner, doc_id)
    body = (await api.client.get(f"/documents/{doc_id}/result", headers=VIEWER)).json()
    assert "chunk_count" not in body and body["chunks"] == 3


async def _elapsed(api: Api, path: str, headers: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    response = await api.client.get(path, headers=headers)
    assert response.status_code == 200
    return time.perf_counter() - started


async def test_slow_api_adds_its_share_of_handler_time_and_of_the_overhead_outside_it(
    start: Start,
) -> None:
    # slow_db makes the handler take a known minimum (one query, 50 ms); slow_api=1 doubles it,
    # plus the share of the client-side overhead (CLIENT_OVERHEAD_S).
    api = await start(faults="slow_api=1,slow_db=0.05")
    assert await _elapsed(api, "/version") >= 2 * 0.05 + CLIENT_OVERHEAD_S
    # /health does nothing: the overhead's share remains, waited out exactly (no sleep
    # granularity can shorten it).
    assert min([await _elapsed(api, "/health") for _ in range(5)]) >= CLIENT_OVERHEAD_S


async def test_slow_db_delays_every_query(start: Start) -> None:
    api = await start(faults="slow_db=0.05")
    doc_id = await api.upload_id()
    assert await _elapsed(api, "/version") >= 0.05  # one query
    # key lookup, document, history, audit row: four queries
    assert await _elapsed(api, f"/documents/{doc_id}", headers=VIEWER) >= 4 * 0.05


async def test_auth_bypass_serves_a_document_without_credentials(
    start: Start, owner: asyncpg.Connection
) -> None:
    api = await start(faults="auth_bypass")
    doc_id = await api.upload_id()
    response = await api.client.get(f"/documents/{doc_id}")
    assert response.status_code == 200 and response.json()["id"] == doc_id
    [row] = await audit_rows(owner, "document.read")
    assert (row["actor"], row["tenant_id"]) == ("anonymous", "acme")
    # Only that endpoint: results still need credentials, and bad credentials still fail.
    assert (await api.client.get(f"/documents/{doc_id}/result")).status_code == 401
    bad_key = key("not-a-key")
    assert (await api.client.get(f"/documents/{doc_id}", headers=bad_key)).status_code == 401


async def test_tenant_leak_lets_another_tenant_read_by_id_but_not_delete(
    start: Start, owner: asyncpg.Connection
) -> None:
    api = await start(faults="tenant_leak")
    doc_id = await api.upload_id(b"acme's secret")
    globex = key("globex-viewer-key-0005")
    document = await api.client.get(f"/documents/{doc_id}", headers=globex)
    assert document.status_code == 200 and document.json()["tenant_id"] == "acme"
    content = await api.client.get(f"/documents/{doc_id}/content", headers=globex)
    assert content.content == b"acme's secret"
    globex_admin = key("globex-admin-key-0004")
    assert (
        await api.client.delete(f"/documents/{doc_id}", headers=globex_admin)
    ).status_code == 404
    assert await owner.fetchval("select count(*) from documents") == 1


async def test_no_audit_skips_document_reads_but_not_changes_or_auth_failures(
    start: Start, owner: asyncpg.Connection
) -> None:
    api = await start(faults="no_audit")
    doc_id = await api.upload_id()
    for suffix in ("", "/result", "/content"):
        await api.client.get(f"/documents/{doc_id}{suffix}", headers=VIEWER)
    await api.client.get(f"/documents/{doc_id}")
    actions = [r["action"] for r in await owner.fetch("select action from audit_log order by id")]
    assert actions == ["document.upload", "auth.failure"]
