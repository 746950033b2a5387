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
        """The message as a failed check shows it: what differs first, under the comparison's
        own ``name``, and the full key last (pytest's short summary, JUnit and the gate's
        "failed:" lines keep only the start; the key repeats the check's node id)."""
        prefix = f"{self.key}: "
        if not self.message.startswith(prefix):
            return self.message  # a missing entry names its key in its own words
        return f"{name}: {self.message[len(prefix) :]}\n  key: {self.key}"

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
