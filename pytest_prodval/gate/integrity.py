"""The data integrity check of ``prodval-gate --deploy``: a snapshot compared, purely.

Before the deploy, the gate reads every table ``prodval.yaml`` declares under ``integrity:``
(``snapshot.py``, with the environment's read-only database role): each row's key and an MD5
digest of the declared columns, and the time the snapshot's transaction saw (the database's
clock). After the release (and again after a rollback) it reads them again, and
``compare_table`` says, for each table:

- ``missing``: keys the snapshot had and the table no longer has (lost rows);
- ``changed``: keys in both whose declared columns differ (altered rows);
- ``added``: keys the snapshot did not have, created at or after it (``created_at``): the
  documents uploaded during the deployment window, accounted for and never a difference;
- ``appeared``: keys the snapshot did not have that claim to be older than it (a restore from
  an older backup bringing back erased rows); a difference;
- ``erased``: keys the snapshot had, gone now, that the table's ``erased`` query names as
  removed on purpose since the snapshot (a GDPR erasure, a retention purge): accounted for,
  never a difference.

The row counts and checksums (SHA-256 over the sorted ``key:digest`` lines) are what the record
shows: the checksum after is taken over the rows that are not ``added``, so it equals the
snapshot's exactly when nothing is missing, changed, appeared or erased. Nothing here reads a
database.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Collection, Mapping
from typing import Any

__all__ = [
    "EXAMPLES",
    "IN_FLIGHT_S",
    "IntegrityReport",
    "TableComparison",
    "checksum",
    "compare",
    "compare_table",
]

EXAMPLES = 10  # keys named per kind of difference and table; the counts are whole
# A row inserted by a transaction that began before the snapshot's and committed after it is
# not in the snapshot, yet its created_at (now() of its transaction) is a little older: rows
# that much older than the snapshot still count as added.
IN_FLIGHT_S = 60.0


def checksum(rows: Mapping[str, str]) -> str:
    """One digest of a table's rows (key -> digest of the declared columns)."""
    digest = hashlib.sha256()
    for key in sorted(rows):
        digest.update(f"{key}:{rows[key]}\n".encode("utf-8", "surrogateescape"))
    return "sha256:" + digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class TableComparison:
    """One table, the snapshot against now."""

    rows_before: int
    rows_after: int
    checksum_before: str
    checksum_after: str  # over the rows that are not added
    added: int
    missing: tuple[str, ...]
    changed: tuple[str, ...]
    appeared: tuple[str, ...]
    erased: tuple[str, ...] = ()

    @property
    def matched(self) -> bool:
        return not (self.missing or self.changed or self.appeared)

    def difference(self, table: str) -> str | None:
        """One line naming what differs (a few keys of each kind); None when it matched."""
        if self.matched:
            return None
        parts = []
        for kind, keys in (
            ("missing", self.missing),
            ("changed", self.changed),
            ("appeared", self.appeared),
        ):
            if keys:
                shown = ", ".join(keys[:EXAMPLES]) + (", …" if len(keys) > EXAMPLES else "")
                parts.append(f"{len(keys)} {kind} ({shown})")
        return f"{table}: {'; '.join(parts)} of the snapshot's {self.rows_before} rows"

    def to_json(self) -> dict[str, Any]:
        return {
            "matched": self.matched,
            "rows_before": self.rows_before,
            "rows_after": self.rows_after,
            "checksum_before": self.checksum_before,
            "checksum_after": self.checksum_after,
            "added": self.added,
            "missing": len(self.missing),
            "changed": len(self.changed),
            "appeared": len(self.appeared),
            "erased": len(self.erased),
            "examples": {
                kind: list(keys[:EXAMPLES])
                for kind, keys in (
                    ("missing", self.missing),
                    ("changed", self.changed),
                    ("appeared", self.appeared),
                    ("erased", self.erased),
                )
                if keys
            },
        }


def compare_table(
    before: Mapping[str, str],
    after: Mapping[str, str],
    created: Mapping[str, float | None] | None,
    taken_at: float,
    erased: Collection[str] = (),
) -> TableComparison:
    """``before``/``after``: key -> digest; ``created``: key -> created_at (epoch seconds) of
    the rows now, None when the table declares no ``created_at`` (then every row the snapshot
    did not see is added); ``taken_at``: the snapshot's time, on the database's clock;
    ``erased``: keys removed on purpose since then (the table's ``erased`` query)."""
    gone = [key for key in before if key not in after]
    on_purpose = set(erased)
    missing = tuple(sorted(key for key in gone if key not in on_purpose))
    erased_rows = tuple(sorted(key for key in gone if key in on_purpose))
    changed = tuple(sorted(key for key in before if key in after and after[key] != before[key]))
    new = [key for key in after if key not in before]
    if created is None:
        appeared: tuple[str, ...] = ()
    else:
        since = taken_at - IN_FLIGHT_S
        appeared = tuple(
            sorted(key for key in new if (when := created.get(key)) is None or when < since)
        )
    seen = {key: digest for key, digest in after.items() if key in before or key in appeared}
    return TableComparison(
        rows_before=len(before),
        rows_after=len(after),
        checksum_before=checksum(before),
        checksum_after=checksum(seen),
        added=len(new) - len(appeared),
        missing=missing,
        changed=changed,
        appeared=appeared,
        erased=erased_rows,
    )


@dataclasses.dataclass(frozen=True)
class IntegrityReport:
    """Every declared table, the snapshot against now."""

    tables: Mapping[str, TableComparison]

    @property
    def matched(self) -> bool:
        return all(table.matched for table in self.tables.values())

    @property
    def differences(self) -> list[str]:
        return [line for name, table in self.tables.items() if (line := table.difference(name))]

    def to_json(self) -> dict[str, Any]:
        return {
            "matched": self.matched,
            "differences": self.differences,
            "tables": {name: table.to_json() for name, table in self.tables.items()},
        }


def compare(
    snapshot: Mapping[str, Mapping[str, str]],
    now: Mapping[str, Mapping[str, str]],
    created: Mapping[str, Mapping[str, float | None] | None],
    taken_at: float,
    erased: Mapping[str, Collection[str]] | None = None,
) -> IntegrityReport:
    """Each table of the snapshot (name -> key -> digest) against the same table now."""
    erased = erased or {}
    return IntegrityReport(
        {
            name: compare_table(
                rows, now.get(name, {}), created.get(name), taken_at, erased.get(name, ())
            )
            for name, rows in snapshot.items()
        }
    )
