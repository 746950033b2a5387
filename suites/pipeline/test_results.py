"""Exact results of a fixed synthetic document: what its fixed input determines, compared exactly.

The document is the same text in every run but for its last line, a unique reference (the
platform keeps one document per content, so two runs must not share one). What is derived
from it is compared with the baseline exactly, not within a tolerance that would let a changed
parser, chunker or embedding model through: the parsed text, the chunks (count, lengths,
text) and the embedding vectors of the chunks that do not hold the reference, read from the
database (the ``db`` fixture, read-only). The reference is masked before hashing.

Parameters read from ``params`` (optional):

- ``exact_embeddings`` (default true): compare the embedding vectors' values (rounded to 4
  decimal places); false where the embedding model is not deterministic. Their dimensions
  are compared either way.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from pytest_prodval import Baseline

from .._support import AwaitState, get_json

if TYPE_CHECKING:
    import asyncpg

    from ..conftest import SyntheticDocuments

pytestmark = [
    pytest.mark.pipeline,
    pytest.mark.synthetic,
    pytest.mark.asyncio(loop_scope="session"),
]

MASK = "<reference>"
EMBEDDING_DECIMALS = 4
_WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima".split()


def fixed_document(reference: str) -> bytes:
    """Three pages (form feeds) of fixed text, then ``Reference <reference>.``: about 1.5 kB,
    four 500-character chunks, the reference alone in the last one."""
    pages = []
    for number in (1, 2, 3):
        lines = [f"Page {number} of the prodval fixed synthetic document."]
        for line in range(6):
            words = (_WORDS[(line * number + i) % len(_WORDS)] for i in range(12))
            lines.append(" ".join(words) + ".")
        pages.append("\n".join(lines) + "\n")
    return ("\f".join(pages) + f"Reference {reference}.\n").encode()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _exact_embeddings(params: dict[str, Any]) -> bool:
    value = params.get("exact_embeddings", True)
    if not isinstance(value, bool):
        pytest.fail(
            f"params.exact_embeddings: expected true or false, got {value!r}", pytrace=False
        )
    return value


async def test_a_fixed_synthetic_document_parses_chunks_and_embeds_exactly_as_in_the_baseline(
    synthetic: SyntheticDocuments,
    await_state: AwaitState,
    db: asyncpg.Pool,
    baseline: Baseline,
    params: dict[str, Any],
) -> None:
    """Parsed text, chunks and embeddings of a fixed synthetic document equal the baseline's.

    Guards against: a changed parser (page joins, whitespace, lost text), chunker (chunk size,
    split points) or embedding model or vector handling (values, dimensions, order), which a
    tolerance on the chunk count lets through.
    """
    exact_embeddings = _exact_embeddings(params)
    reference = uuid.uuid4().hex
    response = synthetic.upload(fixed_document(reference))
    assert response.status_code == 201, f"upload: {response.status_code} {response.text[:300]}"
    document_id: str = response.json()["id"]
    document, _ = await_state(synthetic, document_id, {"completed", "failed"})
    assert document["state"] == "completed", (
        f"document {document_id} ended {document['state']!r}: {document['failure_reason']}"
    )
    result = get_json(synthetic.uploader, f"/documents/{document_id}/result")
    text = result.get("text")
    assert isinstance(text, str) and reference in text, (
        f"the result text of {document_id} lost the document's reference line: {text!r:.300}"
    )
    baseline.exact("text sha256", _sha256(text.replace(reference, MASK)))
    baseline.exact("chunk count", result.get("chunk_count"))
    rows = await db.fetch(
        "select seq, text, embedding from chunks where document_id = $1::uuid order by seq",
        document_id,
    )
    chunks = [str(row["text"]) for row in rows]
    seqs = [row["seq"] for row in rows]
    assert seqs == list(range(len(seqs))) and len(seqs) == result.get("chunk_count"), (
        f"chunks of {document_id} in the database: seq {seqs}; "
        f"the result says chunk_count {result.get('chunk_count')!r}"
    )
    baseline.exact("chunk lengths", [len(chunk) for chunk in chunks])
    baseline.exact(
        "chunks sha256", _sha256("\x1e".join(c.replace(reference, MASK) for c in chunks))
    )
    vectors = [[float(v) for v in row["embedding"]] for row in rows]
    baseline.exact("embedding dimensions", sorted({len(vector) for vector in vectors}))
    if exact_embeddings:
        fixed = [
            [round(v, EMBEDDING_DECIMALS) for v in vector]
            for chunk, vector in zip(chunks, vectors, strict=True)
            if reference not in chunk
        ]
        assert fixed, f"every chunk of {document_id} holds the reference: {chunks}"
        baseline.exact("embeddings sha256", _sha256(json.dumps(fixed)))
