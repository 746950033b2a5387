"""Exact results of a fixed synthetic document: what its fixed input determines, compared exactly.

The document is the same text in every run but for its last line, a unique reference (the
platform keeps one document per content, so two runs must not share one). What is derived
from it is compared with the baseline exactly, not within a tolerance that would let a changed
parser, chunker or embedding model through: the parsed text (its leading and trailing
whitespace, then all of it), the chunks (count, lengths, text) and the embedding vectors of the
chunks that do not hold the reference, read from the database (the ``db`` fixture, read-only).
The reference is masked before hashing.

The input is built to hold the cases a chunker or a text store gets wrong by one: every page is
exactly ``CHUNK_CHARS`` characters of text (a chunk of exactly the chunk size, which a chunk
closed at ``>=`` instead of ``>`` splits one word early), and the document starts with a blank
line and an indented title and ends with a blank line (whitespace that a parser may keep and a
store must not strip; docpipe's parser drops it at the page edges, as the baseline records).

Parameters read from ``params`` (optional):

- ``exact_embeddings`` (default true): compare the embedding vectors' values exactly, as the
  database returns them (a ``real[]`` column holds single precision, so the values are the
  same in every run of a deterministic model, to the bit); false where the embedding model is
  not deterministic. Their dimensions are compared either way.
"""

from __future__ import annotations

import hashlib
import struct
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
# docpipe's chunk size (docpipe.services.CHUNK_CHARS): every page of the fixed document is this
# long, so that one chunk is exactly the chunk size.
CHUNK_CHARS = 500
# Components of each vector shown in the baseline as values (the digest covers all of them), so
# that a changed value reads as numbers in the failure, not as two digests.
SHOWN_COMPONENTS = 4
_WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima".split()


def _page(number: int) -> str:
    lines = [f"Page {number} of 3, the prodval fixed synthetic document."]
    for line in range(6):
        words = (_WORDS[(line * number + i) % len(_WORDS)] for i in range(12))
        lines.append(" ".join(words) + ".")
    page = "\n".join(lines)
    # The boundary case: a page of exactly CHUNK_CHARS characters is one chunk of that length.
    assert len(page) == CHUNK_CHARS, f"page {number} is {len(page)} characters"
    return page


def fixed_document(reference: str) -> bytes:
    """Three pages (form feeds) of exactly ``CHUNK_CHARS`` characters of text each, then
    ``Reference <reference>.``: about 1.5 kB, three chunks of exactly ``CHUNK_CHARS``
    characters and the reference alone in a fourth. It starts with a blank line and an indented
    title and ends with a blank line."""
    pages = [_page(number) + "\n" for number in (1, 2, 3)]
    return ("\n    " + "\f".join(pages) + f"Reference {reference}.\n\n").encode()


def _edges(text: str) -> list[str]:
    """The leading and the trailing whitespace of ``text``."""
    return [text[: len(text) - len(text.lstrip())], text[len(text.rstrip()) :]]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _float64_sha256(vectors: list[list[float]]) -> str:
    """SHA-256 of the values as IEEE 754 doubles, big-endian, vector after vector: exact (a
    ``real`` widens to a double without loss), unlike a digest of rounded or printed values."""
    data = b"".join(struct.pack(f">{len(vector)}d", *vector) for vector in vectors)
    return hashlib.sha256(data).hexdigest()


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

    Guards against: a changed parser (page joins, whitespace, lost text), a stored text that
    lost or gained its edges' whitespace, a changed chunker (chunk size, split points, a chunk
    closed one character early at the boundary), a changed embedding model or vector handling
    (values, rounding, dimensions, order), which a tolerance on the chunk count lets through.
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
    # The edges first: a text stripped (or newly padded) fails here, saying which edge.
    baseline.exact("text leading and trailing whitespace", _edges(text))
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
            vector for chunk, vector in zip(chunks, vectors, strict=True) if reference not in chunk
        ]
        assert fixed, f"every chunk of {document_id} holds the reference: {chunks}"
        # Exactly as stored, not rounded: a deterministic model's vectors are the same bits in
        # every run, and a rounding (or a narrower type) in the pipeline changes them.
        baseline.exact(
            f"embeddings first {SHOWN_COMPONENTS} components",
            [vector[:SHOWN_COMPONENTS] for vector in fixed],
        )
        baseline.exact("embeddings float64 sha256", _float64_sha256(fixed))
