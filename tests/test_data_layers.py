"""The helpers the data-layer checks stand on: the fixed synthetic document, the storage paths
they read, the files they judge. (The checks themselves run against docpipe in the fault
matrix and the mutation benchmark.)"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from docpipe.services import CHUNK_CHARS, split_text
from docpipe.storage import FileStorage
from docpipe.stubs.parser import parse_document

from suites.compliance._layers import StoredFiles, declared_storage
from suites.compliance.test_storage import _files
from suites.pipeline.test_results import CHUNK_CHARS as SUITE_CHUNK_CHARS
from suites.pipeline.test_results import fixed_document


def test_the_fixed_document_has_pages_and_chunks_with_the_reference_alone_in_the_last() -> None:
    reference = "0" * 32
    text, pages = parse_document(fixed_document(reference))
    chunks = split_text(text)
    assert pages == 3
    assert [reference in chunk for chunk in chunks] == [False, False, False, True]


def test_the_fixed_document_has_chunks_of_exactly_the_chunk_size_and_whitespace_edges() -> None:
    """The boundary case the chunk-length baseline needs: chunks exactly ``CHUNK_CHARS`` long,
    which a chunk closed at ``>=`` instead of ``>`` (as a limit one lower: no word here is
    longer than a chunk) splits one word early; and whitespace at both ends of the input."""
    data = fixed_document("0" * 32)
    text, _ = parse_document(data)
    assert SUITE_CHUNK_CHARS == CHUNK_CHARS
    assert [len(chunk) for chunk in split_text(text)] == [CHUNK_CHARS] * 3 + [43]
    assert len(split_text(text, CHUNK_CHARS - 1)[0]) < CHUNK_CHARS - 1
    assert data[:1].isspace() and data[-1:].isspace()


def test_the_fixed_document_differs_between_references_only_in_the_reference() -> None:
    one, two = fixed_document("a" * 32), fixed_document("b" * 32)
    assert one != two
    assert one.replace(b"a" * 32, b"") == two.replace(b"b" * 32, b"")


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../outside", "tenant/../../outside"])
def test_a_storage_key_outside_the_storage_fails_the_check(tmp_path: Path, key: str) -> None:
    with pytest.raises(pytest.fail.Exception, match="not a relative path inside the storage"):
        StoredFiles(tmp_path).path(key)


def test_a_file_docpipe_stores_is_found_under_its_key(tmp_path: Path) -> None:
    FileStorage(tmp_path).put("tenant-a/doc-1", b"content")
    stored = StoredFiles(tmp_path)
    assert stored.holds("tenant-a/doc-1")
    assert not stored.holds("tenant-a/doc-2")


def test_no_storage_dir_means_no_storage_and_a_relative_one_is_under_the_root_dir(
    tmp_path: Path,
) -> None:
    (tmp_path / "store").mkdir()
    assert declared_storage({}, tmp_path) is None
    found = declared_storage({"storage_dir": "store"}, tmp_path)
    assert found is not None and found.root == tmp_path / "store"


@pytest.mark.parametrize("value", ["", 3, "missing-dir"])
def test_a_storage_dir_that_is_no_readable_directory_fails_naming_the_key(
    tmp_path: Path, value: object
) -> None:
    with pytest.raises(pytest.fail.Exception, match=r"params\.storage_dir"):
        declared_storage({"storage_dir": value}, tmp_path)


def test_files_are_judged_once_old_enough_but_the_readiness_probe_never(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path)
    for key in ("t/old", "t/.upload-abc", ".probe/123", "t/.probe/x", "t/young"):
        storage.put(key, b"x")
    old = time.time() - 600
    for key in ("t/old", "t/.upload-abc", ".probe/123", "t/.probe/x"):
        os.utime(tmp_path / key, (old, old))
    assert sorted(_files(tmp_path, time.time() - 60)) == ["t/.probe/x", "t/.upload-abc", "t/old"]
