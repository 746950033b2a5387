"""GDPR data-subject rights on synthetic subjects: erasure (Art. 17) and portability (Art. 20).

The stored files themselves are not reachable from the suites; their erasure is judged by
the content endpoint answering 404.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx
import pytest

from pytest_prodval import Baseline

from .._support import AwaitState, get_json

if TYPE_CHECKING:
    import asyncpg

    from ..conftest import SyntheticDocuments

pytestmark = [pytest.mark.compliance, pytest.mark.synthetic]

AUDIT_VISIBLE_WITHIN_S = 5.0
# Every place a document's personal data lives in the database (chunks have no foreign key).
DOCUMENT_TABLES = {
    "documents": "id",
    "document_states": "document_id",
    "jobs": "document_id",
    "results": "document_id",
    "chunks": "document_id",
}


def _completed(synthetic: SyntheticDocuments, await_state: AwaitState) -> str:
    """Upload a synthetic document and wait for it to complete; its id."""
    response = synthetic.upload()
    assert response.status_code == 201, f"upload: {response.status_code} {response.text[:300]}"
    document_id: str = response.json()["id"]
    document, _ = await_state(synthetic, document_id, {"completed", "failed"})
    assert document["state"] == "completed", (
        f"document {document_id} ended {document['state']!r}: {document['failure_reason']}"
    )
    return document_id


def _erase(synthetic: SyntheticDocuments, document_id: str) -> dt.datetime:
    erased_at = dt.datetime.now(dt.timezone.utc)
    response = synthetic.eraser.delete(f"/documents/{document_id}")
    assert response.status_code == 204, (
        f"DELETE /documents/{document_id} answered {response.status_code}: {response.text[:300]}"
    )
    return erased_at


async def _rows(db: asyncpg.Pool, document_id: str) -> dict[str, int]:
    counts = {}
    for table, column in DOCUMENT_TABLES.items():
        # Table and column names are ours, not input.
        counts[table] = int(
            await db.fetchval(
                f"select count(*) from {table} where {column} = $1::uuid", document_id
            )
        )
    return counts


def test_an_erased_synthetic_document_is_gone_from_every_api_view(
    synthetic: SyntheticDocuments, await_state: AwaitState, api_as: Callable[[str], httpx.Client]
) -> None:
    """After DELETE: document, result and content 404, empty export, erasure audited.

    Guards against: erasure that leaves the document, its result or its file readable, or
    that is not provable afterwards (no `document.erase` audit row).
    Evidences: GDPR Art.17 (and Art.5(2) accountability)
    """
    document_id = _completed(synthetic, await_state)
    erased_at = _erase(synthetic, document_id)
    reader = synthetic.uploader
    still = {
        path: status
        for path in ("", "/result", "/content")
        if (status := reader.get(f"/documents/{document_id}{path}").status_code) != 404
    }
    assert not still, f"erased document {document_id} still answers (path: status) {still}"
    admin = api_as("admin")
    export = get_json(admin, f"/subjects/{synthetic.subject}/export")
    assert export.get("documents") == [], (
        f"export of erased subject {synthetic.subject} still lists "
        f"{[d.get('id') for d in export.get('documents', [])]}"
    )
    query = {
        "action": "document.erase",
        "since": (erased_at - dt.timedelta(seconds=60)).isoformat(),
        "limit": "1000",
    }
    deadline = time.monotonic() + AUDIT_VISIBLE_WITHIN_S
    while True:
        entries = [
            e
            for e in get_json(admin, "/audit", query)["entries"]
            if e.get("resource_id") == document_id and e.get("outcome") == "success"
        ]
        if entries or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert entries, f"no successful 'document.erase' audit entry for {document_id}"


@pytest.mark.asyncio(loop_scope="session")
async def test_an_erased_synthetic_document_leaves_no_rows_in_the_database(
    synthetic: SyntheticDocuments, await_state: AwaitState, db: asyncpg.Pool
) -> None:
    """After DELETE, no row of the document is left in documents, states, jobs, results, chunks.

    Guards against: erasure that misses derived data, e.g. chunks that have no foreign key to
    cascade from (`erasure_incomplete`).
    Evidences: GDPR Art.17
    """
    document_id = _completed(synthetic, await_state)
    before = await _rows(db, document_id)
    # Only an erasure of data that existed evidences anything.
    missing = [t for t in ("documents", "results", "chunks") if before[t] == 0]
    assert not missing, (
        f"completed document {document_id} has no rows in {missing} before erasure: {before}"
    )
    _erase(synthetic, document_id)
    after = await _rows(db, document_id)
    left = {table: count for table, count in after.items() if count}
    assert not left, (
        f"erased document {document_id} left rows behind (table: rows) {left}; before: {before}"
    )


def test_a_subject_export_lists_every_document_with_metadata_history_and_result(
    synthetic: SyntheticDocuments,
    await_state: AwaitState,
    api_as: Callable[[str], httpx.Client],
    baseline: Baseline,
) -> None:
    """A subject's export lists both its documents with metadata, history and result.

    Guards against: incomplete exports (documents, history or results missing), export
    schema drift.
    Evidences: GDPR Art.20 (and Art.15 right of access)
    """
    uploads = []
    for _ in range(2):
        response = synthetic.upload()
        assert response.status_code == 201, f"upload: {response.status_code} {response.text}"
        uploads.append(response.json())
    for uploaded in uploads:
        document, _ = await_state(synthetic, uploaded["id"], {"completed", "failed"})
        assert document["state"] == "completed", (
            f"document {uploaded['id']} ended {document['state']!r}: {document['failure_reason']}"
        )
    export = get_json(api_as("admin"), f"/subjects/{synthetic.subject}/export")
    baseline.shape("export", export)
    assert export.get("subject_id") == synthetic.subject, f"export names {export.get('subject_id')}"
    exported = {d.get("id"): d for d in export.get("documents", [])}
    expected = {u["id"] for u in uploads}
    assert set(exported) == expected, (
        f"export of {synthetic.subject} lists {sorted(exported)}, expected {sorted(expected)}"
    )
    problems = []
    for uploaded in uploads:
        doc = exported[uploaded["id"]]
        if (doc.get("sha256"), doc.get("size_bytes")) != (
            uploaded["sha256"],
            uploaded["size_bytes"],
        ):
            problems.append(f"{doc['id']}: metadata differs from the upload")
        if doc.get("subject_id") != synthetic.subject:
            problems.append(f"{doc['id']}: subject_id {doc.get('subject_id')!r}")
        states = [h.get("to") for h in doc.get("history") or []]
        if not states or states[0] != "uploaded" or states[-1] != "completed":
            problems.append(f"{doc['id']}: history {states}")
        result = doc.get("result")
        if not isinstance(result, dict) or not result.get("text"):
            problems.append(f"{doc['id']}: no result ({result!r})")
    assert not problems, "; ".join(problems)
