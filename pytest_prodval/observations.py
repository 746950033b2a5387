"""State of one prodval run: verdicts, recordings, test outcomes, and what to do at the end.

Each process (serial run, or each xdist worker) collects its own ``Observations``; an xdist
worker ships them to the controller as JSON, the controller merges them and is the only
process that writes the baseline and the summary.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from .baseline.store import BaselineFile
from .baseline.verdict import Entry, Verdict

__all__ = ["Observations", "unused_entries"]


@dataclasses.dataclass
class Observations:
    """What one process saw; mergeable across xdist workers."""

    verdicts: list[tuple[str, Verdict]] = dataclasses.field(default_factory=list)
    recorded: dict[str, Entry] = dataclasses.field(default_factory=dict)
    # Test keys collected before deselection (so -k/-m do not make entries look unused).
    collected_tests: set[str] = dataclasses.field(default_factory=set)
    passed_tests: set[str] = dataclasses.field(default_factory=set)
    # Test keys of checks with a failed verdict in any phase (setup, call or teardown).
    failed_tests: set[str] = dataclasses.field(default_factory=set)
    narrowed: bool = False

    def touched(self) -> set[str]:
        return {verdict.key for _, verdict in self.verdicts}

    def merge(self, other: Observations) -> None:
        self.verdicts.extend(other.verdicts)
        self.recorded.update(other.recorded)
        self.collected_tests |= other.collected_tests
        self.passed_tests |= other.passed_tests
        self.failed_tests |= other.failed_tests
        self.narrowed = self.narrowed or other.narrowed

    def passed_whole(self) -> set[str]:
        """Test keys of checks that passed every phase: only they speak for their entries."""
        return self.passed_tests - self.failed_tests

    def recordable(self) -> tuple[dict[str, Entry], list[str]]:
        """The recorded entries to write, and the keys of those kept back.

        An entry is written only when the check that recorded it (its ``test``) passed every
        phase; a check that failed, errored or was skipped after recording keeps the
        baseline's previous entries.
        """
        passed = self.passed_whole()
        kept = {key: e for key, e in self.recorded.items() if e.get("test") in passed}
        return kept, sorted(set(self.recorded) - set(kept))

    def to_json(self) -> str:
        return json.dumps(
            {
                "verdicts": [[nodeid, v.to_json()] for nodeid, v in self.verdicts],
                "recorded": self.recorded,
                "collected_tests": sorted(self.collected_tests),
                "passed_tests": sorted(self.passed_tests),
                "failed_tests": sorted(self.failed_tests),
                "narrowed": self.narrowed,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Observations:
        data: dict[str, Any] = json.loads(text)
        return cls(
            verdicts=[(nodeid, Verdict.from_json(v)) for nodeid, v in data["verdicts"]],
            recorded=data["recorded"],
            collected_tests=set(data["collected_tests"]),
            passed_tests=set(data["passed_tests"]),
            failed_tests=set(data["failed_tests"]),
            narrowed=data["narrowed"],
        )


def unused_entries(baseline: BaselineFile, seen: Observations, rootdir: Path) -> list[str]:
    """Entries that this run shows no check uses any more.

    An entry is unused when it was not compared and either its test ran and passed without
    comparing it, its test is gone from a module that was collected whole, or its module
    file is gone. Tests that failed (in any phase), were skipped or were not selected say
    nothing.
    """
    touched = seen.touched()
    passed = seen.passed_whole()
    collected_modules = {_module(test) for test in seen.collected_tests}
    unused = []
    for key, entry in baseline.entries.items():
        if key in touched:
            continue
        test = str(entry.get("test", ""))
        module = _module(test)
        if (
            test in passed
            or (
                not seen.narrowed
                and module in collected_modules
                and test not in seen.collected_tests
            )
            or (module and not (rootdir / module).exists())
        ):
            unused.append(key)
    return sorted(unused)


def _module(test: str) -> str:
    return test.split("::", 1)[0]
