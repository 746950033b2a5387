"""Synthetic documents through the processing pipeline: states, timing, results, integrity.

Parameters read from ``params`` (all optional):

- ``embedding_step_tolerance_s`` (default 1.0): how many seconds longer than the baseline the
  embedding step (``embedding`` -> ``completed`` in the state history) may take.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from pytest_prodval import Baseline, TargetEnv

from .._support import AwaitState, get_json

if TYPE_CHECKING:
    from ..conftest import SyntheticDocuments

pytestmark = [pytest.mark.pipeline, pytest.mark.synthetic]

DONE = {"completed", "failed"}


def _at(entry: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(entry["at"])


def _upload(synthetic: SyntheticDocuments, content: bytes | None = None) -> dict[str, Any]:
    response = synthetic.upload(content)
    if response.status_code != 201:
        pytest.fail(f"POST /documents answered {response.status_code}: {response.text[:300]}")
    body: dict[str, Any] = response.json()
    return body


def test_a_synthetic_document_goes_through_the_baseline_states_within_the_slo(
    synthetic: SyntheticDocuments, await_state: AwaitState, baseline: Baseline, target: TargetEnv
) -> None:
    """A synthetic document passes exactly the baseline's states and completes within the SLO.

    Guards against: a skipped or reordered processing step (`state_skip`), documents that never
    complete (`worker_stalled`) or take longer than `slo.worker_seconds`, failing uploads
    (`error_rate`).
    """
    document_id = _upload(synthetic)["id"]
    document, seconds = await_state(synthetic, document_id, DONE)
    baseline.exact("state sequence", [h["to"] for h in document["history"]])
    assert document["state"] == "completed", (
        f"document {document_id} ended {document['state']!r}: {document['failure_reason']}"
    )
    baseline.limit(
        "time to complete",
        seconds,
        below=target.slo.worker_seconds,
        unit="s",
        source="slo.worker_seconds in prodval.yaml",
        note=f"document {document_id}",
    )


def test_the_embedding_step_takes_no_longer_than_in_the_baseline(
    synthetic: SyntheticDocuments,
    await_state: AwaitState,
    baseline: Baseline,
    params: dict[str, Any],
) -> None:
    """Time from `embedding` to `completed` in a synthetic document's history, vs the baseline.

    Guards against: a slow embedding service (`slow_embedder`: +2.5 s per request, which the
    30 s worker SLO alone does not catch); documents that skip embedding (`state_skip`).
    """
    document_id = _upload(synthetic)["id"]
    document, _ = await_state(synthetic, document_id, DONE)
    history = document["history"]
    states = [h["to"] for h in history]
    assert document["state"] == "completed", (
        f"document {document_id} ended {document['state']!r}: {document['failure_reason']}"
    )
    assert "embedding" in states, f"document {document_id} never entered 'embedding': {states}"
    started = _at(history[len(states) - 1 - states[::-1].index("embedding")])
    seconds = (_at(history[-1]) - started).total_seconds()
    baseline.number(
        "embedding step seconds",
        seconds,
        abs=float(params.get("embedding_step_tolerance_s", 1.0)),
        direction="higher_is_worse",
        unit="s",
    )


def test_a_completed_document_has_a_result_of_the_baseline_shape(
    synthetic: SyntheticDocuments, await_state: AwaitState, baseline: Baseline
) -> None:
    """The result of a completed synthetic document: shape, chunk count and dimensions.

    Guards against: a renamed or missing result field (`schema_drift`), results without chunks
    or embeddings (`state_skip`), a changed chunker (another count), a changed embedding model
    (dimensions differ).
    """
    document_id = _upload(synthetic)["id"]
    document, _ = await_state(synthetic, document_id, DONE)
    assert document["state"] == "completed", (
        f"document {document_id} ended {document['state']!r}: {document['failure_reason']}"
    )
    result = get_json(synthetic.uploader, f"/documents/{document_id}/result")
    baseline.shape("result", result)
    assert result.get("id") == document_id, f"result of {document_id} names {result.get('id')}"
    chunks = result.get("chunk_count")
    assert isinstance(chunks, int) and chunks >= 1, (
        f"document {document_id} completed with chunk_count {chunks!r}; expected >= 1"
    )
    # The synthetic text has a fixed length and layout: its chunk count is knowable exactly.
    baseline.exact("chunk count", chunks)
    baseline.exact("embedding dimensions", result.get("embedding_dimensions"))


def test_an_unparseable_document_fails_with_a_reason_and_no_result(
    synthetic: SyntheticDocuments,
    await_state: AwaitState,
    baseline: Baseline,
    api_as: Callable[[str], httpx.Client],
) -> None:
    """A document that is not text (invalid UTF-8) ends `failed`, the baseline's reason, no result.

    The reason is the parser's message for this input, which is the same in every run (the
    input is fixed but for bytes that keep it unique and never valid UTF-8), so it is compared
    exactly: a reason that no longer says why (a generic "failed") is a regression.

    Guards against: unparseable input that hangs, completes with garbage or leaves partial
    results; failures without a reason, or with a generic one instead of the parser's message
    (`worker_stalled` also shows here).
    """
    content = b"\xff\xfe\x80 prodval unparseable " + uuid.uuid4().bytes + b"\xc3\x28"
    document_id = _upload(synthetic, content)["id"]
    document, _ = await_state(synthetic, document_id, DONE)
    assert document["state"] == "failed", (
        f"unparseable document {document_id} ended {document['state']!r}, expected 'failed'"
    )
    reason = document.get("failure_reason")
    assert isinstance(reason, str) and reason.strip(), (
        f"failed document {document_id} has no failure_reason: {reason!r}"
    )
    baseline.exact("failure reason", reason)
    baseline.exact("state sequence", [h["to"] for h in document["history"]])
    result = synthetic.uploader.get(f"/documents/{document_id}/result")
    baseline.exact("result status", result.status_code)
    assert result.status_code == 409 and "chunk_count" not in result.text, (
        f"GET /documents/{document_id}/result answered {result.status_code}: {result.text[:300]}"
    )
    export = get_json(api_as("admin"), f"/subjects/{synthetic.subject}/export")
    exported = [d for d in export.get("documents", []) if d.get("id") == document_id]
    assert len(exported) == 1, f"export of {synthetic.subject} lists {document_id} {len(exported)}x"
    assert exported[0].get("result") is None, (
        f"the export shows a result for failed document {document_id}: {exported[0]['result']}"
    )


def test_an_empty_upload_is_refused_without_creating_a_document(
    synthetic: SyntheticDocuments, baseline: Baseline
) -> None:
    """An empty body is refused (400) and creates no document.

    Guards against: empty uploads accepted and queued (they can only fail later).
    """
    response = synthetic.upload(b"")
    baseline.exact("status", response.status_code)
    assert response.status_code == 400, (
        f"empty upload answered {response.status_code}: {response.text[:300]}"
    )
    assert not synthetic.ids, f"an empty upload created documents {synthetic.ids}"


def test_resubmitting_a_document_returns_the_same_document_without_a_duplicate(
    synthetic: SyntheticDocuments, baseline: Baseline, api_as: Callable[[str], httpx.Client]
) -> None:
    """Uploading the same content twice returns the first document, marked duplicate.

    Guards against: duplicate documents (and duplicate processing) for retried uploads.
    """
    content = f"prodval duplicate probe {uuid.uuid4()}\n".encode() * 20
    first = synthetic.upload(content)
    second = synthetic.upload(content)
    baseline.exact("status codes", [first.status_code, second.status_code])
    assert first.status_code == 201, f"first upload: {first.status_code} {first.text[:300]}"
    assert second.status_code in (200, 201), f"second upload: {second.status_code} {second.text}"
    one, two = first.json(), second.json()
    assert two["id"] == one["id"], f"resubmission created {two['id']} besides {one['id']}"
    assert (one.get("duplicate"), two.get("duplicate")) == (False, True), (
        f"duplicate flags: first {one.get('duplicate')!r}, second {two.get('duplicate')!r}"
    )
    export = get_json(api_as("admin"), f"/subjects/{synthetic.subject}/export")
    ids = [d.get("id") for d in export.get("documents", [])]
    assert ids == [one["id"]], f"export of {synthetic.subject} lists {ids}, expected [{one['id']}]"


def test_downloaded_content_is_byte_identical_to_the_upload(synthetic: SyntheticDocuments) -> None:
    """GET /documents/{id}/content returns the uploaded bytes (same SHA-256).

    Guards against: corrupted, truncated or swapped stored files.
    """
    content = f"prodval integrity probe {uuid.uuid4()}\n".encode() * 50
    sha256 = hashlib.sha256(content).hexdigest()
    uploaded = _upload(synthetic, content)
    assert uploaded.get("sha256") == sha256, (
        f"upload reports sha256 {uploaded.get('sha256')}, the bytes sent hash to {sha256}"
    )
    response = synthetic.uploader.get(f"/documents/{uploaded['id']}/content")
    assert response.status_code == 200, (
        f"GET /documents/{uploaded['id']}/content answered {response.status_code}: "
        f"{response.text[:300]}"
    )
    got = hashlib.sha256(response.content).hexdigest()
    assert got == sha256, (
        f"downloaded {len(response.content)} bytes hash to {got}; "
        f"uploaded {len(content)} bytes hashing to {sha256}"
    )
