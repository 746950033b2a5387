"""GDPR data-subject rights on synthetic subjects: erasure (Art. 17) and portability (Art. 20).

Erasure is judged in every layer the platform keeps a document in: the API, the database
(read-only, the ``db`` fixture) and the document storage (``params.storage_dir``, read-only;
without it the storage check skips). The audit trail of the document stays: it is the proof
of the erasure (Art. 5(2)) and holds no personal data of the document.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx
import pytest

from pytest_prodval import Baseline

from .._support import AwaitState, get_json
from ._layers import derived_tables, row_counts, storage_key

if TYPE_CHECKING:
    import asyncpg

    from ..conftest import SyntheticDocuments
    from ._layers import StoredFiles

pytestmark = [pytest.mark.compliance, pytest.mark.synthetic]

AUDIT_VISIBLE_WITHIN_S = 5.0
# Audit rows of a document that erasure must leave (they prove what happened to it).
KEPT_AUDIT_ACTIONS = ("document.upload", "document.erase")


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


async def _kept_audit_actions(db: asyncpg.Pool, document_id: str) -> set[str]:
    """The successful audit actions on the document, waiting (bounded) for all of
    ``KEPT_AUDIT_ACTIONS``: an audit trail may be written a moment after the answer."""
    deadline = time.monotonic() + AUDIT_VISIBLE_WITHIN_S
    while True:
        rows = await db.fetch(
            """
            select distinct action from audit_log
            where resource_type = 'document' and resource_id = $1 and outcome = 'success'
            """,
            document_id,
        )
        actions = {str(row["action"]) for row in rows}
        if actions.issuperset(KEPT_AUDIT_ACTIONS) or time.monotonic() > deadline:
            return actions
        await asyncio.sleep(0.2)


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
    """After DELETE, no row of the document is left in any table that holds document data.

    The tables: documents, states, jobs, results, chunks, and every other table of the schema
    with a `document_id` column. Its audit rows (upload, erasure) stay.
    Guards against: erasure that misses derived data, e.g. chunks that have no foreign key to
    cascade from (`erasure_incomplete`), or a table a release adds and erasure forgets;
    erasure that takes the audit trail with it.
    Evidences: GDPR Art.17 (and Art.5(2) accountability)
    """
    document_id = _completed(synthetic, await_state)
    tables = await derived_tables(db)
    before = await row_counts(db, document_id, tables)
    # Only an erasure of data that existed evidences anything.
    missing = [t for t in ("documents", "results", "chunks") if before[t] == 0]
    assert not missing, (
        f"completed document {document_id} has no rows in {missing} before erasure: {before}"
    )
    _erase(synthetic, document_id)
    after = await row_counts(db, document_id, tables)
    left = {table: count for table, count in after.items() if count}
    assert not left, (
        f"erased document {document_id} left rows behind (table: rows) {left}; before: {before}"
    )
    kept = await _kept_audit_actions(db, document_id)
    lost = [action for action in KEPT_AUDIT_ACTIONS if action not in kept]
    assert not lost, (
        f"after erasing {document_id} the audit log has no successful {lost} row for it "
        f"(it has {sorted(kept)}): the erasure is not provable"
    )


@pytest.mark.asyncio(loop_scope="session")
async def test_an_erased_synthetic_document_leaves_no_file_in_storage(
    synthetic: SyntheticDocuments,
    await_state: AwaitState,
    db: asyncpg.Pool,
    storage: StoredFiles,
) -> None:
    """After DELETE, the document's file is gone from the document storage.

    Before erasure the file is there with the uploaded bytes (its SHA-256), so its absence
    afterwards evidences the erasure, not a wrong path.
    Guards against: erasure that removes the rows but leaves the uploaded file (the original,
    with all its personal data) on disk.
    Evidences: GDPR Art.17
    """
    document_id = _completed(synthetic, await_state)
    key = await storage_key(db, document_id)
    sha256 = await db.fetchval("select sha256 from documents where id = $1::uuid", document_id)
    assert storage.holds(key), (
        f"completed document {document_id} has no file {key!r} in {storage.root} before "
        "erasure (is params.storage_dir the platform's storage directory?)"
    )
    assert storage.sha256(key) == sha256, (
        f"the stored file {key!r} of {document_id} does not hash to the document's sha256"
    )
    _erase(synthetic, document_id)
    assert not storage.holds(key), (
        f"erased document {document_id} left its file {storage.path(key)} in the storage"
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
