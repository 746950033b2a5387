"""The outcome of one baseline comparison, rendered alike by every report writer."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Protocol

__all__ = ["Comparator", "Entry", "Status", "Verdict"]

# A baseline entry's payload as stored in the JSON file: always has "kind".
Entry = dict[str, Any]


class Status(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    RECORDED = "recorded"
    MISSING = "missing"


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What a comparison found, with the evidence a reviewer needs without opening logs.

    ``baseline``, ``target`` and ``change`` are short display strings for tables;
    ``message`` is the full, multi-line failure message; ``evidence`` is JSON-able
    (values, rule parameters, statistics) for machine-readable reports.
    """

    key: str
    kind: str
    status: Status
    rule: str
    baseline: str
    target: str
    change: str
    message: str
    evidence: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.status in (Status.FAILED, Status.MISSING)

    def failure_text(self, name: str) -> str:
        """The message as a failed check shows it: under the comparison's own ``name`` the
        first difference, then what kind of difference, and the full key last (pytest's short
        summary, JUnit and the gate's "failed:" lines keep only the start; the key repeats the
        check's node id)."""
        prefix = f"{self.key}: "
        if not self.message.startswith(prefix):
            return self.message  # a missing entry names its key in its own words
        headline, *details = self.message[len(prefix) :].split("\n")
        first = _first_difference(details)
        if first:
            # The difference itself leads: a short summary cut at the terminal's width keeps it.
            headline = f"{first.removeprefix('$: ')} — {headline}"
        return "\n".join([f"{name}: {headline}", *details, f"  key: {self.key}"])

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Verdict:
        return cls(**{**data, "status": Status(data["status"])})


class Comparator(Protocol):
    """One kind of baseline-diff assertion: records a value, or judges one against its entry."""

    kind: str

    def record(self, key: str, value: Any, **options: Any) -> tuple[Entry, Verdict]:
        """Return the entry to store for ``value`` and a RECORDED verdict."""
        ...

    def compare(self, key: str, entry: Entry, value: Any, **options: Any) -> Verdict:
        """Judge ``value`` against the stored ``entry``: PASSED or FAILED."""
        ...


_DIFFERENCES = "  differences (baseline -> target):"
_HEADLINE_DIFFERENCE = 80  # longer first differences stay below, not in the headline


def _first_difference(details: list[str]) -> str | None:
    """The first listed difference (``$.field: missing key``), for the headline; ", …" when
    there are more. Exact values list them under a heading, shapes right after the headline
    (each a JSONPath)."""
    if _DIFFERENCES in details:
        after = details[details.index(_DIFFERENCES) + 1 :]
        listed = [line.strip() for line in after if line.startswith("    ")]
    else:
        listed = [line.strip() for line in details if line.startswith("  $")]
    if not listed or len(listed[0]) > _HEADLINE_DIFFERENCE:
        return None
    return listed[0] + (", …" if len(listed) > 1 else "")
