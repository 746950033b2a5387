"""The baseline file: schema-versioned JSON with provenance, merged and written atomically.

Layout (``schema`` 1)::

    {
      "schema": 1,
      "checksum": "sha256:…",          # of everything else, to catch truncation or hand edits
      "provenance": {"environment": …, "recorded_at": …, "target_version": …,
                     "prodval_version": …, "suite_commit": …},
      "entries": {"<test key>::<name>": {"kind": …, "test": "<test key>", …}}
    }

A recording run merges into the file that is on disk at write time: entries it did not
record are kept, so a partial run never loses anything; only an explicit prune removes
entries. Writers take turns on ``<baseline>.lock`` (``flock``) for the read-merge-write; a
symlinked path updates the link's target; a file that cannot be written is one
``FileWriteError`` line and the previous file stays.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ..errors import BaselineError, BaselineLocked, FileWriteError
from .entries import entry_problem
from .verdict import Entry

__all__ = [
    "LOCK_TIMEOUT_S",
    "SCHEMA_VERSION",
    "BaselineError",
    "BaselineFile",
    "Provenance",
    "atomic_write_text",
    "dumps",
    "write_merged",
]

SCHEMA_VERSION = 1
_WRAP = 100
_CORRUPTED = "the file is truncated or corrupted — restore it from git, or delete it and re-record"
_OPTIONAL_PROVENANCE = frozenset({"target_version", "suite_commit"})
# A writer holds the lock only for one read-merge-write of the file: seconds at most.
LOCK_TIMEOUT_S = 60.0
_LOCK_POLL_S = 0.05


@dataclasses.dataclass(frozen=True)
class Provenance:
    environment: str
    recorded_at: str
    target_version: str | None
    prodval_version: str
    suite_commit: str | None

    def describe(self) -> str:
        version = self.target_version or "unknown"
        return (
            f"recorded on {self.environment} at {self.recorded_at}, target version {version}, "
            f"prodval {self.prodval_version}"
            + (f", suite commit {self.suite_commit[:12]}" if self.suite_commit else "")
        )

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class BaselineFile:
    """An in-memory baseline: what was on disk (or nothing) when the run started."""

    path: Path
    provenance: Provenance | None = None
    entries: dict[str, Entry] = dataclasses.field(default_factory=dict)
    exists: bool = False

    @classmethod
    def load(cls, path: Path) -> BaselineFile:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path)
        except UnicodeDecodeError as exc:  # a ValueError, not an OSError
            raise BaselineError(
                f"{path}: not valid UTF-8 (byte {exc.start}: {exc.reason}); {_CORRUPTED}"
            ) from None
        except OSError as exc:
            raise BaselineError(f"{path}: cannot read baseline: {exc.strerror}") from None
        try:
            return cls(path, *_parse(path, text), exists=True)
        except RecursionError:
            # json's C parser and encoder both recurse per nesting level.
            raise BaselineError(
                f"{path}: not valid JSON (nested too deeply); {_CORRUPTED}"
            ) from None


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _not_a_number(text: str) -> float:
    raise ValueError(f"{text} is not a number")


def _parse(path: Path, text: str) -> tuple[Provenance | None, dict[str, Entry]]:
    try:
        # A recording never writes NaN, Infinity or 1e999, and they cannot be checksummed.
        data = json.loads(text, parse_float=_finite, parse_constant=_not_a_number)
    except json.JSONDecodeError as exc:
        raise BaselineError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            + _CORRUPTED
        ) from None
    except ValueError as exc:  # from the hooks above, or an integer of thousands of digits
        raise BaselineError(f"{path}: not valid JSON ({exc}); {_CORRUPTED}") from None
    if not isinstance(data, dict):
        raise BaselineError(f"{path}: expected a JSON object at the top level")
    schema = data.get("schema")
    if not isinstance(schema, int) or isinstance(schema, bool):
        raise BaselineError(f"{path}: missing or invalid 'schema'; expected {SCHEMA_VERSION}")
    if schema > SCHEMA_VERSION:
        raise BaselineError(
            f"{path}: written by a newer prodval (baseline schema {schema}); this prodval reads "
            f"schema {SCHEMA_VERSION} — upgrade pytest-prodval"
        )
    if schema < 1:
        raise BaselineError(f"{path}: unknown baseline schema {schema}; expected {SCHEMA_VERSION}")
    unknown = sorted(set(data) - {"schema", "checksum", "provenance", "entries"})
    if unknown:
        raise BaselineError(f"{path}: unknown top-level key {unknown[0]!r}")
    entries = data.get("entries")
    if not isinstance(entries, dict):
        raise BaselineError(f"{path}: 'entries' must be a JSON object")
    for key, entry in entries.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("kind"), str):
            raise BaselineError(f"{path}: entry {key!r} must be an object with a 'kind'")
    if data.get("checksum") != _checksum(data):
        raise BaselineError(
            f"{path}: checksum mismatch — the file was truncated or edited by hand; "
            "restore it from git, or delete it and re-record with --record-baseline"
        )
    for key, entry in entries.items():
        problem = entry_problem(entry)
        if problem is not None:
            raise BaselineError(
                f"{path}: entry {key!r}: {problem}; re-record it with --record-baseline"
            )
    return _provenance(path, data.get("provenance")), entries


def _provenance(path: Path, raw: object) -> Provenance | None:
    if raw is None:
        return None
    try:
        assert isinstance(raw, dict)
        provenance = Provenance(**raw)
    except (AssertionError, TypeError):
        raise BaselineError(f"{path}: 'provenance' is malformed") from None
    # The dataclass does not check types; the header and reports slice and format these.
    for name, value in raw.items():
        if not isinstance(value, str) and not (value is None and name in _OPTIONAL_PROVENANCE):
            expected = "a string or null" if name in _OPTIONAL_PROVENANCE else "a string"
            raise BaselineError(f"{path}: 'provenance.{name}' must be {expected}")
    return provenance


def _checksum(data: Mapping[str, Any]) -> str:
    body = {k: v for k, v in data.items() if k != "checksum"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


# --- writing ------------------------------------------------------------------------------


def dumps(data: Mapping[str, Any]) -> str:
    """Sorted, indented JSON; lists of plain numbers wrap at 100 columns so samples stay short."""
    return _dump(data, 0) + "\n"


def _dump(obj: Any, level: int) -> str:
    pad, inner = "  " * level, "  " * (level + 1)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{inner}{json.dumps(str(k))}: {_dump(obj[k], level + 1)}" for k in sorted(obj)]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, (list, tuple)):
        if not obj:
            return "[]"
        if all(_is_number(x) for x in obj):
            return "[\n" + _wrap([json.dumps(x) for x in obj], inner) + "\n" + pad + "]"
        return "[\n" + ",\n".join(inner + _dump(x, level + 1) for x in obj) + "\n" + pad + "]"
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ValueError(f"cannot store a non-finite number ({obj}) in a baseline")
    return json.dumps(obj)


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _wrap(tokens: list[str], indent: str) -> str:
    lines, line = [], ""
    for token in tokens:
        if line and len(indent) + len(line) + len(token) + 2 > _WRAP:
            lines.append(indent + line + ",")
            line = ""
        line = f"{line}, {token}" if line else token
    lines.append(indent + line)
    return "\n".join(lines)


def write_merged(
    path: Path,
    recorded: Mapping[str, Entry],
    provenance: Provenance,
    prune: Iterable[str] = (),
    *,
    lock_timeout_s: float = LOCK_TIMEOUT_S,
) -> dict[str, Entry]:
    """Merge ``recorded`` into the file now on disk, drop ``prune`` keys, write atomically.

    Re-reading at write time (not the copy loaded at start) keeps entries that another
    run wrote meanwhile; ``<baseline>.lock`` (``flock``) serialises the read-merge-write of
    concurrent writers, waiting at most ``lock_timeout_s``. A symlinked ``path`` updates
    the link's target in place. Returns the entries written.

    Raises ``BaselineLocked`` when the lock is not free in time, ``FileWriteError`` when the
    file cannot be written (the previous file is left intact), ``BaselineError`` when the
    file on disk cannot be trusted.
    """
    target = Path(os.path.realpath(path))
    with _locked(path, target, lock_timeout_s):
        current = BaselineFile.load(path)
        entries = dict(current.entries)
        for key in prune:
            entries.pop(key, None)
        entries.update(recorded)
        data: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "provenance": provenance.to_json(),
            "entries": entries,
        }
        # Checksum the data as it will be read back, so float formatting cannot break it.
        data = json.loads(json.dumps(data, allow_nan=False))
        data["checksum"] = _checksum(data)
        atomic_write_text(path, dumps(data))
    return entries


@contextlib.contextmanager
def _locked(path: Path, target: Path, timeout_s: float) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``<target>.lock`` (next to the real file).

    The lock file stays: removing it would let a waiter lock an unlinked inode while a
    newcomer locks a fresh one.
    """
    lock = target.with_name(target.name + ".lock")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise FileWriteError(
            f"{_shown(path, target)}: cannot write the baseline: cannot create its lock file "
            f"{lock} ({_reason(exc)}); the previous file is unchanged"
        ) from None
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise BaselineLocked(
                        f"{_shown(path, target)}: another run is writing this baseline and "
                        f"held {lock} for more than {timeout_s:g} s; nothing was written — "
                        "record again when it has finished"
                    ) from None
                time.sleep(_LOCK_POLL_S)
        yield
    finally:
        os.close(fd)  # releases the lock


def atomic_write_text(path: Path, text: str) -> None:
    """Temp file next to the real file, fsync, rename, fsync the directory.

    A symlinked ``path`` is resolved first, so the link's target is replaced and the link
    stays a link. Any failure removes the temp file and leaves the previous file intact;
    an ``OSError`` becomes one ``FileWriteError`` line naming the file.
    """
    target = Path(os.path.realpath(path))
    tmp: str | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        kept = "the previous file is unchanged" if target.exists() else "nothing was written"
        raise FileWriteError(
            f"{_shown(path, target)}: cannot write ({_reason(exc)}); {kept}"
        ) from None
    finally:
        if tmp is not None:  # any failure, KeyboardInterrupt included
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    try:
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise FileWriteError(
            f"{_shown(path, target)}: written, but its directory could not be synced "
            f"({_reason(exc)}); it may not survive a power loss"
        ) from None


def _shown(path: Path, target: Path) -> str:
    """``path``, and the file it links to when it is a symlink."""
    linked = Path(os.path.realpath(path.parent)) / path.name != target
    return f"{path} (-> {target})" if linked else str(path)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__
