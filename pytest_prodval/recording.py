"""Recording mode: what the run observed is merged into the baseline file at the end.

Only checks that passed every phase speak for their entries: what a failed, errored or
skipped check recorded is kept back, so a faulty deployment cannot replace known-good
entries. A write that fails (lock held too long, read-only directory, disk full) is one
line in ``BaselineWrite.error``; the file on disk is then the previous one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .baseline.store import BaselineFile, Provenance, write_merged
from .errors import ProdvalError
from .target import suite_commit

if TYPE_CHECKING:
    from .config import TargetEnv
    from .observations import Observations
    from .options import RunOptions

__all__ = ["BaselineRecorder", "BaselineWrite", "utcnow"]


@dataclasses.dataclass(frozen=True)
class BaselineWrite:
    """What one recording wrote, and what it kept back."""

    path: Path
    recorded: int
    pruned: list[str]
    total: int | None  # entries in the file afterwards; None when it was not written
    kept_back: list[str] = dataclasses.field(default_factory=list)  # entry keys
    failed_checks: list[str] = dataclasses.field(default_factory=list)  # test keys
    not_passed_checks: list[str] = dataclasses.field(default_factory=list)  # skipped, …
    written: bool = True
    error: str | None = None  # one line: why the file could not be written

    def lines(self, shown: str) -> list[str]:
        """The terminal's lines about this recording (the error line excepted)."""
        lines = []
        if self.failed_checks:
            lines.append(
                f"prodval: {_checks(len(self.failed_checks))} failed: "
                f"{_their(len(self.failed_checks))} entries were not recorded"
                + _kept(self.kept_back)
            )
        if self.not_passed_checks:
            lines.append(
                f"prodval: {_checks(len(self.not_passed_checks))} did not pass (skipped): "
                f"{_their(len(self.not_passed_checks))} entries were not recorded"
                + ("" if self.failed_checks else _kept(self.kept_back))
            )
        if self.written:
            pruned = f", {len(self.pruned)} pruned" if self.pruned else ""
            lines.append(
                f"prodval: baseline written to {shown} "
                f"({self.recorded} recorded{pruned}, {self.total} entries)"
            )
        elif self.error is None:
            lines.append(f"prodval: baseline {shown} not written: no passing check recorded")
        return lines

    def to_json(self, shown: str) -> dict[str, object]:
        return {
            "path": shown,
            "written": self.written,
            "recorded": self.recorded,
            "pruned": self.pruned,
            "entries": self.total,
            "kept_back": self.kept_back,
            "failed_checks": self.failed_checks,
            "error": self.error,
        }


def _checks(n: int) -> str:
    return f"{n} check" if n == 1 else f"{n} checks"


def _their(n: int) -> str:
    return "its" if n == 1 else "their"


def _kept(kept_back: list[str]) -> str:
    if not kept_back:
        return ""
    n = len(kept_back)
    return f" ({n} {'entry' if n == 1 else 'entries'} kept back, listed in the summary)"


class BaselineRecorder:
    """Writes the recorded entries (and, with ``--prune``, removes unused ones) at the end."""

    def __init__(
        self, options: RunOptions, env: TargetEnv, baseline: BaselineFile, rootdir: Path
    ) -> None:
        self.options = options
        self.env = env
        self.baseline = baseline
        self.rootdir = rootdir

    def finish(
        self, seen: Observations, unused: list[str], target_version: str | None
    ) -> BaselineWrite | None:
        """Write the baseline if this run recorded anything (or prunes); None if it did not.

        Entries of checks that did not pass every phase are kept back. A failure to write is
        returned as ``error``, not raised.
        """
        if not self.options.record:
            return None
        kept, kept_back = seen.recordable()
        failed = sorted(seen.failed_tests)
        not_passed = sorted(
            {str(seen.recorded[key].get("test")) for key in kept_back} - seen.failed_tests
        )
        if not (kept or self.options.prune or kept_back or failed):
            return None
        pruned = unused if self.options.prune else []
        result = BaselineWrite(
            self.baseline.path,
            recorded=len(kept),
            pruned=pruned,
            total=None,
            kept_back=kept_back,
            failed_checks=failed,
            not_passed_checks=not_passed,
            written=False,
        )
        if not (kept or self.options.prune):
            # Nothing a passing check vouches for: the file (and its provenance) stays as is.
            return result
        provenance = Provenance(
            environment=self.env.name,
            recorded_at=utcnow(),
            target_version=target_version,
            prodval_version=__version__,
            suite_commit=suite_commit(self.rootdir),
        )
        try:
            entries = write_merged(self.baseline.path, kept, provenance, pruned)
        except ProdvalError as exc:
            return dataclasses.replace(result, recorded=0, pruned=[], error=str(exc))
        return dataclasses.replace(result, total=len(entries), written=True)


def utcnow() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
