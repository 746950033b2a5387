"""The baseline file on disk: atomic writes, merging, integrity."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_prodval.baseline.store import (
    BaselineError,
    BaselineFile,
    Provenance,
    dumps,
    write_merged,
)

PROVENANCE = Provenance("local", "2026-01-01T00:00:00+00:00", "1.0", "0.1.0", None)

# The writer blocks at the chosen point and tells the test, which then kills it: a SIGKILL
# at exactly the moment that matters, without timing guesses.
KILLED_WRITER = textwrap.dedent(
    """
    import io
    import os
    import sys
    from pathlib import Path

    from pytest_prodval.baseline import store

    path, point = Path(sys.argv[1]), sys.argv[2]

    def block():
        print("blocked", flush=True)
        sys.stdin.read()

    if point == "before-rename":
        os.replace = lambda src, dst: block()
    else:
        real_fdopen = os.fdopen

        class HalfWriter(io.TextIOWrapper):
            def write(self, text):
                super().write(text[: len(text) // 2])
                self.flush()
                block()

        def fdopen(fd, mode, encoding=None):
            return HalfWriter(real_fdopen(fd, "wb"), encoding=encoding)

        os.fdopen = fdopen
    new = {f"t::{i}": {"kind": "exact", "test": "t", "value": "x" * 100} for i in range(2000)}
    store.write_merged(path, new, store.Provenance("local", "now", None, "0", None))
    """
)


@pytest.mark.parametrize("point", ["mid-write", "before-rename"])
def test_a_killed_writer_leaves_the_previous_baseline_intact(tmp_path: Path, point: str) -> None:
    path = tmp_path / "local.json"
    write_merged(path, {"t::old": {"kind": "exact", "test": "t", "value": 1}}, PROVENANCE)
    before = path.read_bytes()
    with subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(path), point],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as writer:
        try:
            assert writer.stdout is not None
            assert writer.stdout.readline().strip() == "blocked"
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    assert list(BaselineFile.load(path).entries) == ["t::old"]


def test_merging_keeps_entries_written_by_another_run_meanwhile(tmp_path: Path) -> None:
    path = tmp_path / "local.json"
    write_merged(path, {"a::x": {"kind": "exact", "test": "a", "value": 1}}, PROVENANCE)
    write_merged(path, {"b::x": {"kind": "exact", "test": "b", "value": 2}}, PROVENANCE)
    assert sorted(BaselineFile.load(path).entries) == ["a::x", "b::x"]


def test_pruning_removes_only_the_named_entries(tmp_path: Path) -> None:
    path = tmp_path / "local.json"
    entries = {k: {"kind": "exact", "test": k, "value": 1} for k in ("a::x", "b::x", "c::x")}
    write_merged(path, entries, PROVENANCE)
    write_merged(path, {}, PROVENANCE, prune=["b::x"])
    assert sorted(BaselineFile.load(path).entries) == ["a::x", "c::x"]


def test_a_missing_file_is_an_empty_baseline(tmp_path: Path) -> None:
    baseline = BaselineFile.load(tmp_path / "none.json")
    assert (baseline.exists, baseline.entries, baseline.provenance) == (False, {}, None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "expected a JSON object at the top level"),
        ('{"entries": {}}', "missing or invalid 'schema'"),
        ('{"schema": 0, "entries": {}}', "unknown baseline schema 0"),
        ('{"schema": 9, "entries": {}}', "written by a newer prodval (baseline schema 9)"),
        ('{"schema": 1, "entries": []}', "'entries' must be a JSON object"),
        ('{"schema": 1, "entries": {"k": 1}}', "entry 'k' must be an object with a 'kind'"),
        ('{"schema": 1, "entries": {}, "extra": 1}', "unknown top-level key 'extra'"),
        ('{"schema": 1, "entries": {}}', "checksum mismatch"),
        ('{"schema": 1, "entr', "not valid JSON"),
    ],
)
def test_an_untrustworthy_file_is_refused_with_one_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "local.json"
    path.write_text(text)
    with pytest.raises(BaselineError) as info:
        BaselineFile.load(path)
    assert message in str(info.value)
    assert str(info.value).startswith(str(path))
    assert "\n" not in str(info.value)


def test_number_lists_wrap_so_samples_review_well(tmp_path: Path) -> None:
    text = dumps({"samples": [1.5] * 100, "nested": {"b": [1, "x"], "a": {}}})
    assert max(len(line) for line in text.splitlines()) <= 100
    assert json.loads(text) == {"samples": [1.5] * 100, "nested": {"b": [1, "x"], "a": {}}}
    assert text.index('"a"') < text.index('"b"')
