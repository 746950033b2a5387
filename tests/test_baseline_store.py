"""The baseline file on disk: atomic writes, merging, integrity."""

from __future__ import annotations

import fcntl
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
    atomic_write_text,
    dumps,
    write_merged,
)
from pytest_prodval.errors import BaselineLocked, FileWriteError

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


# Two real processes merge into one large baseline at the same moment: each waits, ready,
# until the test releases both (no timing guesses), then records its own entries.
CONCURRENT_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    from pytest_prodval.baseline import store

    path, name = Path(sys.argv[1]), sys.argv[2]
    new = {f"{name}::{i}": {"kind": "exact", "test": name, "value": i} for i in range(500)}
    print("ready", flush=True)
    sys.stdin.readline()
    store.write_merged(path, new, store.Provenance("local", "now", None, "0", None))
    """
)


def test_concurrent_writers_on_one_large_baseline_lose_no_entries(tmp_path: Path) -> None:
    path = tmp_path / "local.json"
    old = {f"old::{i}": {"kind": "exact", "test": "old", "value": "x" * 200} for i in range(20000)}
    write_merged(path, old, PROVENANCE)
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT_WRITER, str(path), name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    try:
        for writer in writers:
            assert writer.stdout is not None
            assert writer.stdout.readline().strip() == "ready"
        for writer in writers:
            assert writer.stdin is not None
            writer.stdin.write("go\n")
            writer.stdin.flush()
        assert [writer.wait(timeout=120) for writer in writers] == [0, 0]
    finally:
        for writer in writers:
            writer.kill()
            writer.communicate()
    entries = BaselineFile.load(path).entries
    assert len(entries) == 20000 + 2 * 500
    assert {f"a::{i}" for i in range(500)} | {f"b::{i}" for i in range(500)} <= set(entries)


def test_a_lock_held_too_long_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "local.json"
    write_merged(path, {"t::old": {"kind": "exact", "test": "t", "value": 1}}, PROVENANCE)
    before = path.read_bytes()
    with open(tmp_path / "local.json.lock", "w") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)  # another run, mid-write
        with pytest.raises(BaselineLocked) as info:
            write_merged(
                path,
                {"t::new": {"kind": "exact", "test": "t", "value": 2}},
                PROVENANCE,
                lock_timeout_s=0.2,
            )
    message = str(info.value)
    assert message.startswith(f"{path}: another run is writing this baseline and held ")
    assert "local.json.lock for more than 0.2 s; nothing was written" in message
    assert "\n" not in message
    assert path.read_bytes() == before
    write_merged(path, {"t::new": {"kind": "exact", "test": "t", "value": 2}}, PROVENANCE)
    assert sorted(BaselineFile.load(path).entries) == ["t::new", "t::old"]


def test_a_symlinked_baseline_updates_its_target_and_stays_a_link(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    (tmp_path / "project").mkdir()
    target = tmp_path / "store" / "local.json"
    link = tmp_path / "project" / "local.json"
    write_merged(target, {"a::x": {"kind": "exact", "test": "a", "value": 1}}, PROVENANCE)
    link.symlink_to(target)
    write_merged(link, {"b::x": {"kind": "exact", "test": "b", "value": 2}}, PROVENANCE)
    assert link.is_symlink() and link.resolve() == target
    assert sorted(BaselineFile.load(target).entries) == ["a::x", "b::x"]
    assert sorted(p.name for p in (tmp_path / "project").iterdir()) == ["local.json"]
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == [
        "local.json",
        "local.json.lock",
    ]


# RLIMIT_FSIZE makes every write past the limit fail with EFBIG, for root too: a real "disk
# full" that leaves the old (small) file in place.
FULL_DISK_WRITER = textwrap.dedent(
    """
    import resource
    import signal
    import sys
    from pathlib import Path

    from pytest_prodval.baseline import store
    from pytest_prodval.errors import FileWriteError

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (16384, 16384))
    big = {"t::big": {"kind": "exact", "test": "t", "value": "x" * 100000}}
    try:
        store.write_merged(Path(sys.argv[1]), big, store.Provenance("l", "n", None, "0", None))
    except FileWriteError as exc:
        print(exc)
    """
)


def test_a_full_disk_is_one_line_the_old_file_intact_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "local.json"
    write_merged(path, {"t::old": {"kind": "exact", "test": "t", "value": 1}}, PROVENANCE)
    before = path.read_bytes()
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK_WRITER, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout == f"{path}: cannot write (File too large); the previous file is unchanged\n"
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["local.json", "local.json.lock"]


def test_a_directory_that_cannot_exist_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where the directory should be")
    path = tmp_path / "blocker" / "local.json"
    with pytest.raises(FileWriteError) as info:
        atomic_write_text(path, "{}")
    assert str(info.value) == f"{path}: cannot write (File exists); nothing was written"
    with pytest.raises(FileWriteError) as info:
        write_merged(path, {}, PROVENANCE)
    assert str(info.value).startswith(f"{path}: cannot write the baseline: cannot create its lock")
    assert "\n" not in str(info.value)


def test_any_failure_mid_write_removes_the_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    atomic_write_text(path, "old\n")
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(path, "half written \ud800 then an encoding error")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]
